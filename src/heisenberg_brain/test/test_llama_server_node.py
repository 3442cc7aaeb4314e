"""The llama_server node as a real process.

It serves /health, reports on /diagnostics over DDS, restarts a server that died, and
leaves no llama-server behind on SIGINT, nor when it is killed outright. What restarting
cannot heal ends it with the reason: a bad model file, a server that never starts.
"""

import os
import signal
import socket
import time
from pathlib import Path

import psutil
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from heisenberg_testing.stand_ins import segfaulting_llama_server
from heisenberg_testing.processes import NodeProcess, write_params

from heisenberg_brain.core.llama_server import (
    LlamaServerConfig, LlamaServerError, LlamaServerProcess, free_port, get_json)
from heisenberg_common.runner import CONFIG_EXIT_CODE, FATAL_EXIT_CODE

MODULE = 'heisenberg_brain.nodes.llama_server'


def llama_servers_on(port: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(['cmdline']):
        cmdline = process.info['cmdline'] or []
        if any('llama-server' in part for part in cmdline[:1]) and str(port) in cmdline \
                and '--port' in cmdline:
            found.append(process)
    return found


def wait_health(port: int, node: NodeProcess, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert node.alive(), node.output()
        try:
            if get_json(f'http://127.0.0.1:{port}/health', timeout=1.0).get('status') == 'ok':
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return False


class DiagnosticsListener:
    """Subscribes to /diagnostics in this test process (its own rclpy context)."""

    def __init__(self):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('diagnostics_listener', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: list[DiagnosticStatus] = []
        self.node.create_subscription(DiagnosticArray, '/diagnostics',
                                      lambda msg: self.received.extend(msg.status), 10)

    def wait_for(self, predicate, within: float) -> DiagnosticStatus | None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.1)
            for status in self.received:
                if predicate(status):
                    return status
        return None

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def values(status: DiagnosticStatus) -> dict:
    return {item.key: item.value for item in status.values}


@pytest.fixture
def diagnostics():
    listener = DiagnosticsListener()
    yield listener
    listener.close()


def start_serving(tmp_path, gguf_path) -> tuple[NodeProcess, int]:
    """The node, serving the registry GGUF on a free port, and that port."""
    port = free_port()
    params = write_params(tmp_path / 'llama_server.yaml', 'llama_server',
                          {'model_path': str(gguf_path), 'port': port, 'context_size': 1024})
    node = NodeProcess(MODULE, 'llama_server', params_files=(params,), log_dir=tmp_path)
    if not wait_health(port, node, within=90):
        node.stop()
        pytest.fail('llama-server never became healthy:\n' + node.output())
    return node, port


@pytest.mark.llm
def test_serves_restarts_and_leaves_nothing_behind(tmp_path, gguf_path, diagnostics):
    node, port = start_serving(tmp_path, gguf_path)
    try:
        ok = diagnostics.wait_for(lambda s: s.level == DiagnosticStatus.OK, within=10)
        assert ok is not None, node.output()
        assert ok.name == '/heisenberg/llama_server: llama-server'
        assert values(ok)['url'] == f'http://127.0.0.1:{port}'
        assert values(ok)['model_path'] == str(gguf_path) and values(ok)['restarts'] == '0'

        [server] = llama_servers_on(port)
        # Below the voice: every thread of the server at the configured niceness (10 by default).
        assert {os.getpriority(os.PRIO_PROCESS, thread.id) for thread in server.threads()} == {10}
        autogroup = Path(f'/proc/{server.pid}/autogroup')
        if autogroup.is_file():   # its session too, else the nice value counts only inside it
            assert autogroup.read_text().split()[-1] == '10', autogroup.read_text()
        server.kill()  # a crash: the node must notice and start a new one
        server.wait(5)
        diagnostics.received.clear()
        down = diagnostics.wait_for(lambda s: s.level == DiagnosticStatus.ERROR, within=10)
        assert down is not None and 'crashed with SIGKILL while serving' in down.message
        back = diagnostics.wait_for(lambda s: s.level == DiagnosticStatus.OK and values(s)['restarts'] == '1',
                                    within=90)
        assert back is not None, node.output()
        assert wait_health(port, node, within=10)
        [restarted] = llama_servers_on(port)
        assert restarted.pid != server.pid
    finally:
        code = node.stop(grace=15)
    assert code == 0, node.log_path.read_text()
    assert llama_servers_on(port) == [], 'llama-server left running after the node stopped'


def test_a_port_taken_is_reported_and_retried(tmp_path, gguf_path, diagnostics):
    with socket.socket() as squatter:
        squatter.bind(('127.0.0.1', 0))
        port = squatter.getsockname()[1]
        squatter.listen()
        node = NodeProcess(MODULE, 'llama_server', log_dir=tmp_path, params_files=(write_params(
            tmp_path / 'p.yaml', 'llama_server', {'model_path': str(gguf_path), 'port': port}),))
        try:
            error = diagnostics.wait_for(lambda s: s.level == DiagnosticStatus.ERROR, within=20)
            assert error is not None and 'already in use' in error.message, node.output()
            retried = diagnostics.wait_for(lambda s: values(s)['restarts'] != '0', within=10)
            assert retried is not None and node.alive()
        finally:
            code = node.stop(grace=15)
    assert code == 0, node.log_path.read_text()
    assert llama_servers_on(port) == []


def _not_a_gguf(tmp_path):
    path = tmp_path / 'weights.bin'
    path.write_bytes(b'PK\x03\x04 a zip, not a model')
    return path


@pytest.mark.parametrize('model, expected', [
    (lambda tmp_path: tmp_path / 'absent.gguf', 'model file not found'),
    (lambda tmp_path: tmp_path, 'model path is not a file'),
    (_not_a_gguf, 'model file is not a GGUF'),
], ids=['missing', 'a directory', 'not a GGUF'])
def test_a_bad_model_file_is_a_configuration_error(tmp_path, model, expected):
    # Restarting cannot heal it: the node exits at once with the config exit code and the path.
    path = model(tmp_path)
    node = NodeProcess(MODULE, 'llama_server', log_dir=tmp_path / 'logs', params_files=(write_params(
        tmp_path / 'p.yaml', 'llama_server', {'model_path': str(path), 'port': free_port()}),))
    try:
        code = node.process.wait(30)
    finally:
        node.stop()
    assert code == CONFIG_EXIT_CODE, node.output()
    assert expected in node.output() and str(path) in node.output()


def test_a_server_crashing_while_loading_is_named_with_its_signal_and_log(tmp_path):
    binary, model = segfaulting_llama_server(tmp_path)
    server = LlamaServerProcess(LlamaServerConfig(binary=str(binary), model_path=str(model), port=0,
                                                  nice=0, startup_timeout=20),
                                log_path=tmp_path / 'server.log')
    with pytest.raises(LlamaServerError) as failure:
        server.start()
    message = str(failure.value)
    assert f'llama-server crashed with SIGSEGV while loading {model}' in message
    assert f'loading model from {model}' in message   # its own last words, from its log


def test_a_server_that_never_starts_ends_the_node_with_the_reason(tmp_path, diagnostics):
    binary, model = segfaulting_llama_server(tmp_path)
    node = NodeProcess(MODULE, 'llama_server', log_dir=tmp_path / 'logs', params_files=(write_params(
        tmp_path / 'p.yaml', 'llama_server', {'binary': str(binary), 'model_path': str(model),
                                              'port': free_port(), 'max_start_failures': 2}),))
    try:
        down = diagnostics.wait_for(lambda s: s.level == DiagnosticStatus.ERROR, within=20)
        assert down is not None and 'crashed with SIGSEGV while loading' in down.message, node.output()
        code = node.process.wait(30)   # one restart after 1 s, then it gives up
    finally:
        node.stop()
    assert code == FATAL_EXIT_CODE, node.output()
    assert 'did not start in 2 tries in a row' in node.output()
    assert 'restarting llama-server in 1 s' in node.output()


@pytest.mark.llm
def test_a_node_killed_outright_takes_its_server_with_it(tmp_path, gguf_path):
    node, port = start_serving(tmp_path, gguf_path)
    try:
        [server] = llama_servers_on(port)
        os.kill(node.process.pid, signal.SIGKILL)   # no chance to stop it in order
        try:
            server.wait(10)   # the kernel's parent-death signal ends it
        except psutil.TimeoutExpired:
            pytest.fail('llama-server outlived its SIGKILLed node')
    finally:
        node.stop()
        for orphan in llama_servers_on(port):
            orphan.kill()
