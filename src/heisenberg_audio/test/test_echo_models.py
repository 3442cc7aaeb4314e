"""Echo handling on real speech with the real models.

Piper's voice played, heard back through a simulated speaker-to-mic path, cancelled by AEC3,
then judged by Silero + the barge-in rule and by openWakeWord + the echo gate, frame by frame
as capture, stt and wake_word run them.
"""

from __future__ import annotations

import numpy as np
import pytest

from heisenberg_audio.core.stt.barge_in import BargeInConfig, BargeInDetector, SpeakingTimeline
from heisenberg_audio.core.echo.canceller import LATENCY, EchoCancelConfig, EchoCanceller, erle_db
from heisenberg_audio.core.echo.gate import EchoGate, EchoGateConfig
from heisenberg_audio.core.echo.reference import ReferenceBuffer
from heisenberg_audio.core.echo.simulation import EchoSimulationConfig, EchoSimulator
from heisenberg_audio.core.stt.vad import SileroVad, SpeechDetector
from heisenberg_audio.core.wake_word import WakeWordConfig, WakeWordDetector
from heisenberg_testing.speech import silence

pytestmark = pytest.mark.models

SR = 16000
T0 = 2000.0
LEAD = 1.0    # s before the robot speaks
ROBOT = ('Once upon a time, a brave little robot lived in a quiet town by the sea. '
         'Every morning it rolled down to the harbour to count the boats and greet the fishermen.')
SELF_WAKE = 'If you need me, just say hey Jarvis, and I will listen to you.'


class Room:
    """The robot's reply played through tts's timeline, and a mic that hears it and the user."""

    def __init__(self, robot: np.ndarray, gain: float = 0.7, delay: float = 0.05, after: float = 1.0):
        self.robot = robot
        self.total = int((LEAD + len(robot) / SR + after) * SR) // 320 * 320
        self.user = np.zeros(self.total, dtype=np.int16)
        self.capture_ref, self.node_ref = ReferenceBuffer(60.0), ReferenceBuffer(60.0)
        self.timeline = SpeakingTimeline()
        start = int(LEAD * SR)
        for offset in range(0, len(robot), 1600):   # tts: 100 ms chunks stamped with playback time
            chunk = robot[offset:offset + 1600]
            for buffer in (self.capture_ref, self.node_ref):
                buffer.add(chunk, T0 + (start + offset) / SR)
            self.timeline.chunk(T0 + (start + offset) / SR, len(chunk) / SR)
        self.timeline.stop(T0 + (start + len(robot)) / SR)
        self.simulator = EchoSimulator(EchoSimulationConfig(gain=gain, delay=delay), self.capture_ref)

    def say(self, audio: np.ndarray, at: float) -> float:
        """The user speaks from `at` s into the run; returns the capture time of the onset."""
        begin = int(at * SR)
        self.user[begin:begin + len(audio)] = audio[:self.total - begin]
        return T0 + at + np.argmax(np.abs(audio) > 300) / SR

    def capture(self, cancel: bool = True):
        """(echo part, mic frames as published with their stamps) after the canceller."""
        canceller = EchoCanceller(EchoCancelConfig(), self.capture_ref) if cancel else None
        echo_part, published = [], []
        for offset in range(0, self.total, 320):
            stamp = T0 + offset / SR
            echo = self.simulator.mix(np.zeros(320, dtype=np.int16), stamp)
            mic = echo.astype(np.int32) + self.user[offset:offset + 320]
            mic = np.clip(mic, -32768, 32767).astype(np.int16)
            lag = 0
            if canceller is not None:
                mic, lag = canceller.process(mic, stamp)
            echo_part.append(echo)
            published.append((mic, stamp - lag / SR))
        return np.concatenate(echo_part), published


@pytest.fixture(scope='module')
def robot(speech):
    return speech.say(ROBOT)


@pytest.fixture(scope='module')
def vad(models_dir):
    return SileroVad(models_dir / 'openwakeword' / 'silero_vad.onnx')


