"""The whole assistant, end to end: real audio in, real models, real llama-server, real DDS.

The graph is started the README's way (heisenberg_bringup.graph, the same nodes and
config/assistant.yaml as the launch file); each scenario plays a Piper-spoken recording
through the capture node's file source, as a microphone would hear it.
"""

from __future__ import annotations

import re
import time
import wave

import numpy as np
import pytest
from action_msgs.msg import GoalStatus
from rclpy.parameter import Parameter

from heisenberg_brain.core.llama_server import free_port
from heisenberg_bringup.graph import Graph
from heisenberg_bringup.monitor import GraphMonitor
from heisenberg_common.actions import ActionClient
from heisenberg_common.stamps import seconds_of
from heisenberg_interfaces.action import Respond
from heisenberg_testing.speech import silence, similarity, write_wav
from heisenberg_testing.graph_params import STORYTELLER, graph_overrides
from heisenberg_testing.robot import Robot, go_to_skill
from heisenberg_testing.ros_client import remote_parameters, seen_by

# Whole-graph voice turns, each tried once: no reruns. SmolLM2-135M's greedy answer can change with
# llama-server's cache state, so scenarios assert on what the graph does (transcripts, states,
# audio), and on an answer's words only where the shipped prompt makes it stable.
pytestmark = [pytest.mark.llm, pytest.mark.models]
ROOT_CONFIG = 'config/assistant.yaml'


class Assistant:
    """The running graph plus a monitor, and helpers to speak to it."""

    def __init__(self, graph: Graph, monitor: GraphMonitor, speech, tmp_path, record_dir):
        self.graph = graph
        self.monitor = monitor
        self.speech = speech
        self.tmp_path = tmp_path
        self.record_dir = record_dir
        self._clips = 0
        self._brain_parameters = None   # rclpy's parameter client of the brain, made at first use

    def say(self, *texts: str, pause: float = 0.4) -> float:
        """Play the texts (spoken one after another) through capture; return the start time."""
        parts = [silence(1.5)]  # openWakeWord needs a second of context before the phrase
        for text in texts:
            parts += [self.speech.say(text), silence(pause)]
        self._clips += 1
        path = write_wav(self.tmp_path / f'clip{self._clips}.wav', *parts, silence(2.0))
        started = time.monotonic()
        self.graph.restart('capture', {'source': 'file', 'file_path': str(path), 'pad_silence': True})
        return started

    def wait_state(self, name: str, since: float, timeout: float = 90.0, cause: str | None = None) -> bool:
        def seen():
            return any(s.state_name == name and (cause is None or s.cause == cause)
                       for s in self.monitor.of('state', since))
        return self.monitor.wait_for(seen, timeout, poll=self.graph.poll)

    def wait_turn_over(self, since: float, timeout: float = 120.0) -> bool:
        return self.wait_state('IDLE', since, timeout, cause='SPEECH_FINISHED')

    def set_brain_parameter(self, name: str, value) -> None:
        """As `ros2 param set /heisenberg/brain name value` does it."""
        if self._brain_parameters is None:
            self._brain_parameters = remote_parameters(self.monitor.node, '/heisenberg/brain')
        future = self._brain_parameters.set_parameters([Parameter(name, value=value)])
        assert self.monitor.wait_for(future.done, 10)
        [result] = future.result().results
        assert result.successful, result.reason

    def reply_text(self, since: float) -> str:
        return ''.join(msg.data for msg in self.monitor.of('reply', since))

    def latest_reply_wav(self):
        files = sorted(self.record_dir.glob('*.wav'), key=lambda p: p.stat().st_mtime)
        return files[-1] if files else None


