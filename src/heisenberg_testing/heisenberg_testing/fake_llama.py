r"""A scripted stand-in for llama-server's ``/completion`` SSE stream, for fault injection only.

It exists only to inject faults a real llama-server cannot be made to show on demand:
a stall before or after N tokens, malformed JSON, an event cut off mid-way, a dropped
connection, an in-stream ``{"error": ...}``, HTTP 500/503 with llama-server's error JSON,
slow tokens. Everything a real server can show (tokens, stop reasons, cancel, tokenize,
templates) is tested against the real llama-server instead.

It runs aiohttp.web on 127.0.0.1 (a free port) in a thread with its own event loop::

    with FakeLlama() as fake:
        fake.script(fault='stall', at=2)
        ... LLMConfig(endpoint=fake.completion_url) ...
        assert fake.wait_idle()  # every stream it served has ended

Wire format as llama-server's (``data: {json}\n\n`` per token, a final chunk with
``"stop": true``, ``stop_type``, ``timings``; errors as ``{"error": {"code", "message",
"type"}}``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

from aiohttp import web

FAULTS = ('none', 'stall', 'malformed', 'truncate', 'drop', 'error_event', 'http_error', 'slow',
          'drop_before_headers', 'no_final')


@dataclasses.dataclass
class Script:
    """What the next requests get: `fault` happens before token index `at` is sent."""

    tokens: tuple[str, ...] = ('Hello', ',', ' world', '.')
    fault: str = 'none'
    at: int = 0
    status: int = 500          # for http_error
    delay: float = 0.0         # for slow: seconds before each token
    times: int | None = None   # the fault applies to this many requests, then 'none'

    def __post_init__(self):
        if self.fault not in FAULTS:
            raise ValueError(f'unknown fault {self.fault!r}; one of {FAULTS}')


class FakeLlama:
    """The scripted server; see the module docstring."""

    def __init__(self):
        self._script = Script()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name='fake-llama', daemon=True)
        self._runner: web.AppRunner | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.requests: list[dict] = []   # streamed completions
        self.prefills = 0
        self.active_streams = 0
        self.closed_by_client = 0

    @property
    def base_url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def completion_url(self) -> str:
        return self.base_url + '/completion'

    def script(self, **fields) -> None:
        with self._lock:
            self._script = Script(**fields)

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """True once no stream handler is running (the client let go of every connection)."""
        future = asyncio.run_coroutine_threadsafe(self._wait_idle(timeout), self._loop)
        return future.result(timeout + 1)

    def start(self) -> 'FakeLlama':
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> 'FakeLlama':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post('/completion', self._completion)
        app.router.add_get('/health', self._health)
        # handler_cancellation: a client that goes away cancels its handler, as in llama-server
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _wait_idle(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.active_streams and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return self.active_streams == 0

    def _next_script(self) -> Script:
        with self._lock:
            script = self._script
            if script.times is not None:
                script.times -= 1
                if script.times <= 0:
                    self._script = dataclasses.replace(script, fault='none', times=None)
            return script

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({'status': 'ok'})

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if not body.get('stream', False):
            # A prefill (the brain reading a prompt ahead into the cache): not what faults are
            # scripted for, so it takes no script and is answered as llama-server would.
            self.prefills += 1
            return web.json_response({'content': '', 'stop': True, 'timings': {'prompt_n': 0}})
        self.requests.append(body)
        script = self._next_script()
        if script.fault == 'http_error':
            error_type = 'unavailable_error' if script.status == 503 else 'server_error'
            message = 'Loading model' if script.status == 503 else 'scripted failure'
            error = {'code': script.status, 'message': message, 'type': error_type}
            return web.json_response({'error': error}, status=script.status)
        if script.fault == 'drop_before_headers':
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        self.active_streams += 1
        try:
            return await self._stream(request, script)
        except asyncio.CancelledError:
            self.closed_by_client += 1
            raise
        finally:
            self.active_streams -= 1

    async def _stream(self, request: web.Request, script: Script) -> web.StreamResponse:
        response = web.StreamResponse(headers={'Content-Type': 'text/event-stream'})
        await response.prepare(request)
        for index, text in enumerate(script.tokens):
            if index == script.at and await self._fault(request, response, script):
                return response
            if script.fault == 'slow':
                await asyncio.sleep(script.delay)
            await response.write(_event({'index': 0, 'content': text, 'stop': False,
                                         'tokens_predicted': index + 1}))
        if script.at >= len(script.tokens) and await self._fault(request, response, script):
            return response
        if script.fault != 'no_final':
            await response.write(_event({'index': 0, 'content': '', 'stop': True, 'stop_type': 'eos',
                                         'stopping_word': '', 'tokens_predicted': len(script.tokens),
                                         'timings': {'predicted_n': len(script.tokens)}}))
        await response.write_eof()
        return response

    async def _fault(self, request, response, script: Script) -> bool:
        """Inject the scripted fault; True when the stream ends here."""
        if script.fault == 'stall':
            await asyncio.sleep(3600)  # until the client hangs up (the handler is cancelled)
        elif script.fault == 'malformed':
            await response.write(b'data: {"index":0,"content":"oops",\n\n')
        elif script.fault == 'truncate':
            await response.write(b'data: {"index":0,"content":"cut')
            await response.write_eof()
            return True
        elif script.fault == 'drop':
            request.transport.abort()
            return True
        elif script.fault == 'error_event':
            await response.write(_event({'error': {'code': 500, 'message': 'scripted in-stream failure',
                                                   'type': 'server_error'}}))
            await response.write_eof()
            return True
        return False


def _event(obj: dict) -> bytes:
    return b'data: ' + json.dumps(obj).encode() + b'\n\n'
