"""The brain node over real DDS against a real llama-server with the registry GGUF."""

import socket
import time

import pytest
from action_msgs.msg import GoalStatus

from heisenberg_brain.core.llama_server import get_json
from heisenberg_common.actions import ActionClient
from heisenberg_common.qos import STATE
from heisenberg_interfaces.action import Respond
from heisenberg_interfaces.msg import AssistantState
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient
from heisenberg_common.runner import CONFIG_EXIT_CODE

pytestmark = pytest.mark.llm

# Greedy sampling for stable answers; generous timeouts because the test machine is shared
# (speed is measured in bench/, never asserted here).
DETERMINISTIC = {'llm.temperature': 0.0, 'llm.seed': 42, 'llm.token_timeout': 30.0,
                 'llm.first_token_timeout': 60.0, 'think_timeout': 90.0}


def start_brain(tmp_path, endpoint, namespace='heisenberg', **params):
    params_file = write_params(tmp_path / 'brain.yaml', 'brain',
                               {'llm.endpoint': endpoint, **DETERMINISTIC, **params}, namespace)
    return NodeProcess('heisenberg_brain.nodes.brain', 'brain', namespace=namespace,
                       params_files=(params_file,), log_dir=tmp_path)


class Session:
    """A client of one brain: Respond goals and the state topic."""

    def __init__(self, ros: RosClient):
        self.ros = ros
        self.states = []
        ros.node.create_subscription(AssistantState, 'state', self.states.append, STATE)
        self.action = ActionClient(ros.node, Respond, 'respond')
        assert self.action.wait_for_server(timeout_sec=30), 'brain Respond server not discovered'
        assert ros.wait_for(lambda: self.states, 10), 'no latched state from the brain'

    def send(self, prompt, feedback=None, **goal):
        feedback = feedback if feedback is not None else []
        future = self.action.send_goal_async(
            Respond.Goal(prompt=prompt, **goal), feedback_callback=lambda m: feedback.append(m.feedback))
        handle = self.ros.result_of(future, 10)
        assert handle.accepted
        return handle

    def ask(self, prompt, timeout=120, **goal):
        goal.setdefault('max_tokens', 48)  # short answers keep the test quick on a busy CPU
        feedback = []
        handle = self.send(prompt, feedback, **goal)
        result = self.ros.result_of(handle.get_result_async(), timeout)
        return result, feedback

    def state_names(self):
        return [s.state_name for s in self.states]


@pytest.fixture(scope='module')
def brain(llama_server, tmp_path_factory):
    process = start_brain(tmp_path_factory.mktemp('brain'), llama_server.completion_url)
    yield process
    assert process.alive(), process.output()
    process.stop()


@pytest.fixture(scope='module')
def session(brain):
    # One client for the module: one discovery instead of one per test.
    with RosClient() as ros:
        yield Session(ros)


def test_respond_streams_tokens_and_completes(session):
    result, feedback = session.ask('What is the capital of France?', session_id='france')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    tokens = [f for f in feedback if f.delta]
    assert [f.token_index for f in tokens] == list(range(len(tokens)))
    assert ''.join(f.delta for f in tokens) == result.result.text
    assert 'Paris' in result.result.text
    assert result.result.finish_reason == 'stop'
    assert result.result.token_count >= len(tokens) > 0
    assert result.result.time_to_first_token > 0
    sentences = [f.sentence for f in feedback if f.sentence]
    assert sentences and ' '.join(sentences).replace(' ', '') == result.result.text.replace(' ', '').strip()
    assert session.ros.wait_for(lambda: session.state_names()[-1] == 'IDLE', 5)
    assert session.state_names()[-2:] == ['THINKING', 'IDLE']


def test_max_tokens_gives_length(session):
    result, feedback = session.ask('Tell me a long story about a robot.', max_tokens=5, session_id='len')
    assert result.status == GoalStatus.STATUS_SUCCEEDED
    assert result.result.finish_reason == 'length'
    assert result.result.token_count == 5