@pytest.fixture(scope='module')
def assistant(tmp_path_factory, speech, models_dir):
    tmp = tmp_path_factory.mktemp('e2e')
    record_dir = tmp / 'replies'
    port = free_port()
    # Two llama-server threads, pinned: the greedy answers these tests check were written against
    # that numeric path (SmolLM2-135M's argmax flips with the thread count).
    quiet = write_wav(tmp / 'quiet.wav', silence(0.5))
    # The robot's own skill: GoTo a named place, served by a stand-in robot under /robot.
    skills = tmp / 'skills.yaml'
    skills.write_text(go_to_skill())
    overrides = graph_overrides(port, {'source': 'file', 'file_path': str(quiet)},
                                tts={'record_dir': str(record_dir)}, llama_server={'threads': 2},
                                # The story goal below asks for 300 tokens and must still be written
                                # when "Hey Jarvis" preempts it: the spoken bound (128) would end it first.
                                brain={'skills_file': str(skills), 'skills_namespace': '/robot',
                                       'max_spoken_tokens': 300})
    graph = Graph(ROOT_CONFIG, tmp / 'logs', overrides)
    monitor = GraphMonitor()
    robot = Robot()
    try:
        graph.start([name for name in graph.node_names if name != 'capture'])
        assert monitor.wait_ready(timeout=180, poll=graph.poll), f'graph not ready; logs in {tmp / "logs"}'
        assistant = Assistant(graph, monitor, speech, tmp, record_dir)
        assistant.robot = robot
        yield assistant
    finally:
        monitor.close()
        graph.stop()
        robot.close()


@pytest.fixture(scope='module')
def whisper(models_dir):
    """The judge of what the robot said: the larger whisper, beam search (accuracy over speed)."""
    from faster_whisper import WhisperModel
    return WhisperModel(str(models_dir / 'whisper-base'), device='cpu', compute_type='int8')


def transcribe(whisper, path) -> str:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 16000
        audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    segments, _ = whisper.transcribe(audio.astype(np.float32) / 32768, beam_size=5, language='en')
    return ' '.join(segment.text for segment in segments)


def _dedupe(states: list[str]) -> list[str]:
    return [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]


def test_a_spoken_question_is_answered_aloud(assistant, whisper):
    start = assistant.say('Hey Jarvis. What is the capital of France?')
    assert assistant.wait_turn_over(start), assistant.monitor.state_names(start)
    assert _dedupe(assistant.monitor.state_names(start)) == ['LISTENING', 'THINKING', 'SPEAKING', 'IDLE']
    transcripts = [t for t in assistant.monitor.of('transcript', start) if t.is_final]
    assert 'capital' in transcripts[-1].text.lower() and 'france' in transcripts[-1].text.lower()
    reply = assistant.reply_text(start)
    assert 'paris' in reply.lower()
    # What was played is that reply: Whisper, judging the recording, writes it down again. (Not
    # always to the letter: SmolLM2's greedy "Le Grand Paris is the capital of France." came
    # back once as "The Grand Pairs ...", so the judge compares the whole sentence.)
    spoken = transcribe(whisper, assistant.latest_reply_wav())
    assert 'paris' in spoken.lower() or similarity(spoken, reply) >= 0.8, (spoken, reply)
    metrics = [m for m in assistant.monitor.of('metrics', start) if m.source == 'voice']
    assert metrics and 0 < metrics[-1].voice_to_voice < 30


def test_the_second_question_uses_the_first(assistant):
    # A fresh conversation: the 135M model loses a fact behind older turns (a bigger GGUF does not).
    # "pizza": whisper tiny.en hears it in every rendition of the voice tried (12 seeds); "banana"
    # came out as "has been Anna" in 4 of 12.
    restarted = time.monotonic()
    assistant.graph.restart('brain')
    assert assistant.wait_state('IDLE', restarted, 60, cause='STARTUP')
    start = assistant.say('Hey Jarvis. The secret word is pizza.')
    assert assistant.wait_turn_over(start)
    start = assistant.say('Hey Jarvis. What is the secret word?')
    assert assistant.wait_turn_over(start)
    assert 'pizza' in assistant.reply_text(start).lower()


