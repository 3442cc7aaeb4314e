"""The stt node as a real process over real DDS, fed real-time audio and wake word events.

The test process plays the part of capture and wake_word: it publishes 20 ms
AudioDataStamped frames at real-time pace (stamped with their capture time) and a
WakeWordDetection stamped just after "Hey Jarvis." ends, as openWakeWord fires. For the
follow-up window it plays the brain too, publishing the AssistantState that opens it.
"""

from __future__ import annotations

import re
import time

from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from heisenberg_interfaces.msg import AssistantState, BargeIn, SpeechActivity, Transcript, WakeWordDetection
import numpy as np
import pytest

from heisenberg_audio.core.audio_format import AudioFormat, SAMPLE_RATE
from heisenberg_audio.nodes.audio_messages import audio_message, info_message
from heisenberg_common.qos import AUDIO_IN, AUDIO_OUT, EVENTS, LATCHED, STATE
from heisenberg_common.stamps import seconds_of, time_msg
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient
from heisenberg_testing.speech import silence

FRAME = 320  # 20 ms
ECHO_GAIN, ECHO_DELAY = 0.5, 0.03   # the robot's reply heard at the mic: -6 dB, 30 ms late

pytestmark = pytest.mark.models


class AudioFeeder:
    """The test's capture + wake_word stand-in, and a listener for what stt publishes."""

    def __init__(self, client: RosClient):
        node = client.node
        self.audio = node.create_publisher(AudioDataStamped, 'audio/in', AUDIO_IN)
        self.info = node.create_publisher(AudioInfo, 'audio/info', LATCHED)
        self.wake = node.create_publisher(WakeWordDetection, 'wake_word', EVENTS)
        self.played = node.create_publisher(AudioDataStamped, 'audio/out', AUDIO_OUT)
        self.activity = node.create_publisher(SpeechActivity, 'speech_activity', EVENTS)
        self.state = node.create_publisher(AssistantState, 'state', STATE)
        self.transcripts: list[tuple[float, Transcript]] = []
        self.barge_ins: list[BargeIn] = []
        node.create_subscription(BargeIn, 'barge_in', self.barge_ins.append, EVENTS)
        self.diagnostics: list[DiagnosticStatus] = []
        node.create_subscription(Transcript, 'transcript',
                                 lambda m: self.transcripts.append((time.time(), m)), EVENTS)
        node.create_subscription(DiagnosticArray, '/diagnostics',
                                 lambda m: self.diagnostics.extend(m.status), 10)
        self.node = node

    def connected(self) -> bool:
        return (self.audio.get_subscription_count() > 0 and self.wake.get_subscription_count() > 0
                and self.state.get_subscription_count() > 0 and self.node.count_publishers('transcript') > 0)

    def announce(self, fmt: AudioFormat = AudioFormat()) -> None:
        self.info.publish(info_message(fmt))

    def robot_spoke(self, start: float, duration: float) -> None:
        """Say that tts played one chunk of a reply from start and stopped (its queue ran dry)."""
        self.activity.publish(SpeechActivity(speaking=True, utterance_id='1', text='One day,',
                                             audio_start=time_msg(start), chunk_duration=duration))
        self.activity.publish(SpeechActivity(speaking=False, utterance_id='1',
                                             audio_start=time_msg(start + duration)))

    def send_state(self, name: str, cause: str, stamp: float, listen_window: float = 0.0) -> None:
        """The brain's transition, stamped at stamp (a little ahead of now: the window opens then)."""
        msg = AssistantState(state=getattr(AssistantState, name), state_name=name, cause=cause,
                             listen_window=listen_window)
        msg.header.stamp = time_msg(stamp)
        self.state.publish(msg)

    def send_wake(self, stamp: float) -> None:
        msg = WakeWordDetection(keyword='hey_jarvis', score=0.99, threshold=0.5)
        msg.header.stamp = time_msg(stamp)
        self.wake.publish(msg)

    def play(self, audio: np.ndarray, wake_at: float | None = None, wake_delay: float = 0.2,
             robot: tuple[np.ndarray, float] | None = None) -> float:
        """Stream audio in real time and return the capture time of audio[0].

        The wake word fires wake_at s into the audio; its message goes out wake_delay s later.
        robot = (reply audio, at): the robot plays it from at s into the audio, as tts would (on
        audio/out, 0.3 s ahead), and the mic hears it ECHO_DELAY s later at ECHO_GAIN.
        """
        t0 = time.time()
        clock0 = time.monotonic()
        wake_pending = wake_at is not None
        if robot is not None:
            reply, at = robot
            echo_at = int((at + ECHO_DELAY) * SAMPLE_RATE)
            audio = np.concatenate([audio, np.zeros(max(0, echo_at + len(reply) - len(audio)), np.int16)])
            mixed = audio[echo_at:echo_at + len(reply)] + ECHO_GAIN * reply
            audio[echo_at:echo_at + len(reply)] = np.clip(mixed, -32768, 32767).astype(np.int16)
        reference_pending = robot is not None
        for start in range(0, len(audio), FRAME):
            if reference_pending and start / SAMPLE_RATE >= at - 0.3:
                self.played.publish(audio_message(reply, time_msg(t0 + at)))
                reference_pending = False
            # A frame leaves when its last sample has been captured.
            delay = clock0 + (start + FRAME) / SAMPLE_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.audio.publish(audio_message(audio[start:start + FRAME], time_msg(t0 + start / SAMPLE_RATE)))
            if wake_pending and (start + FRAME) / SAMPLE_RATE >= wake_at + wake_delay:
                self.send_wake(t0 + wake_at)
                wake_pending = False
        return t0

    def wait_transcripts(self, count: int, timeout: float) -> list[Transcript]:
        RosClient.wait_for(lambda: len(self.transcripts) >= count, timeout)
        return [m for _, m in self.transcripts]


