"""`ros2 param set` on running nodes: a tunable parameter is validated and used, any other refused.

The brain (against the real llama-server) and the wake_word node as real processes over DDS;
the changes go through the nodes' own set_parameters services, as `ros2 param set` sends them.
"""

from __future__ import annotations

import pytest
from action_msgs.msg import GoalStatus
from rclpy.parameter import Parameter

from heisenberg_common.actions import ActionClient
from heisenberg_interfaces.action import Respond
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient, remote_parameters, seen_by

NAMESPACE = 'live_params'


def set_parameter(ros: RosClient, node: str, name: str, value):
    """As `ros2 param set` does it: a client of its own, one request."""
    params = remote_parameters(ros.node, f'/{NAMESPACE}/{node}')
    [result] = ros.result_of(params.set_parameters([Parameter(name, value=value)]), 10).results
    return result


@pytest.mark.llm
def test_brain_applies_max_tokens_live_and_refuses_the_rest_with_reasons(tmp_path, llama_server):
    node = NodeProcess('heisenberg_brain.nodes.brain', 'brain', namespace=NAMESPACE, log_dir=tmp_path,
                       params_files=(write_params(tmp_path / 'brain.yaml', 'brain', {
                           'llm.endpoint': llama_server.completion_url, 'llm.temperature': 0.0,
                           'llm.first_token_timeout': 60.0}, NAMESPACE),))
    try:
        with RosClient(namespace=NAMESPACE) as ros:
            refused = {
                ('llm.endpoint', 'http://elsewhere:8080/completion'): 'read-only',
                ('llm.temperature', 9.0): 'llm.temperature must be in [0, 5], got 9.0',
                ('llm.personality', 'pirate'): 'llm.personality must be one of',
                ('llm.max_tokens', 'many'): 'type',
            }
            for (name, value), reason in refused.items():
                result = set_parameter(ros, 'brain', name, value)
                assert not result.successful and reason.lower() in result.reason.lower(), (name, result)
            for name, value in (('llm.max_tokens', 3), ('llm.personality', 'robot'),
                                ('llm.temperature', 0.0)):
                result = set_parameter(ros, 'brain', name, value)
                assert result.successful, (name, result.reason)

            action = ActionClient(ros.node, Respond, 'respond')
            assert action.wait_for_server(timeout_sec=30) and seen_by(ros.node, f'/{NAMESPACE}/brain', 30)
            handle = ros.result_of(action.send_goal_async(Respond.Goal(prompt='Tell me a long story.')), 10)
            answer = ros.result_of(handle.get_result_async(), 60)
            assert answer.status == GoalStatus.STATUS_SUCCEEDED, answer.result.error
            assert answer.result.token_count <= 3 and answer.result.finish_reason == 'length'
    finally:
        node.stop()
    assert 'now personality robot, temperature 0, max_tokens 3' in node.output()


@pytest.mark.models
def test_wake_word_threshold_is_live_and_the_rest_read_only(tmp_path):
    node = NodeProcess('heisenberg_audio.nodes.wake_word', 'wake_word', namespace=NAMESPACE, log_dir=tmp_path)
    try:
        with RosClient(namespace=NAMESPACE) as ros:
            assert set_parameter(ros, 'wake_word', 'threshold', 0.7).successful
            too_high = set_parameter(ros, 'wake_word', 'threshold', 1.5)
            assert not too_high.successful and 'threshold' in too_high.reason
            patience = set_parameter(ros, 'wake_word', 'patience', 3)
            assert not patience.successful and 'read-only' in patience.reason.lower()
    finally:
        node.stop()
    assert 'threshold now 0.7' in node.output()