def test_hey_jarvis_while_speaking_interrupts_and_the_next_question_is_answered(assistant):
    client = assistant.monitor.node
    respond = ActionClient(client, Respond, 'respond')
    assert respond.wait_for_server(timeout_sec=20) and seen_by(client, '/heisenberg/brain', 20)
    feedback = []
    goal_sent = time.monotonic()
    future = respond.send_goal_async(
        Respond.Goal(prompt='Tell me a long story about a brave little robot.', speak=True, max_tokens=300,
                     session_id='story', personality=STORYTELLER),
        feedback_callback=lambda m: feedback.append(m.feedback))
    assert assistant.monitor.wait_for(future.done, 10)
    handle = future.result()
    assert assistant.wait_state('SPEAKING', goal_sent, 90)
    story_turn = assistant.monitor.of('state', goal_sent)[-1].turn_id

    barge = assistant.say('Hey Jarvis. What is the capital of France?')
    assert assistant.wait_state('LISTENING', barge, 30), assistant.monitor.state_names(goal_sent)
    listening_at = time.monotonic()
    result = handle.get_result_async()
    assert assistant.monitor.wait_for(result.done, 10)
    assert result.result().status == GoalStatus.STATUS_ABORTED
    assert result.result().result.finish_reason == 'cancelled'
    assert 'preempted' in result.result().result.error

    assert assistant.wait_turn_over(barge), assistant.monitor.state_names(barge)
    assert 'paris' in assistant.reply_text(listening_at).lower()
    # The story's audio stopped: no chunk of its utterance plays later than 0.5 s after the brain
    # went to LISTENING. Compared on the nodes' own stamps (tts: playback time, brain: transition
    # time), not on arrival here, which lags when this process is busy synthesizing speech.
    listening = next(s for s in assistant.monitor.of('state', barge) if s.state_name == 'LISTENING')
    interrupted = seconds_of(listening.header.stamp)
    late = [msg for msg in assistant.monitor.of('speech_activity', goal_sent)
            if msg.utterance_id == str(story_turn) and msg.chunk_duration > 0
            and seconds_of(msg.audio_start) > interrupted + 0.5]
    assert late == []
    assert any(msg.flushed for msg in assistant.monitor.of('speech_activity', goal_sent))


def test_respond_while_idle_streams_tokens_and_preempts_a_voice_turn(assistant):
    respond = ActionClient(assistant.monitor.node, Respond, 'respond')
    assert respond.wait_for_server(timeout_sec=20)
    assert seen_by(assistant.monitor.node, '/heisenberg/brain', 20)
    assert assistant.monitor.wait_for(lambda: assistant.monitor.state_names()[-1] == 'IDLE', 60)

    feedback = []
    future = respond.send_goal_async(Respond.Goal(prompt='Name a color.', max_tokens=20, session_id='ops'),
                                     feedback_callback=lambda m: feedback.append(m.feedback))
    assert assistant.monitor.wait_for(future.done, 10)
    result = future.result().get_result_async()
    assert assistant.monitor.wait_for(result.done, 60)
    assert result.result().status == GoalStatus.STATUS_SUCCEEDED
    assert ''.join(f.delta for f in feedback) == result.result().result.text != ''

    # Documented policy: the newest request wins, so a goal during a voice turn preempts it.
    start = assistant.say('Hey Jarvis. Tell me a long story about the sea.')
    assert assistant.wait_state('SPEAKING', start, 90)
    future = respond.send_goal_async(Respond.Goal(prompt='What is two plus two?', max_tokens=20,
                                                  session_id='ops'))
    assert assistant.monitor.wait_for(future.done, 10)
    result = future.result().get_result_async()
    assert assistant.monitor.wait_for(result.done, 60)
    assert result.result().status == GoalStatus.STATUS_SUCCEEDED
    causes = [s.cause for s in assistant.monitor.of('state', start)]
    assert 'RESPOND_GOAL' in causes
    assert re.search(r'\w', result.result().result.text)


def test_a_timer_set_by_voice_rings_aloud_a_few_seconds_later(assistant, whisper):
    start = assistant.say('Hey Jarvis. Set a timer for three seconds.')
    rung = assistant.wait_state('THINKING', start, 60, cause='ANNOUNCEMENT')
    assert rung, assistant.monitor.state_names(start)
    announced = time.monotonic()
    states = assistant.monitor.of('state', start)
    heard = next(s for s in states if s.cause == 'TRANSCRIPTION_FINAL')
    rang = next(s for s in states if s.cause == 'ANNOUNCEMENT')
    assert 'timer' in heard.detail.lower(), heard
    assert 'timer set for 3 seconds' in assistant.reply_text(start).lower(), assistant.reply_text(start)
    assert rang.turn_id == heard.turn_id + 1 and 'timer is done' in rang.detail, rang
    # Three seconds after it was set, not at once (nor never).
    assert 2.5 < seconds_of(rang.header.stamp) - seconds_of(heard.header.stamp) < 10
    assert assistant.wait_turn_over(announced, 60), assistant.monitor.state_names(start)
    spoken = transcribe(whisper, assistant.latest_reply_wav())
    assert 'timer' in spoken.lower(), spoken


