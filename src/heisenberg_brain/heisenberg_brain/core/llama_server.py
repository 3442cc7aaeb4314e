"""Own a llama.cpp ``llama-server`` process: start it on loopback, wait for /health, stop it.

Used by the ``llama_server`` node (launch), the no-ROS run script and the tests, so the
server is always started the same way: one slot (``-np 1``, right for a small model on a
CPU; more for several robots), prompt cache on, bound to 127.0.0.1 unless told otherwise.
Bound to anything else it must have an API key (core/api_key.py), given to it as a file
(``--api-key-file``) or in its environment (``LLAMA_API_KEY``), never on its command line,
which any local user can read.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from heisenberg_brain.core.api_key import (
    DEFAULT_KEY_ENV, ApiKeyError, is_loopback, resolve_api_key)
from heisenberg_common.model_paths import resolve_model_path
from heisenberg_common.processes import at_niceness, die_with_parent, lower_session_priority


class LlamaServerError(RuntimeError):
    """llama-server could not be started or did not become healthy."""


class ModelFileError(LlamaServerError, ValueError):
    """The configured model file is missing, unreadable or not a GGUF: a configuration error.

    Restarting cannot heal it, unlike a crash or a port that is still taken.
    """


class ServerKeyError(LlamaServerError, ValueError):
    """No usable API key for a server bound beyond loopback: a configuration error."""


GGUF_MAGIC = b'GGUF'
LOG_TAIL_LINES = 8


def check_model_file(path: str | os.PathLike) -> None:
    """Raise ModelFileError naming the path unless it is a readable GGUF file."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f'model file not found: {path} (run scripts/setup.sh to place the registry '
                             'models in models/, or point model_path at a GGUF file)')
    if not path.is_file():
        raise ModelFileError(f'model path is not a file: {path}')
    try:
        with path.open('rb') as stream:
            magic = stream.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelFileError(f'model file unreadable: {path}: {exc.strerror or exc}') from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(f'model file is not a GGUF: {path} (it starts with {magic!r}, '
                             f'a GGUF with {GGUF_MAGIC!r})')


