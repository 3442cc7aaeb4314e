"""Incremental decoding of llama-server's native ``/completion`` stream (``stream: true``).

The stream is Server-Sent Events (WHATWG HTML, "Parsing an event stream"): UTF-8 lines
ended by CR LF, LF or CR; ``field: value`` lines; a blank line dispatches the event;
lines starting with ``:`` are comments (llama-server sends ``:`` pings). Network reads
split the bytes anywhere, so :class:`SSEDecoder` keeps what it has not finished yet:
half a UTF-8 character, half a line, a CR whose LF may still come, an event without its
blank line.

No library on the registries offers a push-style ``feed(bytes)`` decoder (httpx-sse and
sseclient-py decode lines or pull from an iterator), so this is the small one we need.

Each event's data is one JSON object, parsed by :func:`parse_completion_chunk`:
``{"content": " Paris", "stop": false, "tokens_predicted": 1, ...}`` per token and a
final one with ``"stop": true``, ``stop_type`` (``eos`` | ``word`` | ``limit``),
``stopping_word`` and ``timings``; or ``{"error": {"code", "message", "type"}}`` when the
server fails mid-stream.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import re

from .llm_errors import LLMProtocolError, LLMServerError

_LINE_END = re.compile(r'\r\n|\r|\n')
MAX_PENDING_CHARS = 16 * 1024 * 1024  # one final chunk with n_probs is large, never this large


@dataclasses.dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its type ('message' unless the server names one), data, last id."""

    data: str
    event: str = 'message'
    id: str | None = None


class SSEDecoder:
    """Push bytes as they arrive, get back the events they complete."""

    def __init__(self):
        self._utf8 = codecs.getincrementaldecoder('utf-8')('strict')
        self._text = ''          # decoded text not yet ended by a line break
        self._data: list[str] = []
        self._event = ''
        self._last_id: str | None = None
        self._fields_seen = False  # a field line arrived since the last dispatch
        self._started = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        try:
            text = self._utf8.decode(data)
        except UnicodeDecodeError as exc:
            raise LLMProtocolError(f'event stream is not valid UTF-8: {exc}') from None
        if not self._started and text:
            self._started = True
            text = text.removeprefix('\ufeff')  # a BOM may open the stream
        self._text += text
        events = []
        for line in self._complete_lines():
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        if len(self._text) > MAX_PENDING_CHARS:
            raise LLMProtocolError(f'event stream line longer than {MAX_PENDING_CHARS} characters')
        return events

    def close(self) -> list[SSEEvent]:
        """The stream ended: return what a final CR completes; raise if it stopped inside an event."""
        try:
            self._utf8.decode(b'', final=True)
        except UnicodeDecodeError:
            raise LLMProtocolError('event stream ended inside a UTF-8 character') from None
        events = []
        if self._text.endswith('\r'):  # held back in case LF followed; at the end it ends its line
            line, self._text = self._text[:-1], ''
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        if self._text or self._fields_seen:
            shown = (self._text or '\n'.join(self._data))[:80]
            raise LLMProtocolError(f'event stream truncated inside an event: {shown!r}')
        return events

    def _complete_lines(self):
        text, start = self._text, 0
        while True:
            match = _LINE_END.search(text, start)
            # A CR as the last character may be the first half of CR LF: wait for more.
            if match is None or (match.group() == '\r' and match.end() == len(text)):
                break
            yield text[start:match.start()]
            start = match.end()
        self._text = text[start:]

    def _process_line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(':'):
            return None
        name, colon, value = line.partition(':')
        if colon and value.startswith(' '):
            value = value[1:]
        self._fields_seen = True
        if name == 'data':
            self._data.append(value)
        elif name == 'event':
            self._event = value
        elif name == 'id' and '\0' not in value:
            self._last_id = value
        # 'retry' and unknown fields are ignored, as the standard says
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event = self._data, self._event
        self._data, self._event, self._fields_seen = [], '', False
        if not data:
            return None
        return SSEEvent(data='\n'.join(data), event=event or 'message', id=self._last_id)


@dataclasses.dataclass(frozen=True)
class CompletionChunk:
    """One parsed ``/completion`` stream object."""

    content: str
    stop: bool = False
    stop_type: str = ''
    tokens_predicted: int = 0
    timings: dict = dataclasses.field(default_factory=dict)
    stopping_word: str = ''


def parse_completion_chunk(data: str) -> CompletionChunk:
    """Parse one event's data; raise LLMServerError for an error object, LLMProtocolError for junk."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise LLMProtocolError(f'malformed JSON in the completion stream: {data[:120]!r}') from None
    if not isinstance(obj, dict):
        raise LLMProtocolError(f'completion stream data is not a JSON object: {data[:120]!r}')
    if 'error' in obj:
        raise server_error(obj['error'])
    content = obj.get('content', '')
    timings = obj.get('timings') or {}
    tokens_predicted = obj.get('tokens_predicted', 0)
    if not isinstance(content, str) or not isinstance(timings, dict) \
            or not isinstance(tokens_predicted, int) or isinstance(tokens_predicted, bool):
        raise LLMProtocolError(f'unexpected field types in the completion stream: {data[:120]!r}')
    return CompletionChunk(
        content=content,
        stop=bool(obj.get('stop', False)),
        stop_type=str(obj.get('stop_type') or ''),
        tokens_predicted=tokens_predicted,
        timings=timings,
        stopping_word=str(obj.get('stopping_word') or ''))


def server_error(error) -> LLMServerError:
    """Build the exception for llama-server's error object (``{"code", "message", "type"}``)."""
    if isinstance(error, dict):
        code = error.get('code')
        return LLMServerError(str(error.get('message', error)),
                              code=code if isinstance(code, int) else None,
                              error_type=error.get('type'))
    return LLMServerError(str(error))
