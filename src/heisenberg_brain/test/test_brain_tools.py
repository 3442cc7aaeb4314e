"""The brain node with llm.tools on, over real DDS, against the real llama-server.

With the shipped SmolLM2 (no tools in its chat template) the path stays off, the log says
why, and a question the skills do not take is answered on the /completion path. With a
tool-capable GGUF in $HEISENBERG_TOOLS_GGUF (Qwen2.5-Coder-0.5B-Instruct, a test model only:
see test_skills_tools), served with --jinja, a Respond prompt no sentence matches makes the
model call go_to, and the stand-in robot's real GoTo action server gets the kitchen's goal.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from action_msgs.msg import GoalStatus

from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
from heisenberg_testing.robot import Robot, go_to_skill
from heisenberg_testing.ros_client import RosClient
from test_brain_node import Session, start_brain
from test_skills_tools import TOOLS_GGUF

pytestmark = pytest.mark.llm

PROMPT = 'Please drive over to the kitchen for me.'   # no go_to sentence takes it: the LLM's


def skills_file(tmp_path: Path) -> Path:
    path = tmp_path / 'skills.yaml'
    path.write_text(go_to_skill() + '    llm: true\n')
    return path


def wait_for_output(process, text: str, within: float = 60.0) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in process.output():
            return process.output()
        time.sleep(0.2)
    raise AssertionError(f'{text!r} not in the output:\n{process.output()}')


def test_a_model_that_cannot_call_tools_says_so_and_answers_as_before(llama_server, tmp_path):
    brain = start_brain(tmp_path, llama_server.completion_url, namespace='tools_off',
                        **{'llm.tools': True, 'skills_file': str(skills_file(tmp_path))})
    try:
        output = wait_for_output(brain, 'LLM tool calls off:')
        assert ('LLM tool calls off: the served model cannot call tools (its chat template does not '
                'support tool calls') in output
        with RosClient(namespace='tools_off') as ros:
            result, _ = Session(ros).ask('What is the capital of France?')
        assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
        assert result.result.text.strip() and result.result.skill == ''
        assert brain.alive()
    finally:
        brain.stop()


@pytest.fixture(scope='module')
def tools_server(tmp_path_factory):
    if not TOOLS_GGUF or not Path(TOOLS_GGUF).is_file():
        pytest.skip('no tool-capable GGUF: set HEISENBERG_TOOLS_GGUF (see test_skills_tools)')
    config = LlamaServerConfig(model_path=TOOLS_GGUF, port=0, context_size=4096, jinja=True)
    server = LlamaServerProcess(config, log_path=tmp_path_factory.mktemp('llama') / 'llama-server.log')
    with server:
        yield server


def test_the_model_calls_a_skill_and_the_robot_gets_the_goal(tools_server, tmp_path):
    robot = Robot()
    brain = start_brain(tmp_path, tools_server.completion_url, namespace='tools_on',
                        **{'llm.tools': True, 'skills_file': str(skills_file(tmp_path)),
                           'skills_namespace': '/robot'})
    try:
        assert 'the LLM may call go_to' in wait_for_output(brain, 'LLM tool calls on:')
        with RosClient(namespace='tools_on') as ros:
            session = Session(ros)
            handle = session.send(PROMPT)
            served = robot.goals.get(timeout=60)
            request = served.request
            assert (request.place, request.x, request.y) == ('kitchen', 1.0, 2.0)
            result = ros.result_of(handle.get_result_async(), 60)
            assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
            assert (result.result.skill, result.result.text) == ('go_to', 'Going to the kitchen.')
            # The state topic shows the skill as for a matched sentence (THINKING, cause SKILL).
            assert ('THINKING', 'go_to') in [(s.state_name, s.detail) for s in session.states
                                             if s.cause == 'SKILL']
            served.finish(arrived=True, message='at the kitchen')
        assert 'the LLM called go_to' in wait_for_output(brain, 'the LLM called go_to')
        assert brain.alive()
    finally:
        brain.stop()
        robot.close()