def barge_ins(room: Room, frames, vad: SileroVad, gate_config: EchoGateConfig = EchoGateConfig(),
              config: BargeInConfig = BargeInConfig()) -> list:
    """Barge-ins, tentative onsets and withdrawals found in the captured frames, as stt finds them.

    (The level cue on each frame as it comes, with its excess over the expected echo; then the
    echo verdict on the voiced windows.)
    """
    detector, gate = SpeechDetector(vad), EchoGate(gate_config, room.node_ref)
    detector.reset()
    barge = BargeInDetector(config, room.timeline)
    found = []
    for samples, stamp in frames:
        hits = [barge.hear(samples, stamp, lambda: gate.excess_db(samples, stamp))]
        hits += [barge.push(window, lambda w: gate.is_echo(w.samples, w.start))
                 for window in detector.push(samples, stamp)]
        found += [hit for hit in hits if hit is not None]
    return found


def test_aec3_removes_the_echo_of_piper_speech_and_passes_the_mic_through_when_silent(robot):
    room = Room(robot, gain=0.7, delay=0.05)
    echo, published = room.capture()
    out = np.concatenate([samples for samples, _ in published])
    speaking = slice(int((LEAD + 1.0) * SR), int((LEAD + len(robot) / SR) * SR))
    assert erle_db(echo[speaking], out[speaking]) > 30.0
    # Before the robot speaks the audio is untouched and stamped as captured; engaged, it lags 8 ms.
    assert not out[:int(0.9 * SR)].any()
    assert published[0][1] == T0
    assert published[int(2.0 * SR) // 320][1] == pytest.approx(T0 + 2.0 - LATENCY / SR)


def test_the_users_voice_survives_the_canceller(robot, speech, vad):
    room = Room(robot, gain=0.7, delay=0.05)
    user = speech.say('What is the capital of France?')
    room.say(user, 4.0)
    _, published = room.capture()
    out = np.concatenate([samples for samples, _ in published])
    begin = int(4.0 * SR) + LATENCY
    heard = out[begin:begin + len(user)]
    # Double talk: AEC3's suppressor takes a few dB off the user's voice (~5-9 dB here; enough to
    # garble whisper while the robot talks on, which is why barge-in stops it), not all of it.
    assert erle_db(user[:len(heard)], heard) < 12.0
    detector = SpeechDetector(vad)
    detector.reset()
    voiced = [w.prob >= 0.5 for w in detector.push(heard, 0.0)]
    detector.reset()
    clean = [w.prob >= 0.5 for w in detector.push(user, 0.0)]
    assert sum(voiced) >= 0.4 * sum(clean)   # ~0.5-0.8 seen


def test_echo_alone_never_barges_in_and_the_user_does(robot, speech, vad):
    room = Room(robot, gain=1.0, delay=0.08)
    assert barge_ins(room, room.capture()[1], vad) == []

    onset = room.say(speech.say('Stop. What is the capital of France?'), 4.0)
    hits = barge_ins(room, room.capture()[1], vad)
    found = [hit for hit in hits if hit.confirmed]
    assert len(found) == 1
    # A tentative onset (tts pauses) came first, from the same stretch of speech.
    paused = [hit for hit in hits if hit.tentative]
    assert paused and paused[0].detected_at < found[0].detected_at
    assert onset - 0.1 < paused[0].onset < onset + 1.0
    # On "Stop." itself, or on "What" when Piper said "Stop." in under 0.2 s of voiced audio.
    assert onset - 0.1 < found[0].onset < onset + 1.0 and found[0].detected_at - onset < 1.5


def test_the_level_cue_pauses_sooner_through_the_canceller_and_never_on_the_echo(robot, speech, vad):
    """The same captured frames judged with the level cue (shipped) and without it (pause_after only).

    Through AEC3 under double talk Silero scores the user's first loud windows low; the cue hears them,
    and from 20 ms frames rather than 32 ms windows.
    """
    room = Room(robot, gain=0.7, delay=0.05)
    assert barge_ins(room, room.capture()[1], vad) == []   # no onset, no withdrawal on the echo alone
    sooner = 0
    for at in (1.5, 2.5, 3.5, 4.5, 5.5):
        room = Room(robot, gain=0.7, delay=0.05)
        onset = room.say(speech.say('Stop. What is the capital of France?'), at)
        frames = room.capture()[1]
        shipped, before = ([h for h in barge_ins(room, frames, vad, config=config) if h.tentative]
                           for config in (BargeInConfig(), BargeInConfig(cue_excess_db=0.0)))
        assert shipped and before, at
        assert onset < shipped[0].detected_at <= before[0].detected_at, at
        sooner += shipped[0].detected_at < before[0].detected_at
    assert sooner >= 2


def test_without_a_canceller_the_gate_alone_keeps_the_echo_out(robot, vad):
    room = Room(robot, gain=0.7, delay=0.05)
    frames = room.capture(cancel=False)[1]
    assert barge_ins(room, frames, vad, EchoGateConfig(enabled=False)) != []   # the raw echo interrupts
    assert barge_ins(room, frames, vad, EchoGateConfig(echo_level_db=0.0)) == []


def wake_words(room: Room, frames, models_dir, gate_config: EchoGateConfig) -> list[tuple[float, bool]]:
    """(capture time where openWakeWord fired, dropped as echo) for each detection."""
    detector = WakeWordDetector(WakeWordConfig(models_dir=str(models_dir)))
    gate = EchoGate(gate_config, room.node_ref)
    found = []
    for samples, stamp in frames:
        gate.observe(samples, stamp)
        for detection in detector.process(samples, int(round(stamp * 1e9))):
            end = detection.stamp_ns / 1e9
            found.append((end, gate.phrase_is_echo(end - 1.0, end)))
    return found


def kept(found: list[tuple[float, bool]]) -> int:
    return sum(not dropped for _, dropped in found)


def test_the_robot_saying_hey_jarvis_does_not_wake_it_but_the_user_does(speech, models_dir):
    robot = np.concatenate([silence(0.5), speech.say(SELF_WAKE)])
    room = Room(robot, gain=0.7, delay=0.05)
    # Raw echo: openWakeWord fires on the robot's own "hey Jarvis"; the gate alone drops it.
    raw = room.capture(cancel=False)[1]
    assert kept(wake_words(room, raw, models_dir, EchoGateConfig(enabled=False))) >= 1
    assert kept(wake_words(room, raw, models_dir, EchoGateConfig(echo_level_db=0.0))) == 0
    assert kept(wake_words(room, room.capture()[1], models_dir, EchoGateConfig())) == 0

    # The user's "Hey Jarvis" over the robot's voice, at 12 places in its speech: the gate never
    # drops it and never keeps the robot's own; openWakeWord hears it through AEC3 most of the
    # time. Double talk costs it a few dB: ~1 place in 4 misses here (which ones depends on the
    # rendition of the voice), hence many places and a loose bound rather than three picked ones.
    heard = []
    for at in np.arange(2.0, 8.0, 0.5):
        room = Room(np.concatenate([robot, robot]), gain=0.7, delay=0.05)
        onset = room.say(speech.say('Hey Jarvis. What time is it?'), LEAD + at)
        found = wake_words(room, room.capture()[1], models_dir, EchoGateConfig())
        users = [dropped for end, dropped in found if onset < end < onset + 1.5]
        robots = [dropped for end, dropped in found if not onset < end < onset + 1.5]
        assert not any(users), f"the gate dropped the user's wake word at {at} s: {found}"
        assert all(robots), f'the robot\'s own "hey Jarvis" woke it at {at} s: {found}'
        heard.append(bool(users))
    assert sum(heard) >= 6, heard
