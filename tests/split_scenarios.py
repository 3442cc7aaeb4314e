"""The scenarios of tests/test_network_split.py, run by it inside the robot's network namespace.

Not collected by itself (no test_ prefix): test_network_split.py makes the two namespaces and
their veth pair (heisenberg_testing.netns) and runs this module in a fresh pytest process in the
robot's namespace, named by HEISENBERG_SPLIT_LINK. A fresh process, because Fast DDS keeps
process-wide state from a process's first participant: a participant made later in another
namespace, in a process that already had one (the rest of the suite), never discovers anyone.

The robot side runs capture, wake_word and tts, the server
side stt, the brain and llama_server (robot.launch.py / server.launch.py), each node under
`ip netns exec`. llama-server binds the server's link address with an API key, which the
brain sends. Fast DDS is held to UDPv4 (FASTDDS_BUILTIN_TRANSPORTS): its shared-memory
transport would carry the audio past the link, namespaces or not. Discovery is set as the
README tells a user to: ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET and ROS_STATIC_PEERS=<the other
machine>. This process watches from the robot's namespace, as a console on the robot would.

Asserted across the link: a spoken question is answered aloud (the transcript, the states,
the reply's audio played and recorded on the robot, the bytes that crossed the link),
"Hey Jarvis" interrupts a spoken reply, and a server-side brain or llama-server killed
outright heals as it does on one host.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request

import psutil
import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticStatus

from heisenberg_brain.core.llama_server import free_port
from heisenberg_bringup.graph import Graph
from heisenberg_bringup.monitor import GraphMonitor
from heisenberg_common.actions import ActionClient
from heisenberg_interfaces.action import Respond
from heisenberg_testing.graph_params import STORYTELLER, graph_overrides
from heisenberg_testing.netns import Link
from heisenberg_testing.speech import silence, similarity, write_wav

from test_e2e_voice import Assistant, _dedupe, transcribe

pytestmark = [pytest.mark.llm, pytest.mark.models]
ROOT_CONFIG = 'config/assistant.yaml'
ROBOT_NODES = ('capture', 'wake_word', 'tts')       # robot.launch.py
SERVER_NODES = ('stt', 'brain', 'llama_server')     # server.launch.py
AUDIO_BYTES_PER_SECOND = 16000 * 2                  # 16 kHz mono int16
API_KEY = 'split-test-key'


def dds_environment(peer: str) -> dict:
    """What a user sets on each machine: UDP only, discovery on the subnet and the other machine named."""
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET', 'ROS_STATIC_PEERS': peer,
            'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4'}


class BothSides:
    """The two graphs as one for Assistant: poll() both, restart a node on the side that runs it."""

    def __init__(self, robot: Graph, server: Graph):
        self.robot, self.server = robot, server

    def poll(self) -> list[str]:
        return self.robot.poll() + self.server.poll()

    def restart(self, name: str, params: dict | None = None):
        return (self.robot if name in ROBOT_NODES else self.server).restart(name, params)


@pytest.fixture(scope='module')
def link():
    if 'HEISENBERG_SPLIT_LINK' not in os.environ:
        pytest.skip('run through tests/test_network_split.py, which makes the network namespaces')
    return Link(os.environ['HEISENBERG_SPLIT_LINK'], make=False)


@pytest.fixture(scope='module')
def split(link, tmp_path_factory, speech):
    tmp = tmp_path_factory.mktemp('split')
    record_dir = tmp / 'replies'
    keys = tmp / 'llm.key'
    keys.write_text(f'# the server key\n{API_KEY}\n')
    server_ip, robot_ip = link.addresses['server'], link.addresses['robot']
    port = free_port()
    quiet = write_wav(tmp / 'quiet.wav', silence(0.5))
    overrides = graph_overrides(port, {'source': 'file', 'file_path': str(quiet)},
                                tts={'record_dir': str(record_dir)},
                                llama_server={'threads': 2, 'host': server_ip, 'api_key_file': str(keys)},
                                brain={'llm.endpoint': f'http://{server_ip}:{port}/completion',
                                       'llm.api_key_file': str(keys)})
    robot = Graph(ROOT_CONFIG, tmp / 'robot-logs', overrides, nodes=ROBOT_NODES,
                  env={**os.environ, **dds_environment(server_ip)}, wrapper=link.wrapper('robot'))
    server = Graph(ROOT_CONFIG, tmp / 'server-logs', overrides, nodes=SERVER_NODES,
                   env={**os.environ, **dds_environment(robot_ip)}, wrapper=link.wrapper('server'))
    both = BothSides(robot, server)
    monitor = None
    with pytest.MonkeyPatch.context() as env:
        for name, value in dds_environment(server_ip).items():
            env.setenv(name, value)
        try:
            server.start()
            robot.start([name for name in ROBOT_NODES if name != 'capture'])
            monitor = GraphMonitor()
            assert monitor.wait_ready(timeout=240, poll=both.poll), f'split graph not ready; logs in {tmp}'
            assistant = Assistant(both, monitor, speech, tmp, record_dir)
            assistant.port = port
            yield assistant
        finally:
            if monitor is not None:
                monitor.close()
            robot.stop()
            server.stop()


def network_namespace(pid: int) -> int:
    return os.stat(f'/proc/{pid}/ns/net').st_ino


def test_each_side_runs_in_its_namespace_and_the_llm_port_wants_the_key(split, link):
    for side, graph in (('robot', split.graph.robot), ('server', split.graph.server)):
        expected = os.stat(f'/run/netns/{link.names[side]}').st_ino
        for name, node in graph.processes.items():
            assert network_namespace(node.process.pid) == expected, f'{name} is not on the {side} side'
    # From the robot's side (where this test watches), llama-server answers across the link only
    # to its key.
    url = f"http://{link.addresses['server']}:{split.port}"
    body = json.dumps({'prompt': 'Hello', 'n_predict': 1}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(url + '/completion', body), timeout=10)
    assert refused.value.code == 401
    request = urllib.request.Request(url + '/completion', body, {'Authorization': f'Bearer {API_KEY}'})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200 and 'content' in json.loads(response.read())


def test_a_spoken_question_is_answered_aloud_across_the_link(split, link, whisper):
    sent_before = link.sent_bytes('robot'), link.sent_bytes('server')
    start = split.say('Hey Jarvis. What is the capital of France?')
    assert split.wait_turn_over(start), split.monitor.state_names(start)
    sent = link.sent_bytes('robot') - sent_before[0], link.sent_bytes('server') - sent_before[1]
    assert _dedupe(split.monitor.state_names(start)) == ['LISTENING', 'THINKING', 'SPEAKING', 'IDLE']
    transcripts = [t for t in split.monitor.of('transcript', start) if t.is_final]
    assert 'capital' in transcripts[-1].text.lower() and 'france' in transcripts[-1].text.lower()
    reply = split.reply_text(start)
    assert 'paris' in reply.lower()
    # Played on the robot: tts (robot side) sent it on audio/out and recorded it, and it says the reply.
    assert split.monitor.of('audio/out', start)
    spoken = transcribe(whisper, split.latest_reply_wav())
    assert 'paris' in spoken.lower() or similarity(spoken, reply) >= 0.8, (spoken, reply)
    # The microphone's audio went over the link to stt: at least the spoken question's worth of it.
    question = split.speech.say('Hey Jarvis. What is the capital of France?')
    assert sent[0] > len(question) / 16000 * AUDIO_BYTES_PER_SECOND, sent


@pytest.fixture(scope='module')
def whisper(models_dir):
    """The judge of what the robot said (as in test_e2e_voice)."""
    from faster_whisper import WhisperModel
    return WhisperModel(str(models_dir / 'whisper-base'), device='cpu', compute_type='int8')


def test_hey_jarvis_interrupts_a_spoken_reply_across_the_link(split):
    respond = ActionClient(split.monitor.node, Respond, 'respond')
    assert respond.wait_for_server(timeout_sec=30)
    goal_sent = time.monotonic()
    future = respond.send_goal_async(Respond.Goal(
        prompt='Tell me a long story about a brave little robot.', speak=True, max_tokens=300,
        session_id='story', personality=STORYTELLER))
    assert split.monitor.wait_for(future.done, 10)
    handle = future.result()
    assert split.wait_state('SPEAKING', goal_sent, 90)

    barge = split.say('Hey Jarvis. What is the capital of France?')
    assert split.wait_state('LISTENING', barge, 30), split.monitor.state_names(goal_sent)
    listening_at = time.monotonic()
    result = handle.get_result_async()
    assert split.monitor.wait_for(result.done, 10)
    assert result.result().status == GoalStatus.STATUS_ABORTED
    assert result.result().result.finish_reason == 'cancelled'
    assert any(msg.flushed for msg in split.monitor.of('speech_activity', goal_sent))
    assert split.wait_turn_over(barge), split.monitor.state_names(barge)
    assert 'paris' in split.reply_text(listening_at).lower()


def test_the_server_side_brain_killed_is_respawned_and_answers(split):
    server = split.graph.server
    killed = time.monotonic()
    server.kill('brain')
    assert any(event.startswith('node brain died') for event in server.poll())
    assert split.wait_state('IDLE', killed, 90, cause='STARTUP'), split.monitor.state_names(killed)
    start = split.say('Hey Jarvis. What is the capital of France?')
    assert split.wait_turn_over(start), split.monitor.state_names(start)
    assert 'paris' in split.reply_text(start).lower()


def test_llama_server_killed_on_the_server_is_restarted_and_answers(split):
    node = psutil.Process(split.graph.server.processes['llama_server'].process.pid)
    [llama] = [child for child in node.children(recursive=True) if '--port' in child.cmdline()
               and str(split.port) in child.cmdline()]
    llama.kill()
    llama.wait(10)
    killed = time.monotonic()

    def serving_again():
        return any(status.name == '/heisenberg/llama_server: llama-server'
                   and status.level == DiagnosticStatus.OK
                   and {kv.key: kv.value for kv in status.values}.get('restarts', '0') != '0'
                   for array in split.monitor.of('diagnostics', killed) for status in array.status)
    assert split.monitor.wait_for(serving_again, 120, poll=split.graph.poll), 'llama-server not restarted'
    start = split.say('Hey Jarvis. What is the capital of France?')
    assert split.wait_turn_over(start), split.monitor.state_names(start)
    assert 'paris' in split.reply_text(start).lower()
