"""The generated interfaces work across processes over real DDS (issue 3's spine test)."""

import sys
import time

import pytest
from action_msgs.msg import GoalStatus

from heisenberg_common.actions import ActionClient
from heisenberg_common.qos import LATCHED
from heisenberg_interfaces.action import Respond, Speak
from heisenberg_interfaces.msg import (AssistantState, SpeechActivity, Transcript, TurnMetrics,
                                       WakeWordDetection)
from heisenberg_testing.ros_client import RosClient


def test_interfaces_import_with_documented_constants():
    assert (AssistantState.IDLE, AssistantState.LISTENING, AssistantState.THINKING,
            AssistantState.SPEAKING, AssistantState.ERROR) == (0, 1, 2, 3, 4)
    assert {Respond.Result.FINISH_STOP, Respond.Result.FINISH_LENGTH, Respond.Result.FINISH_CANCELLED,
            Respond.Result.FINISH_ERROR} == {'stop', 'length', 'cancelled', 'error'}
    goal = Respond.Goal(prompt='hi', session_id='s', personality='concise', max_tokens=5, speak=True)
    assert goal.speak and goal.max_tokens == 5
    assert Speak.Goal(text='x', utterance_id='1').text == 'x'
    for msg in (WakeWordDetection(), Transcript(), SpeechActivity(), TurnMetrics()):
        assert hasattr(msg, 'header')
    from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo
    assert AudioDataStamped(audio=AudioData(data=b'\x01\x02')).audio.data.tobytes() == b'\x01\x02'
    assert AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE').sample_rate == 16000


@pytest.fixture
def stub_server(tmp_path):
    from heisenberg_testing.processes import NodeProcess
    server = NodeProcess('heisenberg_testing.respond_stub_server', 'respond_stub', log_dir=tmp_path)
    yield server
    server.stop()


@pytest.fixture
def client():
    with RosClient() as ros:
        yield ros


def _send(ros, action_client, prompt, feedback):
    assert action_client.wait_for_server(timeout_sec=20), 'Respond server not discovered'
    future = action_client.send_goal_async(Respond.Goal(prompt=prompt),
                                           feedback_callback=lambda m: feedback.append(m.feedback))
    handle = ros.result_of(future, 10)
    assert handle.accepted
    return handle


def test_respond_goal_streams_feedback_in_order_across_processes(stub_server, client):
    action_client = ActionClient(client.node, Respond, 'respond')
    feedback = []
    prompt = 'one two three four five six'
    handle = _send(client, action_client, prompt, feedback)
    result = client.result_of(handle.get_result_async(), 20)
    assert result.status == GoalStatus.STATUS_SUCCEEDED
    assert result.result.text == prompt
    assert result.result.finish_reason == 'stop'
    assert [f.token_index for f in feedback] == list(range(6))
    assert ''.join(f.delta for f in feedback) == prompt


def test_cancel_mid_stream_ends_canceled(stub_server, client):
    action_client = ActionClient(client.node, Respond, 'respond')
    feedback = []
    handle = _send(client, action_client, ' '.join(f'w{i}' for i in range(200)), feedback)
    assert client.wait_for(lambda: len(feedback) >= 3, 20), 'no feedback streamed'
    cancel = client.result_of(handle.cancel_goal_async(), 10)
    assert len(cancel.goals_canceling) == 1
    result = client.result_of(handle.get_result_async(), 10)
    assert result.status == GoalStatus.STATUS_CANCELED
    assert result.result.finish_reason == 'cancelled'
    assert 3 <= result.result.token_count < 200
    assert result.result.text == ''.join(f.delta for f in feedback)[:len(result.result.text)]


def test_latched_state_reaches_a_late_subscriber(stub_server, client):
    time.sleep(2.0)  # the server published its state long before we subscribe
    received = []
    client.node.create_subscription(AssistantState, 'state', received.append, LATCHED)
    assert client.wait_for(lambda: received, 20), 'late subscriber got no latched state'
    assert received[0].state == AssistantState.IDLE and received[0].cause == 'STARTUP'


def test_session_has_its_own_ros_domain():
    import os
    assert os.environ['ROS_DOMAIN_ID'] == os.environ['HEISENBERG_TEST_DOMAIN']
    assert os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert sys.modules['rclpy'] is not None
