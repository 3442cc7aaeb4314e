"""What can go wrong talking to llama-server, as one exception family.

Kept apart from the client so the SSE parser can raise the protocol and server errors
without importing aiohttp. Catch ``LLMError`` for "the reply failed"; the subclasses say
why, and their messages say what to do about it.
"""

from __future__ import annotations

from urllib.parse import urlparse

START_HINT = ('start it with scripts/setup.sh and the llama_server node '
              '(ros2 run heisenberg_brain llama_server), or run '
              '`llama-server -m MODEL.gguf --host 127.0.0.1 --port {port}`')


class LLMError(RuntimeError):
    """A request to llama-server failed."""


class LLMConnectionError(LLMError):
    """llama-server could not be reached, or the connection broke mid-reply."""

    def __init__(self, endpoint: str, reason: str, hint: bool = True):
        self.endpoint = endpoint
        self.reason = reason
        message = f'cannot talk to llama-server at {endpoint}: {reason}'
        if hint:
            message += '; is it running? ' + START_HINT.format(port=_port_of(endpoint))
        super().__init__(message)


class LLMTimeoutError(LLMError):
    """One of the configured timeouts fired; ``which`` says which one."""

    WHICH = ('connect', 'first_token', 'token', 'total')

    def __init__(self, which: str, seconds: float, endpoint: str):
        if which not in self.WHICH:
            raise ValueError(f'unknown timeout {which!r}')
        self.which = which
        self.seconds = seconds
        self.endpoint = endpoint
        what = {'connect': 'could not connect',
                'first_token': 'no first token',
                'token': 'no next token',
                'total': 'reply not complete'}[which]
        super().__init__(f'llama-server at {endpoint}: {what} within {seconds:g} s '
                         f'(llm.{which}_timeout)')


class LLMHTTPError(LLMError):
    """llama-server answered with an HTTP error status; ``message`` is its own."""

    def __init__(self, status: int, message: str, endpoint: str = ''):
        self.status = status
        self.message = message
        self.endpoint = endpoint
        where = f' at {endpoint}' if endpoint else ''
        super().__init__(f'llama-server{where} answered HTTP {status}: {message}')


class LLMAuthError(LLMHTTPError):
    """llama-server refused the request's API key (HTTP 401): a configuration to fix, never retried."""

    def __init__(self, message: str, endpoint: str = '', sent_key: bool = True):
        self.status, self.message, self.endpoint = 401, message, endpoint
        what = 'refused the API key' if sent_key else 'wants an API key and none was sent'
        LLMError.__init__(self, f'llama-server at {endpoint} {what} (HTTP 401: {message}): give the brain '
                                "the server's key in the file named by llm.api_key_file or the variable "
                                'named by llm.api_key_env')


class LLMProtocolError(LLMError):
    """The stream was not the SSE / JSON that llama-server sends (malformed or truncated)."""


class EmptyAnswerError(LLMError):
    """The completion ended without a word: never a successful reply."""

    def __init__(self, finish_reason: str, token_count: int):
        self.finish_reason = finish_reason
        self.token_count = token_count
        super().__init__(f'llama-server returned an empty answer ({token_count} token(s), finish '
                         f'reason {finish_reason or "none"})')


class LLMServerError(LLMError):
    """llama-server reported an error inside the stream (``{"error": {...}}``)."""

    def __init__(self, message: str, code: int | None = None, error_type: str | None = None):
        self.message = message
        self.code = code
        self.error_type = error_type
        detail = ', '.join(str(part) for part in (code, error_type) if part is not None)
        super().__init__(f'llama-server error{f" ({detail})" if detail else ""}: {message}')


def explain(error: Exception, server_down_report: str = '') -> str:
    """The error's message, naming the cause the llama_server node saw when it reports the server down.

    A refused connection alone sends the user the wrong way ("is it running?") when the
    server is in fact crashing on start: the node's own report (a signal, an exit code, the
    last lines of its log) is what to act on.
    """
    if isinstance(error, LLMConnectionError) and server_down_report:
        return (f'llama-server is down: {server_down_report} '
                f'(the brain could not reach {error.endpoint}: {error.reason})')
    return str(error)


def _port_of(endpoint: str) -> str:
    try:
        port = urlparse(endpoint).port
    except ValueError:
        port = None
    return str(port) if port else 'PORT'
