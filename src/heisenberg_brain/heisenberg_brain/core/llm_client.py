"""Stream completions from llama.cpp's llama-server over its native ``/completion`` SSE API.

One :class:`LlamaClient` per node owns one aiohttp ``ClientSession``. ``stream()`` is an
async generator of :class:`Token` and, last, one :class:`Done`. Closing it early (the
consuming task cancelled, or ``aclose()``) closes the HTTP connection at once, which is
how llama-server learns to stop generating and free its slot. Consume it with
``contextlib.aclosing`` when you may ``break`` out, so the close happens then and not
whenever the generator is garbage-collected::

    async with LlamaClient(config) as client:
        async with contextlib.aclosing(client.stream(prompt)) as replies:
            async for item in replies:
                ...

Timeouts (from LLMConfig): ``connect`` for the TCP connect; ``first_token`` from the
request to the first chunk (llama-server sends its headers only with the first token,
so this covers queueing and prompt processing); ``token`` between two chunks; ``total``
for the whole reply. Connection errors while opening the stream are retried with
exponential backoff; nothing is retried once a token has arrived. A key refused by the
server (HTTP 401) is an LLMAuthError at once, never retried.

With an API key (``api_key``; core/api_key.py says where it comes from) every request
carries ``Authorization: Bearer KEY``. Completions and prefills name ``llm.slot_id`` as
``id_slot``, so a robot sharing a server keeps its prompt cache in its own slot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any, AsyncIterator, Sequence

import aiohttp

from .config import LLMConfig
from .llm_errors import (LLMAuthError, LLMConnectionError, LLMError, LLMHTTPError, LLMProtocolError,
                         LLMServerError, LLMTimeoutError)
from .sse import CompletionChunk, SSEDecoder, SSEEvent, parse_completion_chunk, server_error

__all__ = ['LlamaClient', 'Token', 'Done', 'ToolCall', 'LLMError', 'LLMConnectionError', 'LLMTimeoutError',
           'LLMHTTPError', 'LLMAuthError', 'LLMProtocolError', 'LLMServerError']

# llama-server's stop_type -> our finish reason ('limit' = n_predict or context exhausted)
_FINISH_REASONS = {'limit': 'length', 'eos': 'stop', 'word': 'stop', 'none': 'stop', '': 'stop'}


@dataclasses.dataclass(frozen=True)
class Token:
    """A piece of generated text (one server chunk; usually one token), numbered from 0."""

    text: str
    index: int


@dataclasses.dataclass(frozen=True)
class Done:
    """The reply ended normally."""

    finish_reason: str          # 'stop' | 'length'
    token_count: int            # tokens the server generated
    timings: dict               # llama-server's own timings (prompt_ms, predicted_per_second, ...)
    time_to_first_token: float  # seconds from request to the first text (or to the end, if none)
    tool_calls: tuple['ToolCall', ...] = ()   # chat_stream: the calls the model made instead of answering


@dataclasses.dataclass(frozen=True)
class ToolCall:
    """A function call as the model wrote it: the name and the arguments (JSON text or a mapping)."""

    name: str
    arguments: Any = '{}'


CHAT_PATH = '/v1/chat/completions'
LOADING_POLL = 0.25  # seconds between tries while llama-server answers 503 (loading the model)


class _Deadlines:
    """Which timeout applies to the next wait, and when it expires (monotonic seconds)."""

    def __init__(self, config: LLMConfig):
        self.config = config
        self.started = time.monotonic()
        self.total_at = self.started + config.total_timeout
        self.first_token_at = self.started + config.first_token_timeout
        self.got_chunk = False
        self.last_chunk = self.started

    def chunk_arrived(self) -> None:
        self.got_chunk = True
        self.last_chunk = time.monotonic()

    def next_wait(self) -> tuple[str, float, float]:
        """(which, deadline, configured seconds) for the wait about to start."""
        if self.got_chunk:
            # The gap is measured from when we start waiting, so a slow consumer is not a stall.
            seconds = self.config.token_timeout
            which, at = 'token', time.monotonic() + seconds
        else:
            which, at, seconds = 'first_token', self.first_token_at, self.config.first_token_timeout
        if self.total_at <= at:
            return 'total', self.total_at, self.config.total_timeout
        return which, at, seconds


class LlamaClient:
    """A llama-server client; one per node. ``async with LlamaClient(cfg) as c`` or start()/close()."""

    def __init__(self, config: LLMConfig, api_key: str = ''):
        self.config = config
        self.endpoint = config.endpoint
        self._api_key = api_key
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.config.connect_timeout)
            headers = {'Authorization': f'Bearer {self._api_key}'} if self._api_key else None
            self._session = aiohttp.ClientSession(timeout=timeout, headers=headers)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> 'LlamaClient':
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    # -- streaming ---------------------------------------------------------------------

    def completion_body(self, prompt: str, *, max_tokens: int | None = None, temperature: float | None = None,
                        seed: int | None = None, stop: Sequence[str] = ()) -> dict:
        """The JSON body stream() posts (the config's values unless overridden)."""
        stops = list(dict.fromkeys((*self.config.stop, *stop)))
        return {
            'prompt': prompt,
            'stream': True,
            'cache_prompt': True,  # follow-up turns reuse the KV cache of the shared prefix
            'id_slot': self.config.slot_id,
            'n_predict': self.config.max_tokens if max_tokens is None else max_tokens,
            'temperature': self.config.temperature if temperature is None else temperature,
            'seed': self.config.seed if seed is None else seed,
            'stop': stops,
        }

    async def stream(self, prompt: str, *, max_tokens: int | None = None, temperature: float | None = None,
                     seed: int | None = None, stop: Sequence[str] = ()) -> AsyncIterator[Token | Done]:
        """Yield a Token per non-empty text delta, then one Done. Raises an LLMError subclass."""
        body = self.completion_body(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed,
                                    stop=stop)
        deadlines = _Deadlines(self.config)
        response = await self._open_stream(body, deadlines)
        finished = False
        try:
            decoder = SSEDecoder()
            index = 0
            first_token_at = None
            while True:
                events, ended = await self._read_events(response, decoder, deadlines, tokens_so_far=index)
                for event in events:
                    chunk = _completion_chunk(event)
                    if chunk is None:
                        continue
                    deadlines.chunk_arrived()
                    if chunk.content:
                        if first_token_at is None:
                            first_token_at = time.monotonic()
                        yield Token(chunk.content, index)
                        index += 1
                    if chunk.stop:
                        ttft = (first_token_at or time.monotonic()) - deadlines.started
                        done = Done(_FINISH_REASONS.get(chunk.stop_type, 'stop'), chunk.tokens_predicted,
                                    chunk.timings, ttft)
                        # Let go of the connection before handing over Done: the consumer
                        # may never resume us.
                        finished = True
                        response.release()
                        yield done
                        return
                if ended:
                    raise LLMProtocolError(f'llama-server at {self.endpoint} ended the stream after '
                                           f'{index} tokens without a final chunk')
        finally:
            if not finished:
                # Cancelled, closed early or failed: drop the connection so the server stops.
                response.close()

    async def chat_stream(self, messages: Sequence[dict], tools: Sequence[dict], *,
                          max_tokens: int | None = None, temperature: float | None = None,
                          seed: int | None = None) -> AsyncIterator[Token | Done]:
        """/v1/chat/completions with tools (server needs --jinja): Tokens of the answer, then one Done.

        The model's tool calls, if it made any, are in Done.tool_calls (their arguments as JSON
        text, assembled from the streamed pieces). Same timeouts and closing rules as stream().
        """
        body = {'messages': list(messages), 'tools': list(tools), 'stream': True, 'cache_prompt': True,
                'max_tokens': self.config.max_tokens if max_tokens is None else max_tokens,
                'temperature': self.config.temperature if temperature is None else temperature,
                'seed': self.config.seed if seed is None else seed}
        deadlines = _Deadlines(self.config)
        response = await self._open_stream(body, deadlines, self.config.base_url + CHAT_PATH)
        try:
            decoder = SSEDecoder()
            index, first_token_at, finish, usage, timings = 0, None, '', {}, {}
            calls: dict[int, dict] = {}
            while True:
                events, ended = await self._read_events(response, decoder, deadlines, tokens_so_far=index)
                for event in events:
                    if event.event == 'error':
                        raise _event_error(event.data)
                    if event.data == '[DONE]':
                        ended = True
                        break
                    chunk = _json_or_none(event.data)
                    if not isinstance(chunk, dict):
                        raise LLMProtocolError(f'llama-server sent a chat chunk that is not a JSON object: '
                                               f'{event.data[:200]!r}')
                    if 'error' in chunk:
                        raise server_error(chunk['error'])
                    deadlines.chunk_arrived()
                    usage = chunk.get('usage') or usage
                    timings = chunk.get('timings') or timings
                    for choice in chunk.get('choices') or ():
                        delta = choice.get('delta') or {}
                        for piece in delta.get('tool_calls') or ():
                            call = calls.setdefault(piece.get('index', 0), {'name': '', 'arguments': ''})
                            function = piece.get('function') or {}
                            call['name'] += function.get('name') or ''
                            call['arguments'] += function.get('arguments') or ''
                        if delta.get('content'):
                            if first_token_at is None:
                                first_token_at = time.monotonic()
                            yield Token(delta['content'], index)
                            index += 1
                        finish = choice.get('finish_reason') or finish
                if ended:
                    if not finish:
                        raise LLMProtocolError(f'llama-server at {self.config.base_url}{CHAT_PATH} ended the '
                                               f'stream after {index} tokens without a finish reason')
                    ttft = (first_token_at or time.monotonic()) - deadlines.started
                    response.close()   # the consumer may never resume us after Done
                    yield Done('length' if finish == 'length' else 'stop',
                               int(usage.get('completion_tokens') or index), timings, ttft,
                               tuple(ToolCall(c['name'], c['arguments']) for _, c in sorted(calls.items())))
                    return
        finally:
            response.close()   # cancelled, closed early or failed: the server stops generating

    async def _open_stream(self, body: dict, deadlines: _Deadlines, url: str = '') -> aiohttp.ClientResponse:
        """POST the request and wait for the response headers, retrying connection errors.

        A server still loading its model (HTTP 503, as after a restart) is waited for within the
        first-token timeout: it will answer, and failing at once would lose the question.
        """
        attempt = 0
        while True:
            try:
                return await self._post_stream(body, deadlines, url)
            except LLMHTTPError as exc:
                if exc.status != 503 or time.monotonic() + LOADING_POLL >= deadlines.first_token_at:
                    raise
                await asyncio.sleep(LOADING_POLL)
            except LLMConnectionError:
                if attempt >= self.config.retries:
                    raise
                delay = self.config.retry_backoff * 2 ** attempt
                attempt += 1
                if time.monotonic() + delay >= deadlines.first_token_at:
                    raise
                await asyncio.sleep(delay)

    async def _post_stream(self, body: dict, deadlines: _Deadlines, url: str = '') -> aiohttp.ClientResponse:
        which, at, seconds = deadlines.next_wait()
        session = self._require_session()
        try:
            async with asyncio.timeout_at(at):
                response = await session.post(url or self.endpoint, json=body)
        except aiohttp.ServerTimeoutError:  # only sock_connect is set on the session
            raise LLMTimeoutError('connect', self.config.connect_timeout, self.endpoint) from None
        except TimeoutError:
            raise LLMTimeoutError(which, seconds, self.endpoint) from None
        except aiohttp.ClientConnectionError as exc:
            raise LLMConnectionError(self.endpoint, _reason(exc)) from None
        if response.status != 200:
            try:
                message = await _error_message(response)
            finally:
                response.close()
            raise self._http_error(response.status, message, self.endpoint)
        return response

    async def _read_events(self, response, decoder: SSEDecoder, deadlines: _Deadlines, tokens_so_far: int):
        """Wait for the next network read: (the events it completed, whether the stream ended)."""
        which, at, seconds = deadlines.next_wait()
        try:
            async with asyncio.timeout_at(at):
                data = await response.content.readany()
        except TimeoutError:
            raise LLMTimeoutError(which, seconds, self.endpoint) from None
        except aiohttp.ClientError as exc:
            raise LLMConnectionError(self.endpoint, f'stream broke after {tokens_so_far} tokens: '
                                     f'{_reason(exc)}', hint=False) from None
        if data:
            return decoder.feed(data), False
        return decoder.close(), True

    # -- small requests ----------------------------------------------------------------

    async def prefill(self, prompt: str) -> int:
        """Have llama-server read prompt into its cache, generating nothing; the tokens it read.

        The next request that starts with prompt then only pays for what follows it.
        """
        body = {'prompt': prompt, 'n_predict': 0, 'cache_prompt': True, 'stream': False,
                'id_slot': self.config.slot_id}
        reply = await self._request('POST', '/completion', body)
        return int((reply.get('timings') or {}).get('prompt_n', 0))

    async def tokenize(self, text: str) -> list[int]:
        reply = await self._request('POST', '/tokenize', {'content': text}, wait_loading=True)
        return list(reply['tokens'])

    async def count_tokens(self, text: str) -> int:
        return len(await self.tokenize(text))

    async def context_size(self) -> int:
        """The slot's context in tokens (/props, else /slots)."""
        props = await self._request('GET', '/props', wait_loading=True)
        n_ctx = (props.get('default_generation_settings') or {}).get('n_ctx')
        if not n_ctx:
            slots = await self.slots()
            n_ctx = slots[0].get('n_ctx') if slots else None
        if not isinstance(n_ctx, int) or n_ctx <= 0:
            raise LLMProtocolError(f'llama-server at {self.config.base_url} did not report n_ctx')
        return n_ctx

    async def props(self) -> dict:
        """What llama-server says of itself and its model (chat_template, chat_template_caps, ...)."""
        return await self._request('GET', '/props', wait_loading=True)

    async def apply_template(self, messages: list[dict], tools: Sequence[dict] | None = None) -> str:
        """The model's own chat template applied by the server to [{'role', 'content'}, ...].

        With tools (the server needs --jinja), the prompt chat_stream() would make: tools included.
        """
        body: dict[str, Any] = {'messages': list(messages)}
        if tools:
            body['tools'] = list(tools)
        reply = await self._request('POST', '/apply-template', body, wait_loading=True)
        return reply['prompt']

    async def health(self) -> bool:
        """True when the server answers /health with status ok (False while loading or down)."""
        try:
            reply = await self._request('GET', '/health')
        except LLMError:
            return False
        return reply.get('status') == 'ok'

    async def slots(self) -> list[dict]:
        """Each slot's state as llama-server reports it (needs --slots; LlamaServerProcess passes it)."""
        return list(await self._request('GET', '/slots'))

    async def _request(self, method: str, path: str, body: dict | None = None, wait_loading: bool = False):
        """One small request; with wait_loading, HTTP 503 (loading) is retried within first_token_timeout.

        A connection error is tried once more at once: a pooled keep-alive connection the server
        has closed fails on reuse ("Can not write request body") while the server is fine.
        """
        deadline = time.monotonic() + self.config.first_token_timeout
        reconnected = False
        while True:
            try:
                return await self._request_once(method, path, body)
            except LLMConnectionError:
                if reconnected:
                    raise
                reconnected = True
            except LLMHTTPError as exc:
                if not wait_loading or exc.status != 503 or time.monotonic() + LOADING_POLL >= deadline:
                    raise
                await asyncio.sleep(LOADING_POLL)

    async def _request_once(self, method: str, path: str, body: dict | None):
        url = self.config.base_url + path
        session = self._require_session()
        try:
            async with asyncio.timeout(self.config.total_timeout):
                async with session.request(method, url, json=body) as response:
                    if response.status != 200:
                        raise self._http_error(response.status, await _error_message(response), url)
                    return await response.json(content_type=None)
        except aiohttp.ServerTimeoutError:
            raise LLMTimeoutError('connect', self.config.connect_timeout, url) from None
        except TimeoutError:
            raise LLMTimeoutError('total', self.config.total_timeout, url) from None
        except aiohttp.ClientConnectionError as exc:
            raise LLMConnectionError(url, _reason(exc)) from None
        except ValueError as exc:  # a body that is not JSON
            raise LLMProtocolError(f'{url} answered with something that is not JSON: {exc}') from None

    def _http_error(self, status: int, message: str, url: str) -> LLMHTTPError:
        if status == 401:
            return LLMAuthError(message, url, sent_key=bool(self._api_key))
        return LLMHTTPError(status, message, url)

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError('LlamaClient is not started: await client.start() or use "async with"')
        return self._session


async def _error_message(response: aiohttp.ClientResponse) -> str:
    """llama-server's own message from ``{"error": {"message": ...}}``, else the body text."""
    text = await response.text(errors='replace')
    try:
        return server_error(_json_or_none(text)['error']).message
    except (TypeError, KeyError):
        return text.strip()[:500] or response.reason or 'no message'


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _completion_chunk(event: SSEEvent) -> CompletionChunk | None:
    """The event's completion chunk; None for events that carry none."""
    if event.event == 'error':
        raise _event_error(event.data)
    if event.data == '[DONE]':  # the OpenAI-style end marker; /completion does not send it
        return None
    return parse_completion_chunk(event.data)


def _event_error(data: str) -> LLMServerError:
    obj = _json_or_none(data)
    if isinstance(obj, dict):
        return server_error(obj.get('error', obj))
    return LLMServerError(data)


def _reason(exc: Exception) -> str:
    """A short cause for an aiohttp connection error."""
    if isinstance(getattr(exc, 'os_error', None), ConnectionRefusedError):
        return 'connection refused'
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return 'the server closed the connection'
    return str(exc) or type(exc).__name__
