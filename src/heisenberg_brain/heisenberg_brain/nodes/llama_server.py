"""llama_server: run llama.cpp's llama-server for the graph, keep it up, report its health.

Parameters are LlamaServerConfig's fields (``model_path``, ``port``, ``context_size``, ...).
A supervisor thread starts the server (waiting for /health), restarts it with
exponential backoff when it dies, and the node publishes its state on /diagnostics
(OK serving, WARN starting, ERROR down) with the model path, URL, restart count and, when
it is down, why (a signal or an exit code, and the last lines of its log).
Stopping the node (Ctrl-C, launch shutdown) stops the server: nothing is left running.

What restarting cannot heal ends the node instead, so a launch or the run script stops
with the reason: a missing, unreadable or non-GGUF model file, or a host beyond loopback
without a readable API key (exit code 2, like any rejected parameter), and a server that
never came up in ``max_start_failures`` tries in a row (exit code 3), e.g. one that crashes
while loading the model on this CPU.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from rclpy.logging import get_logging_directory
from rclpy.node import Node

import rclpy

from heisenberg_brain.core.llama_server import (
    LlamaServerConfig, LlamaServerError, LlamaServerProcess, ModelFileError, ServerKeyError,
    check_model_file)
from heisenberg_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config
from heisenberg_common.runner import FATAL_EXIT_CODE, run_node

RESTART_DELAY_FIRST = 1.0   # seconds before the first restart, doubled after each failure
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0         # a server that stayed up this long resets the delay
_LEVELS = {'ok': OK, 'starting': WARN, 'error': ERROR}


class LlamaServerNode(Node):

    def __init__(self):
        super().__init__('llama_server')
        self.config = declare_config(self, LlamaServerConfig)
        self.exit_code = 0
        self._server = LlamaServerProcess(self.config, log_path=self._log_path())
        try:
            check_model_file(self._server.model_file)
        except ModelFileError as exc:
            raise ConfigError(f'{self.get_name()}: model_path: {exc}') from None
        try:
            self._server.check_key()
        except ServerKeyError as exc:
            raise ConfigError(f'{self.get_name()}: {exc}') from None
        self._diagnostics = DiagnosticsPublisher(self, 'llama-server', hardware_id='llama-server')
        self._lock = threading.Lock()
        self._state, self._message, self._restarts = 'starting', 'starting llama-server', 0
        self._stop = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name='llama-server-supervisor',
                                            daemon=True)
        self._supervisor.start()
        self.create_timer(1.0, self._publish_diagnostics)

    def close(self) -> None:
        self._stop.set()
        self._server.stop()  # also ends a start() that is still waiting for /health
        self._supervisor.join(self.config.startup_timeout + 10.0)
        self._server.stop()  # in case a start raced with the first stop

    # ------------------------------------------------------------------ supervision

    def _supervise(self) -> None:
        delay = RESTART_DELAY_FIRST
        failed_starts = 0
        while not self._stop.is_set():
            up_since = self._run_once()
            if self._stop.is_set():
                break
            failed_starts = 0 if up_since is not None else failed_starts + 1
            if failed_starts >= self.config.max_start_failures:
                self._give_up(failed_starts)
                break
            if up_since is not None and time.monotonic() - up_since > STABLE_AFTER:
                delay = RESTART_DELAY_FIRST
            self.get_logger().warning(f'restarting llama-server in {delay:g} s')
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, RESTART_DELAY_MAX)
            with self._lock:
                self._restarts += 1
        self._server.stop()

    def _run_once(self) -> float | None:
        """Start the server and watch it until it dies; return when it came up (None if it did not)."""
        self._report('starting', f'starting llama-server on {self._server.base_url}')
        try:
            self._server.start()
        except LlamaServerError as exc:
            self._server.stop()  # reap a process that died while starting, close its log
            if not self._stop.is_set():
                self.get_logger().error(str(exc))
                self._report('error', str(exc))
            return None
        up_since = time.monotonic()
        self.get_logger().info(f'llama-server serving {self.config.model_path} at {self._server.base_url}')
        self._report('ok', 'serving')
        while not self._stop.wait(0.2) and self._server.running():
            pass
        if not self._stop.is_set():
            message = self._server.death_message(self._server.returncode, 'while serving')
            self.get_logger().error(message)
            self._report('error', message)
            self._server.stop()  # reap it and close its log
        return up_since

    def _give_up(self, tries: int) -> None:
        """End the node: a server that never came up will not come up by itself."""
        with self._lock:
            reason = self._message
        message = (f'llama-server did not start in {tries} tries in a row; giving up. '
                   f'Last failure: {reason}')
        self.get_logger().fatal(message)
        self._report('error', message)
        self.exit_code = FATAL_EXIT_CODE
        rclpy.try_shutdown(context=self.context)  # ends the spin: main() returns exit_code

    def _report(self, state: str, message: str) -> None:
        with self._lock:
            self._state, self._message = state, message
        self._publish_diagnostics()

    # ------------------------------------------------------------------ diagnostics

    def _publish_diagnostics(self) -> None:
        with self._lock:
            state, message, restarts = self._state, self._message, self._restarts
        self._diagnostics.publish(_LEVELS[state], message, {
            'state': state, 'model_path': self.config.model_path, 'url': self._server.base_url,
            'restarts': restarts, 'log': self._server.log_path})

    def _log_path(self) -> Path:
        port = self.config.port or 'auto'
        return Path(get_logging_directory()) / f'llama-server-{self.get_name()}-{port}.log'


def main(args=None):
    return run_node(LlamaServerNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