def test_go_to_the_kitchen_by_voice_sends_the_goal_and_stop_cancels_it(assistant):
    robot = assistant.robot
    start = assistant.say('Hey Jarvis. Go to the kitchen.')
    goal = robot.goals.get(timeout=60)
    assert (goal.request.place, goal.request.x, goal.request.y) == ('kitchen', 1.0, 2.0)
    assert assistant.wait_turn_over(start), assistant.monitor.state_names(start)
    assert 'going to the kitchen' in assistant.reply_text(start).lower()
    # The state topic shows that a skill, not the LLM, took it.
    shown = [(s.state_name, s.cause, s.detail) for s in assistant.monitor.of('state', start)]
    assert shown[1:4] == [('THINKING', 'TRANSCRIPTION_FINAL', shown[1][2]), ('THINKING', 'SKILL', 'go_to'),
                          ('SPEAKING', 'SPEECH_STARTED', '')], shown

    stop = assistant.say('Hey Jarvis. Stop.')
    assert robot.cancels.get(timeout=60) is goal   # the robot was told to stop
    assert assistant.wait_turn_over(stop), assistant.monitor.state_names(stop)
    assert 'stopped going to the kitchen' in assistant.reply_text(stop).lower(), assistant.reply_text(stop)


def test_a_follow_up_without_the_wake_word_is_answered_and_an_unused_window_closes_quietly(assistant):
    # 10 s, not the shipped 5: the test's microphone is a capture node restarted with the next clip,
    # which takes seconds to play (a robot's microphone is always on).
    assistant.set_brain_parameter('follow_up_seconds', 10.0)
    try:
        start = assistant.say('Hey Jarvis. What is the capital of France?')
        assert assistant.wait_state('LISTENING', start, 120, cause='FOLLOW_UP'), \
            assistant.monitor.state_names(start)
        assert 'paris' in assistant.reply_text(start).lower()
        window = next(s for s in assistant.monitor.of('state', start) if s.cause == 'FOLLOW_UP')
        assert window.listen_window == 10.0 and window.previous_state == window.IDLE, window

        follow_up = assistant.say('What time is it?')   # no "Hey Jarvis"
        assert assistant.wait_turn_over(follow_up), assistant.monitor.state_names(follow_up)
        states = assistant.monitor.of('state', follow_up)
        assert [(s.state_name, s.cause) for s in states][:4] == [
            ('THINKING', 'TRANSCRIPTION_FINAL'), ('THINKING', 'SKILL'), ('SPEAKING', 'SPEECH_STARTED'),
            ('IDLE', 'SPEECH_FINISHED')]
        assert 'time' in states[0].detail.lower() and states[0].turn_id == window.turn_id, states[0]
        assert re.search(r"It's \d{1,2}(:\d\d)? [AP]M\.", assistant.reply_text(follow_up))

        # Its reply opened the window again; nobody speaks: it closes, with nothing said or heard.
        assert assistant.wait_state('IDLE', follow_up, 30, cause='NOTHING_HEARD'), \
            assistant.monitor.state_names(follow_up)
        closed = assistant.monitor.of('state', follow_up)[-1]
        assert closed.detail == 'no follow-up within 10.0 s', closed
        causes = [s.cause for s in assistant.monitor.of('state', follow_up)]
        assert causes[-2:] == ['FOLLOW_UP', 'NOTHING_HEARD'], causes
        heard = [t for t in assistant.monitor.of('transcript', follow_up) if t.is_final]
        assert [t.nothing_heard for t in heard] == [False, True], heard
        assert assistant.reply_text(follow_up).count("It's") == 1   # nothing more was said
    finally:
        assistant.set_brain_parameter('follow_up_seconds', 0.0)
