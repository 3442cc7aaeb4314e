"""Faults and bad input: each one ends clearly, and the graph answers the next question after it.

Real parts wherever a real part can show the fault: a real llama-server that is not running
when the brain starts, is SIGKILLed mid-answer and started again on the same port; a real
tts node speaking the apology; the whole graph for a node killed and respawned. The
scripted SSE server (heisenberg_testing.fake_llama) only for what a real llama-server cannot be made
to do on demand: stall, malformed or truncated SSE, an in-stream error, HTTP 500/503, slow
tokens. Voice turns are made without the audio nodes by publishing a final Transcript on
``transcript``, as stt does.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from action_msgs.msg import GoalStatus
from aiohttp import web

from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess, free_port, get_json
from heisenberg_bringup.graph import Graph
from heisenberg_bringup.monitor import GraphMonitor
from heisenberg_common.actions import ActionClient
from heisenberg_common.qos import EVENTS
from heisenberg_interfaces.action import Respond
from heisenberg_interfaces.msg import Transcript
from heisenberg_testing.fake_llama import FakeLlama
from heisenberg_testing.graph_params import STORYTELLER, TEST_BRAIN, graph_overrides
from heisenberg_testing.stand_ins import segfaulting_llama_server
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient
from heisenberg_common.runner import CONFIG_EXIT_CODE
from test_e2e_voice import ROOT_CONFIG, Assistant

pytestmark = pytest.mark.llm

BRAIN_PARAMS = {**TEST_BRAIN, 'llm.retries': 1, 'llm.retry_backoff': 0.1, 'health_period': 0.5}
LONG_ANSWER = 'Tell me a very long story about a brave little robot who explores the sea.'


def start_node(module: str, name: str, tmp_path, namespace: str, params: dict) -> NodeProcess:
    params_file = write_params(tmp_path / f'{name}.yaml', name, params, namespace)
    return NodeProcess(module, name, namespace=namespace, params_files=(params_file,), log_dir=tmp_path)


class Rig:
    """A brain and a tts (to voice its replies and apologies) in a namespace of their own."""

    def __init__(self, tmp_path, namespace: str, endpoint: str, brain_params: dict):
        self.namespace = namespace
        self.tts = start_node('heisenberg_audio.nodes.tts', 'tts', tmp_path, namespace, {})
        self.brain = start_node('heisenberg_brain.nodes.brain', 'brain', tmp_path, namespace,
                                {**BRAIN_PARAMS, 'llm.endpoint': endpoint, **brain_params})
        self.monitor = GraphMonitor(namespace)
        self.respond = ActionClient(self.monitor.node, Respond, 'respond')
        self.transcripts = self.monitor.node.create_publisher(Transcript, 'transcript', EVENTS)
        ready = self.monitor.wait_for(
            lambda: (self.respond.server_is_ready() and self.transcripts.get_subscription_count() > 0
                     and 'tts' in self.monitor.ready_nodes() and self.monitor.of('state')), 60)
        assert ready, self.brain.output()[-2000:] + self.tts.output()[-2000:]

    def close(self):
        self.monitor.close()
        for node in (self.brain, self.tts):
            node.stop()

    def wait(self, predicate, timeout: float) -> bool:
        return self.monitor.wait_for(predicate, timeout)

    # -- Respond goals
    def send(self, prompt: str, feedback: list | None = None, **goal):
        feedback = feedback if feedback is not None else []
        future = self.respond.send_goal_async(Respond.Goal(prompt=prompt, **goal),
                                              feedback_callback=lambda m: feedback.append(m.feedback))
        assert self.wait(future.done, 10), 'goal not answered'
        handle = future.result()
        assert handle.accepted
        return handle

    def result(self, handle, timeout: float = 60.0):
        future = handle.get_result_async()
        assert self.wait(future.done, timeout), 'no result'
        return future.result()

    def ask(self, prompt: str, timeout: float = 60.0, **goal):
        goal.setdefault('max_tokens', 24)
        return self.result(self.send(prompt, **goal), timeout)

    # -- voice turns and what they did
    def say(self, text: str) -> float:
        """A voice turn: the final transcript stt would publish. Returns when it was sent."""
        since = time.monotonic()
        msg = Transcript(text=text, language='en', is_final=True)
        msg.header.stamp = msg.speech_end = self.monitor.node.get_clock().now().to_msg()
        self.transcripts.publish(msg)
        return since

    def states(self, since: float) -> list[str]:
        return dedupe(self.monitor.state_names(since))

    def wait_idle(self, since: float, timeout: float = 60.0, after: str = '') -> bool:
        def idle():
            states = self.states(since)
            return bool(states) and states[-1] == 'IDLE' and (not after or after in states)
        return self.wait(idle, timeout)

    def apologies(self, since: float) -> list[str]:
        """The apology utterances tts played (each once, in order)."""
        return list(dict.fromkeys(m.utterance_id for m in self.monitor.of('speech_activity', since)
                                  if m.speaking and m.utterance_id.endswith('-apology')))

    def reply_text(self, since: float) -> str:
        return ''.join(m.data for m in self.monitor.of('reply', since))

    def assert_voice_turn_apologizes(self, text: str = 'What is the capital of France?'):
        since = self.say(text)
        assert self.wait_idle(since, 30, after='ERROR'), self.states(since)
        assert self.states(since) == ['THINKING', 'ERROR', 'IDLE']
        assert self.apologies(since), 'no apology was spoken'
        assert self.monitor.of('state', since)[-1].cause == 'SPEECH_FINISHED'  # after the apology

    def assert_voice_turn_answers(self, text: str = 'What is the capital of France?'):
        since = self.say(text)
        assert self.wait_idle(since, 90, after='SPEAKING'), self.states(since)
        assert self.states(since) == ['THINKING', 'SPEAKING', 'IDLE']
        assert self.reply_text(since).strip()
        assert not self.apologies(since)


def server_idle(base_url: str) -> bool:
    """No slot busy (after a goal the brain has the server read the next turn's prompt ahead)."""
    return not any(slot.get('is_processing') for slot in get_json(base_url + '/slots'))


def dedupe(states: list[str]) -> list[str]:
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


# ============================================================== a real llama-server that fails

class LlamaServerOnPort:
    """A real llama-server on a fixed port, killed hard (as a crash) and started again on it."""

    def __init__(self, gguf_path, log_dir, context_size: int = 2048):
        self.config = LlamaServerConfig(model_path=str(gguf_path), port=free_port(),
                                        context_size=context_size)
        self.log_dir = log_dir
        self.server: LlamaServerProcess | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f'http://{self.config.host}:{self.config.port}'

    def ensure_running(self) -> None:
        if self.server is None or not self.server.running():
            self.starts += 1
            self.server = LlamaServerProcess(self.config, self.log_dir / f'llama-server-{self.starts}.log')
            self.server.start()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would (LlamaServerProcess itself only stops cleanly)."""
        os.kill(self.server._process.pid, signal.SIGKILL)
        self.server.stop()  # reaps it, closes its log

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope='module')
def real(tmp_path_factory, gguf_path):
    """(rig, server): a brain started while its llama-server is NOT running yet."""
    tmp = tmp_path_factory.mktemp('faults-real')
    server = LlamaServerOnPort(gguf_path, tmp)
    rig = Rig(tmp, 'faults_real', server.base_url + '/completion', {})
    try:
        yield rig, server
    finally:
        rig.close()
        server.close()


def assert_aborted_with(result, *fragments: str):
    assert result.status == GoalStatus.STATUS_ABORTED, result
    assert result.result.finish_reason == 'error'
    for fragment in fragments:
        assert fragment in result.result.error, result.result.error


def test_llama_server_not_running_when_the_brain_starts_then_started(real):
    rig, server = real
    assert server.server is None, 'this test needs the server down (it runs first in the module)'
    assert_aborted_with(rig.ask('Hello?'), 'connection refused', server.base_url, 'llama-server')
    assert rig.brain.alive()
    rig.assert_voice_turn_apologizes()

    server.ensure_running()
    result = rig.ask('What is the capital of France?')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.text.strip()
    rig.assert_voice_turn_answers()


def test_a_crashing_llama_server_is_named_in_the_brains_error(tmp_path):
    """The brain says why the server is down (the llama_server node's report), not just 'refused'.

    The server is a stand-in that dies of SIGSEGV while loading (a real one cannot be made to).
    """
    binary, model = segfaulting_llama_server(tmp_path)
    port = free_port()
    supervisor = start_node('heisenberg_brain.nodes.llama_server', 'llama_server', tmp_path, 'faults_crash',
                            {'binary': str(binary), 'model_path': str(model), 'port': port,
                             'max_start_failures': 100})
    rig = Rig(tmp_path, 'faults_crash', f'http://127.0.0.1:{port}/completion', {})
    try:
        # The brain has heard the llama_server node's report (it says so on its own diagnostics).
        assert rig.wait(lambda: 'crashed with SIGSEGV' in brain_status(rig).get('llama_server_report', ''),
                        20), supervisor.output()
        assert_aborted_with(rig.ask('Hello?'), 'llama-server is down', 'crashed with SIGSEGV while loading',
                            str(model), f'loading model from {model}')
    finally:
        rig.close()
        supervisor.stop()


@pytest.fixture
def poison_rig(tmp_path, gguf_path):
    # History on, as shipped: what cancelled turns leave in it is what this is about. A server of
    # its own: the prompt cache these 50 goals leave must not steer another test's greedy answer.
    with LlamaServerProcess(LlamaServerConfig(model_path=str(gguf_path), port=0),
                            log_path=tmp_path / 'llama-server.log') as server:
        rig = Rig(tmp_path, 'faults_poison', server.completion_url,
                  {'llm.max_history_turns': 5, 'llm.temperature': 0.7})
        rig.server_url = server.base_url
        yield rig
        rig.close()


def test_cancels_and_preemptions_leave_the_shared_session_answering(poison_rig):
    """50 goals cancelled or preempted at seeded random moments leave the default session answering.

    Mostly before their first token; then a goal and a spoken question (same session) get answers.
    """
    rig = poison_rig
    rng = random.Random(1207)
    handles = []
    for index in range(50):
        handle = rig.send(f'Question number {index}: name a colour.', max_tokens=24)
        handles.append(handle)
        # Mostly before the first token (what poisoned a session: turns with nothing said), the
        # last ten all so; some mid-answer.
        plan = 'cancel now' if index >= 40 else rng.choices(('cancel now', 'cancel soon', 'preempt'),
                                                            weights=(4, 2, 4))[0]
        if plan == 'cancel soon':
            time.sleep(rng.uniform(0.0, 0.3))
        if plan != 'preempt':  # else the next goal preempts it
            handle.cancel_goal_async()
    endings = [rig.result(handle, 60) for handle in handles]
    assert {e.status for e in endings} <= {GoalStatus.STATUS_CANCELED, GoalStatus.STATUS_ABORTED,
                                           GoalStatus.STATUS_SUCCEEDED}
    assert sum(e.result.finish_reason == 'cancelled' for e in endings) >= 40

    result = rig.ask('What is the capital of France?', max_tokens=24)
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.text.strip() and result.result.token_count > 1
    rig.assert_voice_turn_answers('What is the capital of Italy?')


def test_a_long_prompt_cancelled_early_frees_the_server_for_the_next_goal(poison_rig):
    """A prompt that fits but takes seconds to read, cancelled at once: the next goal is not stuck behind it.

    Closing the stream makes llama-server drop the request at its next batch, instead of reading
    the whole prompt and generating up to max_tokens for nobody.
    """
    rig = poison_rig
    long_prompt = ' '.join(f'w{i % 100}' for i in range(1_200)) + ' What was the last word?'  # ~3,500 tokens
    started = time.monotonic()
    handle = rig.send(long_prompt, max_tokens=200, session_id='long-cancelled')
    time.sleep(0.3)
    handle.cancel_goal_async()
    ending = rig.result(handle, 30)
    assert ending.status == GoalStatus.STATUS_CANCELED, ending.result.error
    result = rig.ask('What is the capital of France?', max_tokens=16, session_id='next')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.text.strip()
    print(f'\ncancelled long prompt -> next answer after {time.monotonic() - started:.2f} s')
    assert rig.wait(lambda: server_idle(rig.server_url), 5)


def test_llama_server_killed_mid_answer_then_restarted_on_the_same_port(real):
    rig, server = real
    server.ensure_running()
    feedback = []
    handle = rig.send(LONG_ANSWER, feedback, max_tokens=400, session_id='killed', personality=STORYTELLER)
    assert rig.wait(lambda: len(feedback) >= 3, 60), 'no tokens streamed'
    since = time.monotonic()
    server.kill()
    result = rig.result(handle, 30)
    assert_aborted_with(result, 'stream broke after', server.base_url)
    assert result.result.text and result.result.token_count >= 3  # what was said before the crash
    assert rig.wait_idle(since, 30, after='ERROR'), rig.states(since)
    assert rig.apologies(since) == []  # a silent goal gets no spoken apology

    # While it is down: a clear error for a goal, a spoken apology for a voice turn.
    assert_aborted_with(rig.ask('Are you there?'), 'connection refused', server.base_url)
    rig.assert_voice_turn_apologizes()

    server.ensure_running()
    result = rig.ask('What is the capital of France?')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    rig.assert_voice_turn_answers()


def test_voice_turn_killed_mid_answer_apologizes(real):
    rig, server = real
    server.ensure_running()
    since = rig.say(LONG_ANSWER)
    assert rig.wait(lambda: rig.reply_text(since), 60), 'no reply tokens'
    server.kill()
    assert rig.wait_idle(since, 30, after='ERROR'), rig.states(since)
    states = rig.states(since)
    assert states[0] == 'THINKING' and states[-2:] == ['ERROR', 'IDLE'], states
    error = next(s for s in rig.monitor.of('state', since) if s.state_name == 'ERROR')
    assert 'stream broke after' in error.detail and server.base_url in error.detail, error.detail
    turn = rig.monitor.of('state', since)[0].turn_id
    assert rig.apologies(since) == [f'{turn}-apology']

    server.ensure_running()
    rig.assert_voice_turn_answers()


def test_spoken_reply_killed_while_speaking_is_silenced_at_once(real):
    rig, server = real
    server.ensure_running()
    since = time.monotonic()
    handle = rig.send(LONG_ANSWER, max_tokens=400, speak=True, session_id='spoken', personality=STORYTELLER)
    assert rig.wait(lambda: 'SPEAKING' in rig.states(since), 60), rig.states(since)
    turn = rig.monitor.of('state', since)[-1].turn_id
    server.kill()  # generation is still running: tts has sentences queued behind the one it plays
    killed = time.monotonic()
    assert_aborted_with(rig.result(handle, 30), 'stream broke after', server.base_url)
    assert rig.wait_idle(since, 30, after='ERROR'), rig.states(since)
    assert rig.states(since) == ['THINKING', 'SPEAKING', 'ERROR', 'IDLE']
    assert rig.apologies(since) == [f'{turn}-apology']
    # The reply's queued speech was flushed (FLUSH_SPEECH on LLM_ERROR): none of it plays on.
    late = [msg for msg, at in rig.monitor.timed('speech_activity')
            if msg.utterance_id == str(turn) and msg.chunk_duration > 0 and at > killed + 1.0]
    assert late == []
    assert any(msg.flushed for msg in rig.monitor.of('speech_activity', since)
               if msg.utterance_id == str(turn))

    server.ensure_running()
    rig.assert_voice_turn_answers()


# ============================================================== faults only a scripted server shows

class FakeLlamaServer(FakeLlama):
    """heisenberg_testing.fake_llama plus llama-server's /props, which the brain reads once for n_ctx."""

    N_CTX = 4096

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post('/completion', self._completion)
        app.router.add_get('/health', self._health)
        app.router.add_get('/props', self._props)
        self._runner = web.AppRunner(app, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, '127.0.0.1', 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _props(self, request: web.Request) -> web.Response:
        return web.json_response({'default_generation_settings': {'n_ctx': self.N_CTX}})


TOKEN_TIMEOUT = 1.0


@pytest.fixture(scope='module')
def fake(tmp_path_factory):
    """(rig, fake server) with a short token timeout so that a stall is seen quickly."""
    tmp = tmp_path_factory.mktemp('faults-fake')
    with FakeLlamaServer() as server:
        rig = Rig(tmp, 'faults_fake', server.completion_url,
                  {'llm.token_timeout': TOKEN_TIMEOUT, 'llm.first_token_timeout': 5.0, 'llm.retries': 0})
        try:
            yield rig, server
        finally:
            rig.close()


FAULTS = {
    # name: (script, what the goal's error says)
    'stall': ({'fault': 'stall', 'at': 2}, f'no next token within {TOKEN_TIMEOUT:g} s (llm.token_timeout)'),
    'malformed SSE': ({'fault': 'malformed', 'at': 1}, 'malformed JSON in the completion stream'),
    'truncated SSE': ({'fault': 'truncate', 'at': 2}, 'event stream truncated inside an event'),
    'error JSON in the stream': ({'fault': 'error_event', 'at': 1}, 'scripted in-stream failure'),
    'HTTP 500': ({'fault': 'http_error', 'status': 500}, 'answered HTTP 500: scripted failure'),
    'HTTP 503': ({'fault': 'http_error', 'status': 503}, 'answered HTTP 503: Loading model'),
    # an empty completion is an error the user hears about, never an empty success
    'empty answer': ({'tokens': ()}, 'llama-server returned an empty answer'),
    'blank answer': ({'tokens': (' ', '\n')}, 'llama-server returned an empty answer'),
}


@pytest.mark.parametrize('name', list(FAULTS))
def test_scripted_fault_ends_the_goal_apologizes_and_the_next_question_works(fake, name):
    rig, server = fake
    script, message = FAULTS[name]
    server.script(**script)
    try:
        assert_aborted_with(rig.ask('Hello?', timeout=30), message)
        rig.assert_voice_turn_apologizes()
    finally:
        server.script()  # the server is back
    assert server.wait_idle(5), 'the brain left a stream open'
    result = rig.ask('Hello?')
    assert result.status == GoalStatus.STATUS_SUCCEEDED and result.result.text == 'Hello, world.'
    rig.assert_voice_turn_answers()


def test_a_slow_server_within_the_timeouts_answers(fake):
    rig, server = fake
    server.script(fault='slow', delay=TOKEN_TIMEOUT * 0.6)  # each token late, none too late
    try:
        result = rig.ask('Hello?', timeout=30)
        assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
        assert result.result.text == 'Hello, world.' and result.result.finish_reason == 'stop'
        rig.assert_voice_turn_answers()
    finally:
        server.script()


def test_blank_goals_and_transcripts_start_no_turn_and_the_next_question_works(fake):
    rig, _ = fake
    assert rig.wait_idle(0, 10)
    for prompt in ('', ' \t\n\u3000 '):
        result = rig.ask(prompt)
        assert_aborted_with(result, 'the prompt is empty')
    since = rig.say('  \n ')
    time.sleep(0.5)
    assert rig.states(since) == []  # no turn: still IDLE
    result = rig.ask('Hello?')
    assert result.status == GoalStatus.STATUS_SUCCEEDED


# ============================================================== prompts longer than the context

@pytest.fixture(scope='module')
def small_context(tmp_path_factory, gguf_path):
    """(rig, server): a llama-server with only 512 tokens of context."""
    tmp = tmp_path_factory.mktemp('faults-ctx')
    config = LlamaServerConfig(model_path=str(gguf_path), port=0, context_size=512)
    with LlamaServerProcess(config, log_path=tmp / 'llama-server.log') as server:
        rig = Rig(tmp, 'faults_ctx', server.completion_url, {'llm.max_history_turns': 8})
        try:
            yield rig, server
        finally:
            rig.close()


def brain_status(rig: Rig, since: float = 0.0) -> dict:
    statuses = [s for array in rig.monitor.of('diagnostics', since) for s in array.status
                if s.name == f'/{rig.namespace}/brain: brain']
    return {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}


def test_long_history_fits_a_small_context_and_a_too_long_goal_is_refused(small_context):
    rig, server = small_context
    fact = 'Remember this about my garden: ' + 'the roses and tulips grow next to the old oak tree. ' * 8
    for turn in range(5):  # ~5 x 110 tokens of questions alone: more than the 512-token context
        result = rig.ask(f'{turn}. {fact}', max_tokens=16, session_id='long')
        assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    # A 10,000-word goal, and one of ~1,500 words that passes the character bound but not the
    # context: each refused before anything is sent, so the server has nothing to chew on.
    for words, refusal in ((10_000, 'characters, at most 20000 are accepted'), (1_500, 'room for')):
        very_long = ' '.join(f'w{i % 100}' for i in range(words)) + ' What was the last word?'
        result = rig.ask(very_long, max_tokens=16, session_id='long', timeout=60)
        assert_aborted_with(result, 'the prompt is too long', refusal, 'shorten it')
        assert rig.wait(lambda: server_idle(server.base_url), 5)
    after = time.monotonic()
    result = rig.ask('What grows next to the oak tree?', max_tokens=16, session_id='long')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    # The brain says it trimmed the history to fit (folded into the summary); the refusals are errors.
    assert rig.wait(lambda: int(brain_status(rig, after).get('prompts_trimmed', 0)) >= 2, 10), \
        brain_status(rig)
    assert brain_status(rig, after)['errors'] == '2'
    assert rig.wait(lambda: server_idle(server.base_url), 5)


# ============================================================== bad parameters at start-up

BAD_PARAMETERS = [
    # node, parameter override, what the message must say
    ('brain', 'llm.temperature:=9.0', 'llm.temperature must be in [0, 5], got 9.0'),
    ('brain', 'llm.temperature:=9', "parameter 'llm.temperature' to '9' of type 'INTEGER'"),
    ('stt', 'max_utterance:=-1.0', 'max_utterance (-1.0 s) must exceed'),
    ('tts', 'chunk_ms:=0', 'chunk_ms must be in [10, 1000], got 0'),
    ('capture', 'source:=usb', "source must be one of ('mic', 'file', 'topic'), got 'usb'"),
    ('wake_word', 'threshold:=2.0', 'threshold must be in (0, 1), got 2.0'),
    ('llama_server', 'context_size:=10', 'context_size 10 is too small'),
    ('llama_server', 'batch_size:=8192', 'batch_size must be in [32, context_size], got 8192'),
]


@pytest.mark.parametrize('node, override, message', BAD_PARAMETERS,
                         ids=[f'{node}-{override}' for node, override, _ in BAD_PARAMETERS])
def test_a_bad_parameter_stops_the_node_with_code_2_naming_it(tmp_path, node, override, message):
    from heisenberg_bringup.graph import NODE_MODULES
    process = NodeProcess(NODE_MODULES[node], node, namespace='bad_params', log_dir=tmp_path,
                          ros_args=('-p', override))
    try:
        assert process.process.wait(60) == CONFIG_EXIT_CODE, process.output()
    finally:
        process.stop()
    assert message in process.output(), process.output()


def test_a_skill_field_its_type_lacks_stops_the_brain_and_a_type_not_installed_is_a_warning(tmp_path):
    from heisenberg_bringup.graph import NODE_MODULES
    from heisenberg_testing.robot import GO_TO, go_to_skill

    def brain(skills: str) -> NodeProcess:
        path = tmp_path / f'skills{len(list(tmp_path.glob("*.yaml")))}.yaml'
        path.write_text(skills)
        return NodeProcess(NODE_MODULES['brain'], 'brain', namespace='bad_skills', log_dir=tmp_path,
                           ros_args=('-p', f'skills_file:={path}'))

    typo = brain(go_to_skill().replace("x: '{place.x}'", "xx: '{place.x}'"))
    try:
        assert typo.process.wait(60) == CONFIG_EXIT_CODE, typo.output()
    finally:
        typo.stop()
    assert (f"skill 'go_to': action.goal.xx: {GO_TO}_Goal: field 'xx' does not exist (a GoTo_Goal has place, "
            'x, y, yaw)') in typo.output(), typo.output()

    elsewhere = brain(go_to_skill().replace(GO_TO, 'nav2_msgs/action/NavigateToPose'))
    try:
        assert RosClient.wait_for(lambda: 'brain ready' in elsewhere.output(), 60), elsewhere.output()
        assert elsewhere.alive()
    finally:
        elsewhere.stop()
    assert ("skill 'go_to': action.type: nav2_msgs/action/NavigateToPose: package nav2_msgs is not "
            'installed') in elsewhere.output(), elsewhere.output()


# ============================================================== a node killed and respawned

@pytest.fixture(scope='module')
def assistant(tmp_path_factory, speech):
    """The whole graph (the README's way), as in test_e2e_voice."""
    tmp = tmp_path_factory.mktemp('faults-graph')
    port = free_port()
    overrides = graph_overrides(port, {'source': 'file', 'file_path': str(tmp / 'none.wav')},
                                tts={'record_dir': str(tmp / 'replies')})
    graph = Graph(ROOT_CONFIG, tmp / 'logs', overrides)
    monitor = GraphMonitor()
    try:
        graph.start([name for name in graph.node_names if name != 'capture'])
        assert monitor.wait_ready(timeout=180, poll=graph.poll), 'graph not ready; logs in ' + str(tmp)
        yield Assistant(graph, monitor, speech, tmp, tmp / 'replies')
    finally:
        monitor.close()
        graph.stop()


@pytest.mark.models
def test_stt_killed_is_respawned_and_the_next_spoken_question_is_answered(assistant):
    graph, monitor = assistant.graph, assistant.monitor
    pid = graph.processes['stt'].process.pid
    killed = time.monotonic()
    graph.kill('stt')
    assert any(event.startswith('node stt died') for event in graph.poll())
    assert graph.processes['stt'].process.pid != pid and graph.processes['stt'].starts == 2

    def stt_reports_again():
        return any(s.name == '/heisenberg/stt: speech-to-text'
                   for array in monitor.of('diagnostics', killed) for s in array.status)
    assert monitor.wait_for(stt_reports_again, 60, poll=graph.poll), 'respawned stt never reported'

    start = assistant.say('Hey Jarvis. What is the capital of France?')
    assert assistant.wait_turn_over(start), monitor.state_names(start)
    transcripts = [t for t in monitor.of('transcript', start) if t.is_final]
    assert transcripts and 'france' in transcripts[-1].text.lower()
    assert 'paris' in assistant.reply_text(start).lower()