def test_cancel_after_a_few_tokens_ends_canceled_and_frees_the_slot(session, llama_server):
    feedback = []
    handle = session.send('Write a very long essay about the history of robots in factories.', feedback,
                          max_tokens=400, session_id='cancel')
    assert session.ros.wait_for(lambda: len(feedback) >= 3, 30), 'no tokens streamed'
    cancel_sent = time.monotonic()
    session.ros.result_of(handle.cancel_goal_async(), 5)
    result = session.ros.result_of(handle.get_result_async(), 5)
    assert result.status == GoalStatus.STATUS_CANCELED
    assert result.result.finish_reason == 'cancelled'
    assert 3 <= result.result.token_count < 400
    assert session.ros.wait_for(
        lambda: not any(s.get('is_processing') for s in get_json(llama_server.base_url + '/slots')), 2.0), \
        'llama-server still generating after the cancel'
    assert time.monotonic() - cancel_sent < 5


def test_history_carries_a_fact_into_the_next_turn(session):
    # A fact SmolLM2-135M can carry (it forgets names); without the history it answers otherwise.
    first, _ = session.ask('The secret word is banana.', session_id='fact')
    assert first.status == GoalStatus.STATUS_SUCCEEDED
    second, _ = session.ask('What is the secret word?', session_id='fact')
    assert 'banana' in second.result.text.lower()
    other, _ = session.ask('What is the secret word?', session_id='someone-else')
    assert 'banana' not in other.result.text.lower()


def test_a_new_goal_preempts_the_running_one(session):
    first_feedback = []
    first = session.send('Write a very long essay about the history of robots.', first_feedback,
                         max_tokens=400, session_id='pre1')
    assert session.ros.wait_for(lambda: len(first_feedback) >= 2, 30)
    second, _ = session.ask('What is the capital of France?', session_id='pre2')
    first_result = session.ros.result_of(first.get_result_async(), 10)
    assert first_result.status == GoalStatus.STATUS_ABORTED
    assert first_result.result.finish_reason == 'cancelled'
    assert 'preempted' in first_result.result.error
    # The answer's content is the other tests' business (greedy decoding after a cancelled
    # batch is not bit-identical); the policy is that the newer goal runs to its end.
    assert second.status == GoalStatus.STATUS_SUCCEEDED and second.result.text.strip()
    assert second.result.finish_reason in ('stop', 'length')


@pytest.mark.parametrize('goal, message', [
    ({'prompt': ''}, 'empty'),
    ({'prompt': '   \n'}, 'empty'),
    ({'prompt': 'hi', 'personality': 'sarcastic'}, "unknown personality 'sarcastic'"),
    ({'prompt': 'hi', 'max_tokens': -3}, 'max_tokens'),
    ({'prompt': 'hi', 'language': 'de'}, "unknown language 'de': use one of en, fr"),
])
def test_bad_goals_abort_with_a_clear_error(session, goal, message):
    result, feedback = session.ask(**goal)
    assert result.status == GoalStatus.STATUS_ABORTED
    assert result.result.finish_reason == 'error'
    assert message in result.result.error
    assert feedback == []


def test_a_goal_in_french_is_answered_in_french(session):
    result, _ = session.ask('Quelle est la capitale de la France ?', language='fr', max_tokens=30,
                            session_id='fr')
    assert result.status == GoalStatus.STATUS_SUCCEEDED
    words = set(result.result.text.lower().replace("'", ' ').split())
    assert {'la', 'de', 'est'} <= words, result.result.text


def test_every_personality_answers(session):
    for personality in ('concise', 'friendly', 'professional', 'technical', 'robot'):
        result, _ = session.ask('Say hello.', personality=personality, max_tokens=30, session_id=personality)
        assert result.status == GoalStatus.STATUS_SUCCEEDED and result.result.text.strip(), personality