def describe_exit(returncode: int) -> str:
    """'crashed with SIGSEGV' for a signal, 'exited with code 1' otherwise."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f'signal {-returncode}'
        return f'crashed with {name}'
    return f'exited with code {returncode}'


@dataclasses.dataclass(frozen=True)
class LlamaServerConfig:
    """How to start llama-server."""

    binary: str = dataclasses.field(default='', metadata={
        'description': 'llama-server executable; empty = $HEISENBERG_LLAMA_SERVER, then PATH'})
    model_path: str = dataclasses.field(default='llm/SmolLM2-135M-Instruct.Q4_1.gguf', metadata={
        'description': 'GGUF file to serve: a local path, relative ones under $HEISENBERG_MODELS '
                       '(nothing is downloaded)'})
    host: str = dataclasses.field(default='127.0.0.1', metadata={
        'description': 'address(es) to bind, comma-separated; anything but loopback needs an API key '
                       '(api_key_file or api_key_env)'})
    api_key_file: str = dataclasses.field(default='', metadata={
        'description': "file of API keys, one per line (llama-server's --api-key-file); clients must "
                       "send one (Authorization: Bearer). Empty = the variable named by api_key_env"})
    api_key_env: str = dataclasses.field(default=DEFAULT_KEY_ENV, metadata={
        'description': 'environment variable holding the API key when api_key_file is empty (unset or '
                       'empty = no key, allowed on loopback only)'})
    port: int = dataclasses.field(default=8080, metadata={'description': 'TCP port; 0 = pick a free one'})
    context_size: int = dataclasses.field(default=4096, metadata={'description': 'n_ctx in tokens'})
    batch_size: int = dataclasses.field(default=512, metadata={
        'description': '--batch-size (and --ubatch-size): prompt tokens read per step. A request whose '
                       'client went away (a cancelled goal) is dropped only between steps, so this '
                       "bounds how long a long prompt nobody waits for holds the server (llama.cpp's "
                       'default 2048 held it ~7 s on 2 cores)'})
    threads: int = dataclasses.field(default=0, metadata={'description': 'CPU threads; 0 = all cores'})
    nice: int = dataclasses.field(default=10, metadata={
        'description': "the server's niceness (0-19), of its threads and of its session (the kernel's "
                       'autogroup, which ranks sessions against each other): the voice (Piper, wake word, '
                       'VAD) goes first when they share the cores, the text it is ahead with waits; '
                       '0 = as the node'})
    parallel_slots: int = dataclasses.field(default=1, metadata={
        'description': '-np: concurrent slots, one per robot sharing the server; context_size is '
                       'shared between them (each slot gets about context_size / parallel_slots)'})
    startup_timeout: float = dataclasses.field(default=60.0, metadata={
        'description': 'seconds to wait for /health to answer ok'})
    max_start_failures: int = dataclasses.field(default=3, metadata={
        'description': 'starts in a row that never became healthy before the llama_server node gives '
                       'up and exits (code 3); a server that was serving and died is always restarted'})
    cache_reuse: int = dataclasses.field(default=32, metadata={
        'description': '--cache-reuse: reuse cached chunks of at least this many tokens at new positions '
                       '(KV shifting), so a conversation whose oldest turns left the prompt is not all '
                       'evaluated again; 0 = off'})
    cache_ram_mib: int = dataclasses.field(default=256, metadata={
        'description': "bound of llama-server's host-memory prompt cache in MiB (its own default, 8 GiB, "
                       'let the process grow every turn in a soak); -1 = no limit, 0 = off'})
    jinja: bool = dataclasses.field(default=False, metadata={
        'description': "--jinja: the GGUF's own chat template, run by llama-server's Jinja engine; "
                       "needed for tool calls (the brain's llm.tools)"})
    extra_args: tuple[str, ...] = dataclasses.field(default=(), metadata={
        'description': 'further llama-server arguments'})

    def __post_init__(self):
        if not self.model_path:
            raise ValueError('model_path is empty: point it at a GGUF file')
        if not 0 <= self.port <= 65535:
            raise ValueError(f'port {self.port} is out of range')
        if self.context_size < 256:
            raise ValueError(f'context_size {self.context_size} is too small (>= 256)')
        if not 32 <= self.batch_size <= self.context_size:
            raise ValueError(f'batch_size must be in [32, context_size], got {self.batch_size}')
        if not 0 <= self.nice <= 19:
            raise ValueError(f'nice must be in 0..19, got {self.nice}')
        if self.cache_reuse < 0:
            raise ValueError(f'cache_reuse must be >= 0, got {self.cache_reuse}')
        if self.cache_ram_mib < -1:
            raise ValueError(f'cache_ram_mib must be >= -1, got {self.cache_ram_mib}')
        if self.parallel_slots < 1:
            raise ValueError('parallel_slots must be >= 1')
        if self.max_start_failures < 1:
            raise ValueError(f'max_start_failures must be >= 1, got {self.max_start_failures}')
        if self.startup_timeout <= 0:
            raise ValueError('startup_timeout must be > 0')


def find_binary(configured: str = '') -> str:
    """Return the llama-server to run, or raise with what to do about it."""
    candidates = (configured, os.environ.get('HEISENBERG_LLAMA_SERVER', ''),
                  shutil.which('llama-server') or '')
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise LlamaServerError('no llama-server found: run scripts/setup.sh (it builds one into '
                           '~/.cache/heisenberg), put llama-server on PATH, or set HEISENBERG_LLAMA_SERVER')


def free_port(host: str = '127.0.0.1') -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def get_json(url: str, timeout: float = 2.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


class LlamaServerProcess:
    """A running llama-server. Use as a context manager or call start()/stop()."""

    def __init__(self, config: LlamaServerConfig, log_path: str | os.PathLike | None = None):
        self.config = config
        self.port = config.port or free_port(config.host)
        self.log_path = Path(log_path) if log_path else None
        self._process: subprocess.Popen | None = None
        self._log = None
        self._log_start = 0

    @property
    def model_file(self) -> str:
        """The GGUF path; a relative one is looked up under $HEISENBERG_MODELS (default ./models)."""
        return str(resolve_model_path(self.config.model_path))

    @property
    def base_url(self) -> str:
        return f'http://{self.config.host}:{self.port}'

    @property
    def completion_url(self) -> str:
        return self.base_url + '/completion'

    def check_key(self) -> None:
        """Raise ServerKeyError unless the key the config names is readable, or none is needed."""
        cfg = self.config
        try:
            key = resolve_api_key(cfg.api_key_file, cfg.api_key_env)
        except ApiKeyError as exc:
            raise ServerKeyError(str(exc)) from None
        if not key and not is_loopback(cfg.host):
            raise ServerKeyError(
                f'host {cfg.host} is beyond loopback and no API key is set: anyone on that network could '
                'use the server. Set api_key_file to a file of keys, or '
                f'${cfg.api_key_env or DEFAULT_KEY_ENV} (named by api_key_env), or bind 127.0.0.1')

    def environment(self) -> dict[str, str]:
        """The server's environment: a key from a variable goes in as LLAMA_API_KEY (not in argv)."""
        env = dict(os.environ)
        env.pop('LLAMA_API_KEY', None)   # only the key this config names
        if not self.config.api_key_file:
            key = resolve_api_key('', self.config.api_key_env)
            if key:
                env['LLAMA_API_KEY'] = key
        return env

    def command(self) -> list[str]:
        cfg = self.config
        cmd = [find_binary(cfg.binary), '--model', self.model_file, '--host', cfg.host,
               '--port', str(self.port), '--ctx-size', str(cfg.context_size),
               '--batch-size', str(cfg.batch_size), '--ubatch-size', str(cfg.batch_size),
               '--parallel', str(cfg.parallel_slots), '--slots', '--metrics', '--no-webui']
        if cfg.threads > 0:
            cmd += ['--threads', str(cfg.threads)]
        cmd += ['--cache-ram', str(cfg.cache_ram_mib)]
        if cfg.api_key_file:
            cmd += ['--api-key-file', cfg.api_key_file]
        if cfg.cache_reuse > 0:
            cmd += ['--cache-reuse', str(cfg.cache_reuse)]
        if cfg.jinja:
            cmd += ['--jinja']
        return cmd + list(cfg.extra_args)

    def start(self) -> 'LlamaServerProcess':
        check_model_file(self.model_file)
        self.check_key()
        if port_in_use(self.config.host, self.port):
            # Else another server's /health would answer for ours, which dies failing to bind.
            raise LlamaServerError(f'{self.base_url} is already in use (another llama-server?): stop it, '
                                   'or choose another port (0 picks a free one)')
        command = die_with_parent(at_niceness(self.command(), self.config.nice))
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open('ab')
            self._log_start = self._log.tell()
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, env=self.environment(),
            stdout=self._log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C in a terminal reaches us, we stop it in order
        # A session of its own is ranked by its autogroup's niceness, not by its threads'.
        lower_session_priority(self._process.pid, self.config.nice)
        self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.config.startup_timeout
        last_error = 'no answer'
        while time.monotonic() < deadline:
            process = self._process
            if process is None:  # stop() was called from another thread while we waited
                raise LlamaServerError(f'llama-server at {self.base_url} was stopped while starting')
            if process.poll() is not None:
                raise LlamaServerError(self.death_message(process.returncode, 'while loading'))
            try:
                if get_json(self.base_url + '/health', timeout=1.0).get('status') == 'ok':
                    return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.stop()
        raise LlamaServerError(f'llama-server at {self.base_url} not healthy after '
                               f'{self.config.startup_timeout:.0f} s: {last_error}')

    def death_message(self, returncode: int, when: str) -> str:
        """Why the server is gone, in its own words: how it ended and the last lines of its log."""
        message = f'llama-server {describe_exit(returncode)} {when} {self.model_file}'
        tail = self.log_tail()
        if tail:
            message += f'; last log lines ({self.log_path}):\n{tail}'
        return message

    def log_tail(self) -> str:
        """The last lines this run of the server wrote to its log."""
        if self._log is not None:
            self._log.flush()
        if self.log_path is None or not self.log_path.is_file():
            return ''
        with self.log_path.open('rb') as stream:
            stream.seek(max(self._log_start, self.log_path.stat().st_size - 16384))
            text = stream.read().decode(errors='replace')
        return '\n'.join(text.splitlines()[-LOG_TAIL_LINES:])

    @property
    def returncode(self) -> int | None:
        """The exit status of a server that has ended (negative: the signal), else None."""
        return None if self._process is None else self._process.poll()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> 'LlamaServerProcess':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
