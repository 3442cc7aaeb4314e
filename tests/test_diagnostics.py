"""The operator's view: /diagnostics from every node of the running graph.

The whole graph as the README runs it (heisenberg_bringup.graph, config/assistant.yaml),
capture playing a quiet room from a file. Each node reports one status named the way
diagnostic_updater names them, '/heisenberg/<node>: <task>'; the brain's says whether
llama-server is reachable, its state, turns, errors and the last voice-to-voice latency,
and goes ERROR while llama-server is down and OK again once it is back.
"""

from __future__ import annotations

import math
import signal
import time

import psutil
import pytest
from diagnostic_msgs.msg import DiagnosticStatus

from heisenberg_brain.core.llama_server import free_port
from heisenberg_bringup.graph import Graph
from heisenberg_bringup.monitor import GraphMonitor
from heisenberg_testing.speech import silence, write_wav
from heisenberg_testing.graph_params import graph_overrides
from test_e2e_voice import ROOT_CONFIG, Assistant

pytestmark = [pytest.mark.llm, pytest.mark.models]

TASKS = {'llama_server': 'llama-server', 'capture': 'audio capture', 'wake_word': 'wake word',
         'stt': 'speech-to-text', 'brain': 'brain', 'tts': 'text-to-speech'}
HEALTH_PERIOD = 0.5
BRAIN_VALUES = ('llm_endpoint', 'llm_reachable', 'state', 'turns', 'errors', 'cancelled', 'last_error',
                'last_voice_to_voice_s', 'prompts_trimmed', 'llama_server_report')


@pytest.fixture(scope='module')
def assistant(tmp_path_factory, speech):
    tmp = tmp_path_factory.mktemp('diagnostics')
    port = free_port()
    quiet = write_wav(tmp / 'quiet.wav', silence(0.5))
    overrides = graph_overrides(port, {'source': 'file', 'file_path': str(quiet), 'pad_silence': True},
                                brain={'llm.max_tokens': 48, 'health_period': HEALTH_PERIOD},
                                tts={'record_dir': str(tmp / 'replies')})
    graph = Graph(ROOT_CONFIG, tmp / 'logs', overrides)
    monitor = GraphMonitor()
    try:
        graph.start()
        assert monitor.wait_ready(tuple(TASKS), timeout=180, poll=graph.poll), f'not ready; logs in {tmp}'
        yield Assistant(graph, monitor, speech, tmp, tmp / 'replies')
    finally:
        monitor.close()
        graph.stop()


def latest(monitor: GraphMonitor, name: str, since: float = 0.0) -> DiagnosticStatus | None:
    statuses = [s for array in monitor.of('diagnostics', since) for s in array.status if s.name == name]
    return statuses[-1] if statuses else None


def values(status: DiagnosticStatus) -> dict[str, str]:
    """Key -> value, keys spelt with spaces (the nodes write 'audio flowing' or 'audio_flowing')."""
    return {kv.key.replace('_', ' '): kv.value.lower() for kv in status.values}


def brain_status(monitor: GraphMonitor, since: float = 0.0) -> DiagnosticStatus | None:
    return latest(monitor, '/heisenberg/brain: brain', since)


def test_every_node_reports_under_its_name_with_what_an_operator_needs(assistant):
    monitor = assistant.monitor
    since = time.monotonic()

    def all_reported():
        return all(latest(monitor, f'/heisenberg/{node}: {task}', since) for node, task in TASKS.items())
    assert monitor.wait_for(all_reported, 30, poll=assistant.graph.poll), \
        sorted({s.name for array in monitor.of('diagnostics') for s in array.status})

    status = {node: latest(monitor, f'/heisenberg/{node}: {task}', since) for node, task in TASKS.items()}
    assert status['llama_server'].level == DiagnosticStatus.OK, status['llama_server'].message
    assert values(status['llama_server'])['state'] == 'ok'
    # Models loaded, audio flowing from capture through wake word and stt.
    assert values(status['capture'])['audio flowing'] == 'true'
    assert values(status['wake_word'])['model loaded'] == 'true'
    assert values(status['stt'])['model loaded'] == 'true'
    assert values(status['stt'])['audio flowing'] == 'true'
    assert values(status['tts'])['voice loaded'] == 'true'

    brain = status['brain']
    assert brain.level == DiagnosticStatus.OK and brain.message == 'llama-server reachable'
    assert brain.hardware_id == 'llama-server'
    brain_values = {kv.key: kv.value for kv in brain.values}
    assert set(BRAIN_VALUES) <= set(brain_values), brain_values
    assert brain_values['llm_reachable'] == 'true' and brain_values['state'] == 'IDLE'


def test_brain_reports_turns_and_the_last_voice_to_voice_latency(assistant):
    before = {kv.key: kv.value for kv in brain_status(assistant.monitor).values}
    start = assistant.say('Hey Jarvis. What is the capital of France?')
    assert assistant.wait_turn_over(start), assistant.monitor.state_names(start)
    after_turn = time.monotonic()

    def counted():
        status = brain_status(assistant.monitor, after_turn)
        return status is not None and int({kv.key: kv.value for kv in status.values}['turns']) > \
            int(before['turns'])
    assert assistant.monitor.wait_for(counted, 10)
    now = {kv.key: kv.value for kv in brain_status(assistant.monitor, after_turn).values}
    latency = float(now['last_voice_to_voice_s'])
    metrics = [m for m in assistant.monitor.of('metrics', start) if m.source == 'voice']
    assert metrics and math.isclose(latency, metrics[-1].voice_to_voice, abs_tol=0.001)
    assert now['errors'] == before['errors'] and now['state'] == 'IDLE'


def test_brain_goes_error_while_llama_server_is_down_and_ok_once_it_is_back(assistant):
    monitor, graph = assistant.monitor, assistant.graph
    node = psutil.Process(graph.processes['llama_server'].process.pid)
    servers = [p for p in node.children(recursive=True) if 'llama-server' in p.name()]
    assert len(servers) == 1, node.children(recursive=True)
    killed = time.monotonic()
    servers[0].send_signal(signal.SIGKILL)  # the server crashes; its supervising node restarts it

    def brain_level(level, since):
        def seen():
            status = brain_status(monitor, since)
            return status is not None and status.level == level
        return seen
    assert monitor.wait_for(brain_level(DiagnosticStatus.ERROR, killed), 10 * HEALTH_PERIOD + 5,
                            poll=graph.poll)
    down = brain_status(monitor, killed)
    assert 'unreachable' in down.message and values(down)['llm reachable'] == 'false'
    back_from = time.monotonic()
    assert monitor.wait_for(brain_level(DiagnosticStatus.OK, back_from), 90, poll=graph.poll), \
        'llama-server not back'
    assert brain_status(monitor, back_from).message == 'llama-server reachable'
    server_node = latest(monitor, '/heisenberg/llama_server: llama-server', back_from)
    assert int(values(server_node)['restarts']) >= 1

    start = assistant.say('Hey Jarvis. What is the capital of France?')
    assert assistant.wait_turn_over(start), monitor.state_names(start)
    assert 'paris' in assistant.reply_text(start).lower()