def test_unreachable_server_gives_a_clear_error_and_returns_to_idle(tmp_path):
    # A port bound but not listening: connection refused, and no other process can take it meanwhile.
    blocker = socket.socket()
    blocker.bind(('127.0.0.1', 0))
    endpoint = f'http://127.0.0.1:{blocker.getsockname()[1]}/completion'
    # Its own namespace: the module's brain is still up, and a goal must not reach that one.
    brain = start_brain(tmp_path, endpoint, namespace='unreachable', **{'llm.retries': 1, 'error_hold': 1.0})
    try:
        with RosClient(namespace='unreachable') as ros:
            session = Session(ros)
            result, _ = session.ask('Hello?', timeout=30)
            assert result.status == GoalStatus.STATUS_ABORTED
            assert result.result.finish_reason == 'error'
            error = result.result.error
            assert endpoint.rsplit('/', 1)[0] in error and 'connection refused' in error, error
            assert 'llama-server' in error
            assert ros.wait_for(lambda: session.state_names()[-1] == 'IDLE', 10)
            assert session.state_names()[-3:] == ['THINKING', 'ERROR', 'IDLE']
        assert brain.alive()
    finally:
        brain.stop()
        blocker.close()


def test_bad_parameters_stop_the_node_with_a_message(tmp_path):
    brain = start_brain(tmp_path, 'not-a-url')
    assert brain.process.wait(30) == CONFIG_EXIT_CODE
    assert "llm.endpoint must be an http(s) URL, got 'not-a-url'" in brain.output()


def test_a_skill_answers_without_the_llm_and_says_so_in_the_result(session):
    result, feedback = session.ask('What time is it?', session_id='skills')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.skill == 'time' and feedback and all(f.skill == 'time' for f in feedback)
    assert result.result.text.startswith("It's ") and result.result.finish_reason == 'stop'
    # An everyday question is still the LLM's.
    result, _ = session.ask('What is two plus two?', session_id='skills')
    assert result.result.skill == '' and result.result.text.strip()


def test_a_name_told_in_a_session_is_known_there_in_any_language_and_the_llm_sees_it(session):
    told, _ = session.ask('My name is Alice.', session_id='alice')
    assert (told.result.skill, told.result.text) == ('name.tell', 'Nice to meet you, Alice.')
    elsewhere, _ = session.ask('What is my name?', session_id='bob')
    assert elsewhere.result.text == "You haven't told me your name yet."
    french, _ = session.ask("Comment je m'appelle ?", session_id='alice', language='fr')
    assert (french.result.skill, french.result.text) == ('name.ask', 'Vous vous appelez Alice.')
    asked, _ = session.ask('What is my name?', session_id='alice')
    assert asked.result.text == 'Your name is Alice.'
    # The brain stores the exchange in the session's history: the LLM's next answer has the name
    # (SmolLM2-135M at temperature 0; without the stored turns it cannot: test_replier's xfail).
    hello, _ = session.ask('Say hello to me.', session_id='alice')
    assert hello.result.skill == '' and 'alice' in hello.result.text.lower(), hello.result.text


def test_a_timer_set_by_a_goal_rings_as_an_announcement_while_idle(session):
    since = len(session.states)
    result, _ = session.ask('Set a timer for two seconds.', session_id='skills')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.skill == 'timer.set' and '2 second' in result.result.text, result.result.text
    assert session.ros.wait_for(
        lambda: any(s.cause == 'ANNOUNCEMENT' for s in session.states[since:]), 10), session.state_names()
    rang = next(s for s in session.states[since:] if s.cause == 'ANNOUNCEMENT')
    assert 'timer' in rang.detail.lower() and rang.state_name == 'THINKING', rang
    assert session.ros.wait_for(lambda: session.state_names()[-1] == 'IDLE', 10)


def test_the_loaded_skills_are_listed_on_a_latched_topic(session):
    import json
    from std_msgs.msg import String
    from heisenberg_common.qos import LATCHED
    listed = []
    session.ros.node.create_subscription(String, 'skills', listed.append, LATCHED)
    assert session.ros.wait_for(lambda: listed, 10)
    skills = {entry['name']: entry for entry in json.loads(listed[0].data)}
    assert {'time', 'date', 'timer', 'help', 'stop'} <= set(skills)
    assert skills['timer']['kind'] == 'builtin' and skills['timer']['sentences']