def question_audio(speech, question: str = 'What is the capital of France?', lead: float = 0.5,
                   tail: float = 1.5):
    """Return audio of "Hey Jarvis. <question>", the wake time, the question's onset and end (s)."""
    phrase = speech.say('Hey Jarvis.')
    asked = speech.say(question)
    audio = np.concatenate([silence(lead), phrase, asked, silence(tail)])
    wake_at = lead + len(phrase) / SAMPLE_RATE + 0.05
    loud = np.nonzero(np.abs(asked.astype(np.int32)) > 300)[0]  # Piper pads its sentences with silence
    onset = lead + (len(phrase) + loud[0]) / SAMPLE_RATE
    speech_end = lead + (len(phrase) + loud[-1] + 1) / SAMPLE_RATE
    return audio, wake_at, onset, speech_end


@pytest.fixture(scope='module')
def stt(models_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('stt')
    # No echo canceller in front of this stt: the robot's echo is expected at its played level.
    params = write_params(tmp / 'stt.yaml', 'stt', {'model_dir': str(models_dir / 'whisper-tiny.en'),
                                                    'echo.echo_level_db': 0.0})
    node = NodeProcess('heisenberg_audio.nodes.stt', 'stt', params_files=(params,), log_dir=tmp)
    client = RosClient('stt_test_client')
    feeder = AudioFeeder(client)
    try:
        assert RosClient.wait_for(feeder.connected, 90), 'stt never came up:\n' + node.output()
        feeder.announce()
        yield node, feeder
    finally:
        client.close()
        assert node.stop() in (0, -2), node.output()


def test_wake_word_and_question_give_one_final_transcript(stt, speech):
    node, feeder = stt
    feeder.transcripts.clear()
    audio, wake_at, onset, speech_end = question_audio(speech)
    t0 = feeder.play(audio, wake_at=wake_at)
    (msg,) = feeder.wait_transcripts(1, 15)
    time.sleep(1.0)  # and nothing else follows
    assert len(feeder.transcripts) == 1, [m for _, m in feeder.transcripts]
    assert msg.is_final and not msg.nothing_heard, msg
    text = msg.text.lower()
    assert 'capital' in text and 'france' in text and 'jarvis' not in text, msg.text
    assert msg.language == 'en' and msg.turn_id >= 1
    assert abs(seconds_of(msg.speech_end) - (t0 + speech_end)) < 0.25
    assert seconds_of(msg.speech_start) < t0 + onset + 0.1  # the question's first syllable is kept
    # the turn model heard a finished question: the turn ends 0.15 s into the silence, not 1 s
    assert 0.15 <= msg.endpoint_delay < 0.25 and msg.transcribe_time > 0
    assert f'turn {msg.turn_id}: "' in node.output() and 'turn_complete (turn model 0.9' in node.output()


def test_a_pause_mid_question_does_not_end_the_turn(stt, speech):
    """A hesitation ("What is, um,"), 0.6 s of silence, then the rest: one transcript of it all."""
    node, feeder = stt
    feeder.transcripts.clear()
    audio, wake_at, _, _ = question_audio(speech, 'What is, um,', tail=0.6)
    audio = np.concatenate([audio, speech.say('the capital of France?'), silence(2.0)])
    feeder.play(audio, wake_at=wake_at)
    (msg,) = feeder.wait_transcripts(1, 15)
    time.sleep(1.0)
    assert len(feeder.transcripts) == 1, [m for _, m in feeder.transcripts]
    # The words on both sides of the pause (what whisper-tiny makes of "France" after it varies
    # with where the VAD windows fall: "France", "friends").
    text = msg.text.lower()
    assert text.startswith('what is') and 'the capital of' in text, msg.text


def test_a_pause_after_hey_jarvis_waits_for_the_question(stt, speech):
    """The wake word fires before "Jarvis" has died away, then the user pauses for 1.5 s.

    Longer than end_of_speech_silence: the turn model heard no finished request, but the
    silence ends the utterance anyway, and only whisper can tell it held just the wake phrase.
    """
    node, feeder = stt
    feeder.transcripts.clear()
    phrase = speech.say('Hey Jarvis.')
    loud = np.nonzero(np.abs(phrase.astype(np.int32)) > 300)[0]
    audio = np.concatenate([silence(0.5), phrase, silence(1.5), speech.say('What time is it?'), silence(1.5)])
    t0 = feeder.play(audio, wake_at=0.5 + loud[-1] / SAMPLE_RATE - 0.15)
    (msg,) = feeder.wait_transcripts(1, 15)
    time.sleep(1.0)
    assert len(feeder.transcripts) == 1, [m for _, m in feeder.transcripts]
    assert not msg.nothing_heard and 'time' in msg.text.lower() and 'jarvis' not in msg.text.lower(), msg
    assert seconds_of(msg.speech_start) > t0 + 0.5 + len(phrase) / SAMPLE_RATE + 0.5   # the question's
    assert re.search(r"only the wake phrase: 'Hey,? Jarvis[.!]?'; still listening for the question",
                     node.output())


def test_the_robots_reply_heard_by_the_mic_is_not_the_users_words(stt, speech):
    """The reply starts while the turn could still be reopened, and plays on after it closed.

    Its echo (no canceller, -6 dB) is as voiced as the user to the VAD: taken for the user, it
    would reopen the turn (BargeIn 'continued') and a second transcript would hold its words.
    """
    node, feeder = stt
    feeder.transcripts.clear()
    feeder.barge_ins.clear()
    audio, wake_at, _, speech_end = question_audio(speech, tail=4.5)
    reply = speech.say('The capital of France is Paris. It is a lovely city on the river Seine.')
    feeder.play(audio, wake_at=wake_at, robot=(reply, speech_end + 0.5))
    feeder.wait_transcripts(1, 15)
    time.sleep(1.5)
    assert len(feeder.transcripts) == 1, [m for _, m in feeder.transcripts]
    msg = feeder.transcripts[0][1]
    text = msg.text.lower()
    assert 'capital' in text and 'france' in text and 'paris' not in text, msg.text
    assert feeder.barge_ins == []
    assert 'listening again' not in node.output()


@pytest.mark.parametrize('reply_ended', [False, True])
def test_the_user_speaking_in_a_pause_of_the_reply_interrupts_it(stt, speech, reply_ended):
    """The reply's first sentence has played and the next is late (a slow LLM or Piper).

    While the brain still says SPEAKING, the user who talks in that pause interrupts (no wake
    word needed) and is transcribed; once the reply has ended, talking is no interruption.
    """
    node, feeder = stt
    feeder.transcripts.clear()
    feeder.barge_ins.clear()
    start = time.time()
    feeder.send_state('SPEAKING', 'SPEECH_STARTED', start)
    feeder.robot_spoke(start, 1.0)
    if reply_ended:
        feeder.send_state('IDLE', 'SPEECH_FINISHED', start + 1.2)
    question = speech.say('What is the capital of France?')
    try:
        feeder.play(np.concatenate([silence(2.0), question, silence(2.0)]))
        if reply_ended:
            time.sleep(1.0)
            assert feeder.barge_ins == [] and feeder.transcripts == []
            return
        (msg,) = feeder.wait_transcripts(1, 10)
        assert [b.source for b in feeder.barge_ins] == ['onset', 'vad']   # tentative, then confirmed
        assert 'capital' in msg.text.lower(), msg.text
    finally:
        feeder.send_state('IDLE', 'SPEECH_FINISHED', time.time())


def test_wake_word_then_silence_is_nothing_heard(stt):
    node, feeder = stt
    feeder.transcripts.clear()
    feeder.play(silence(6.0), wake_at=0.2)
    (msg,) = feeder.wait_transcripts(1, 5)
    assert msg.is_final and msg.nothing_heard and msg.text == ''
    assert 'no speech within 5.0 s' in msg.reason
    assert f'turn {msg.turn_id}: nothing heard: no speech' in node.output()


def test_a_follow_up_in_the_window_is_transcribed_without_the_wake_word(stt, speech):
    node, feeder = stt
    feeder.transcripts.clear()
    question = speech.say('What time is it?')
    feeder.send_state('LISTENING', 'FOLLOW_UP', time.time() + 0.2, listen_window=3.0)
    feeder.play(np.concatenate([silence(1.0), question, silence(1.5)]))
    (msg,) = feeder.wait_transcripts(1, 15)
    time.sleep(0.5)
    assert len(feeder.transcripts) == 1, [m for _, m in feeder.transcripts]
    assert not msg.nothing_heard and 'time' in msg.text.lower(), msg
    assert 'follow-up window: listening 3 s' in node.output()


def test_a_follow_up_window_nobody_speaks_in_ends_as_nothing_heard_even_with_the_robots_voice_tail(
        stt, speech):
    """The window opens while the last 0.6 s of the reply still reaches the mic (-6 dB, no canceller).

    Taken for the user's voice, that tail would open the turn and be transcribed as a question.
    """
    node, feeder = stt
    feeder.transcripts.clear()
    reply = speech.say('The capital of France is Paris.')
    voice_end = (np.nonzero(np.abs(reply.astype(np.int32)) > 300)[0][-1] + 1) / SAMPLE_RATE  # Piper pads
    feeder.send_state('LISTENING', 'FOLLOW_UP', time.time() + 0.3 + voice_end - 0.6, listen_window=2.0)
    feeder.play(silence(len(reply) / SAMPLE_RATE + 3.0), robot=(reply, 0.3))
    (msg,) = feeder.wait_transcripts(1, 10)
    assert msg.nothing_heard and msg.text == '' and msg.reason == 'no follow-up within 2.0 s', msg


def test_a_respond_goal_closes_the_window_before_anyone_speaks(stt, speech):
    node, feeder = stt
    feeder.transcripts.clear()
    now = time.time()
    feeder.send_state('LISTENING', 'FOLLOW_UP', now, listen_window=4.0)
    feeder.send_state('THINKING', 'RESPOND_GOAL', now + 0.05)
    feeder.play(np.concatenate([silence(0.8), speech.say('What time is it?'), silence(1.5)]))
    time.sleep(1.0)
    assert feeder.transcripts == []   # the question without a window or wake word is not a turn
    assert 'follow-up window closed unused (the assistant is THINKING by RESPOND_GOAL)' in node.output()


def test_unusable_format_is_a_clear_error_and_the_node_lives(stt):
    node, feeder = stt
    feeder.diagnostics.clear()
    feeder.announce(AudioFormat(sample_rate=8000))
    feeder.play(silence(0.5))
    assert RosClient.wait_for(lambda: any(
        s.level == DiagnosticStatus.ERROR and '8000 Hz' in s.message for s in feeder.diagnostics), 5)
    assert node.alive()
    assert 'audio/in is unusable: expected 16000 Hz' in node.output()

    # A wake word now cannot be listened to: nothing heard at once, with the reason.
    feeder.transcripts.clear()
    feeder.send_wake(time.time())
    (msg,) = feeder.wait_transcripts(1, 5)
    assert msg.nothing_heard and 'unusable' in msg.reason

    feeder.announce()  # back to the graph format: audio is accepted again
    feeder.diagnostics.clear()
    feeder.play(silence(1.5))
    assert RosClient.wait_for(lambda: any(s.level == DiagnosticStatus.OK for s in feeder.diagnostics), 5)
    assert node.alive()
