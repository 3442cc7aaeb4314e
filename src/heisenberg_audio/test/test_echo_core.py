"""Echo handling, pure parts, as case tables (no models, no ROS).

The playback timeline, the simulated speaker, the level gate, the speaking timeline, the
barge-in rule and the echo path check.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from heisenberg_audio.core.capture.config import CaptureConfig
from heisenberg_audio.core.stt.barge_in import BargeInConfig, BargeInDetector, SpeakingTimeline
from heisenberg_audio.core.echo.canceller import EchoCancelConfig, EchoPath, EchoPathDetector, erle_db
from heisenberg_audio.core.echo.gate import EchoGate, EchoGateConfig
from heisenberg_audio.core.echo.reference import ReferenceBuffer, level_db
from heisenberg_audio.core.echo.simulation import EchoSimulationConfig, EchoSimulator
from heisenberg_audio.core.stt.endpointing import VadFrame
from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.wake_word import WakeWordConfig

SR = 16000
T0 = 5000.0


def tone(seconds: float, amplitude: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def ramp(n: int, start: int = 1) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.int16)


# -- ReferenceBuffer --------------------------------------------------------------------

@pytest.mark.parametrize('read_from, count, expected', [
    (0, 4, [1, 2, 3, 4]),                 # inside the first chunk
    (-2, 4, [0, 0, 1, 2]),                # before anything played: zeros
    (8, 4, [9, 10, 101, 102]),            # across two contiguous chunks
    (18, 6, [0, 0, 0, 0, 0, 0]),          # the gap between chunks
    (26, 6, [203, 204, 205, 206, 0, 0]),  # off the end
])
def test_reference_reads_what_played_by_stamp(read_from, count, expected):
    buffer = ReferenceBuffer()
    buffer.add(ramp(10, 1), T0)
    buffer.add(ramp(6, 101), T0 + 10 / SR)
    buffer.add(ramp(6, 201), T0 + 24 / SR)
    assert buffer.read(T0 + read_from / SR, count).tolist() == expected


def test_reference_later_chunk_wins_and_old_audio_is_forgotten():
    buffer = ReferenceBuffer(horizon=1.0)
    buffer.add(ramp(4, 1), T0)
    buffer.add(np.full(2, 50, dtype=np.int16), T0 + 1 / SR)
    assert buffer.read(T0, 4).tolist() == [1, 50, 50, 4]
    buffer.add(np.zeros(SR, dtype=np.int16), T0 + 3.0)
    assert buffer.read(T0, 4).tolist() == [0, 0, 0, 0]
    assert buffer.playing(T0 + 3.5, T0 + 3.6) and not buffer.playing(T0, T0 + 1.0)
    assert buffer.end == pytest.approx(T0 + 4.0)


# -- EchoSimulator ----------------------------------------------------------------------

def test_simulated_echo_is_the_played_audio_delayed_and_scaled():
    buffer = ReferenceBuffer()
    played = tone(0.5, 0.5)
    buffer.add(played, T0)
    simulator = EchoSimulator(EchoSimulationConfig(gain=0.5, delay=0.01), buffer)
    mic = np.full(320, 100, dtype=np.int16)
    mixed = simulator.mix(mic, T0 + 0.1)
    expected = 100 + 0.5 * played[int(0.09 * SR):int(0.09 * SR) + 320].astype(float)
    assert np.abs(mixed - expected).max() <= 1
    loud = EchoSimulator(EchoSimulationConfig(gain=4.0, delay=0.0), buffer).mix(mic, T0 + 0.1)
    assert loud.max() == 32767  # clipped, not wrapped


# -- EchoGate -----------------------------------------------------------------------------

@pytest.mark.parametrize('mic_amplitude, at, echo', [
    (0.5, 0.5, False),      # as loud as the speaker: the user over a -35 dB echo
    (0.005, 0.5, True),     # -40 dB under the reference: what an echo behind AEC sounds like
    (0.02, 0.5, True),      # -28 dB: 7 dB over the expected echo, under the 10 dB margin
    (0.005, 1.2, True),     # 0.2 s after the last played sample: inside the 0.3 s tail
    (0.005, 1.4, False),    # past the tail: nothing is gated
    (0.0001, -1.0, False),  # before the robot spoke
])
def test_gate_passes_only_sound_clearly_above_the_expected_echo(mic_amplitude, at, echo):
    gate = EchoGate(EchoGateConfig(echo_level_db=-35.0, margin_db=10.0, tail=0.3))
    gate.add_reference(tone(1.0, 0.5), T0)
    assert gate.is_echo(tone(0.032, mic_amplitude, 300.0), T0 + at) is echo


def test_gate_disabled_or_quiet_reference_expects_no_echo():
    gate = EchoGate(EchoGateConfig(enabled=False))
    gate.add_reference(tone(1.0, 0.5), T0)
    assert gate.expected_echo_db(T0, T0 + 0.032) is None
    quiet = EchoGate(EchoGateConfig())
    quiet.add_reference(np.zeros(SR, dtype=np.int16), T0)
    assert not quiet.is_echo(tone(0.032, 0.001), T0 + 0.5)  # silence played: no echo to expect


def test_gate_judges_a_phrase_by_its_loud_part():
    gate = EchoGate(EchoGateConfig(echo_level_db=0.0, margin_db=6.0))
    gate.add_reference(tone(2.0, 0.3), T0)
    for k in range(100):  # 2 s of 20 ms frames: echo-level sound, then the user, much louder
        amplitude = 0.25 if k < 50 else 0.9
        gate.observe(tone(0.02, amplitude, 300.0), T0 + k * 0.02)
    assert gate.phrase_is_echo(T0, T0 + 0.9)            # only the echo-level part
    assert not gate.phrase_is_echo(T0 + 0.5, T0 + 1.9)  # its loud part is the user
    assert not gate.phrase_is_echo(T0 + 10, T0 + 11)    # nothing observed there


def test_level_and_erle_helpers():
    assert level_db(tone(0.1, 1.0)) == pytest.approx(-3.0, abs=0.1)
    assert level_db(np.zeros(10, dtype=np.int16)) == -120.0
    assert erle_db(tone(0.1, 0.5), tone(0.1, 0.005)) == pytest.approx(40.0, abs=0.1)


# -- SpeakingTimeline and BargeInDetector -------------------------------------------------

def frame(at: float, prob: float) -> VadFrame:
    return VadFrame(np.zeros(512, dtype=np.int16), T0 + at, prob)


def speaking(start: float = 0.0, end: float | None = 10.0) -> SpeakingTimeline:
    timeline = SpeakingTimeline()
    for k in range(int(((end if end is not None else start + 2.0) - start) / 0.1)):
        timeline.chunk(T0 + start + k * 0.1, 0.1)
    if end is not None:
        timeline.stop(T0 + end)
    return timeline


@pytest.mark.parametrize('probs, fires_at_window', [
    ([0.9] * 7, 6),                                   # 7 x 32 ms = 0.224 s >= 0.2 s
    ([0.9] * 6, None),                                # 0.192 s: too short
    ([0.9] * 4 + [0.1] * 10 + [0.9] * 3, 16),         # "Stop. What": a 0.32 s pause is bridged
    ([0.9] * 4 + [0.1] * 17 + [0.9] * 3, None),       # a 0.54 s pause starts it over
    ([0.45] * 20, None),                              # under the threshold
])
def test_barge_in_needs_min_speech_with_short_gaps(probs, fires_at_window):
    detector = BargeInDetector(BargeInConfig(threshold=0.5, min_speech=0.2, max_gap=0.5), speaking())
    hits = [detector.push(frame(1.0 + k * 0.032, p), lambda f: False) for k, p in enumerate(probs)]
    fired = [k for k, hit in enumerate(hits) if hit is not None and hit.confirmed]
    assert fired == ([] if fires_at_window is None else [fires_at_window])


# Windows of 32 ms, each also heard as one mic chunk before Silero scores it: 'S' counted speech,
# '.' silence or under the threshold, 'e' the robot's echo; for the level cue (at -13 dBFS, louder
# than the expected echo by 'excess' dB): 'L' loud, not counted (Silero 0.3: the user's first sound
# through AEC3), 'V' loud and counted, 'm' loud but only 15 dB over the robot's expected echo.
# Expected: 'o' a tentative onset (BargeIn 'onset', tts pauses), 'w' its withdrawal (tts resumes),
# 'B' the confirmed barge-in. The shipped withdraw_after (0.2 s) is 7 windows without either, max_gap
# (0.5 s) 16.
WINDOWS = {'S': (0.9, 0.0, 0.0), '.': (0.1, 0.0, 0.0), 'e': (0.9, 0.0, 0.0),
           'L': (0.3, 0.3, 30.0), 'V': (0.9, 0.3, 30.0), 'm': (0.3, 0.3, 15.0)}   # prob, amplitude, excess


def windows_seen(windows: str, config: BargeInConfig) -> str:
    detector = BargeInDetector(config, speaking())
    for k in range(16):   # 0.5 s of the stream heard before (the cue's background)
        assert detector.hear(tone(0.032, 0.0), T0 + 0.488 + k * 0.032, lambda: 0.0) is None
    got = ''
    for k, kind in enumerate(windows):
        prob, amplitude, excess = WINDOWS[kind]
        samples, start = tone(0.032, amplitude), T0 + 1.0 + k * 0.032
        hits = [detector.hear(samples, start, lambda: excess),
                detector.push(VadFrame(samples, start, prob), lambda f: kind == 'e')]
        hits = [hit for hit in hits if hit is not None]
        assert len(hits) <= 1, hits
        got += {'onset': 'o', 'withdrawn': 'w', 'vad': 'B'}[hits[0].source] if hits else '.'
    assert detector.onsets == got.count('o') and detector.withdrawals == got.count('w')
    return got


@pytest.mark.parametrize('windows, expected, pause_after', [
    ('SSSSSSSS', '.o....B.', 0.064),    # onset after 2 windows (64 ms), confirmed at 7 (224 ms)
    ('SSSSSSSS', '......B.', 0.0),      # pause_after 0: not by counted speech (no loud window either)
    ('SS......', '.o......', 0.064),    # a short word: paused, not confirmed ...
    ('SS' + '.' * 16, '.o' + '.' * 15 + 'w', 0.064),    # ... withdrawn once its stretch ends (max_gap)
    ('SS' + '.' * 9 + 'SSSSSSS', '.o' + '.' * 9 + '....B..', 0.064),   # "Stop. What": held through the pause
    ('S.......', '........', 0.064),    # one window: not even a pause
    ('eeeeeeee', '........', 0.064),    # the robot's own voice never pauses it
    ('SeSeSeSe', '..o.....', 0.064),    # echo windows do not count, nor break the stretch
    ('SS' + '.' * 17 + 'SSSSSSS', '.o' + '.' * 15 + 'w..o....B', 0.064),   # a gap > max_gap: a new onset
    ('SSSSSSSS', '..o...B.', 0.09),     # 90 ms: the third window
])
def test_barge_in_pauses_at_pause_after_and_confirms_at_min_speech(windows, expected, pause_after):
    config = BargeInConfig(min_speech=0.2, max_gap=0.5, pause_after=pause_after)
    assert windows_seen(windows, config) == expected


@pytest.mark.parametrize('windows, expected, config', [
    ('LSSSSSSS', 'o......B', {}),                  # paused on the first loud chunk, confirmed as before
    ('VSSSSSSS', 'o.....B.', {}),                  # ... which Silero may count too
    ('LSSSSSSS', '..o....B', {'cue_excess_db': 0.0}),   # the cue off: paused on counted speech only
    ('L........', 'o......w.', {}),                # a knock: paused, withdrawn after 0.2 s of quiet
    ('L' * 20, 'o' + '.' * 14 + 'w....', {}),      # a steady noise: paused once, until it is the background
    ('LS.......', 'o.......w', {}),                # one counted window is not speech either
    ('LSS' + '.' * 16, 'o' + '.' * 17 + 'w', {}),  # two are (pause_after): held until max_gap
    ('L.......SSSSSSS', 'o......w.o....B', {}),    # withdrawn, then the user speaks: paused again
    ('L' + '.' * 7 + 'L' + '.' * 16 + 'L', 'o......w' + '.' * 17 + 'o', {}),   # no cue 0.5 s after a
    # withdrawal (the robot's voice comes back abruptly then, and AEC3 lets its first frames through)
    ('L' + '.' * 16, 'o' + '.' * 15 + 'w', {'withdraw_after': 0.0}),   # withdrawn only at max_gap
    ('mmmmmmmm', '........', {}),                  # not far enough over the robot's expected echo
    ('m' * 20, 'o' + '.' * 14 + 'w....', {'cue_excess_db': 10.0}),
    ('m' * 16 + 'LLLL', '.' * 20, {}),             # far over the echo now, but no louder than before
    ('LLLL', '....', {'cue_level_db': -10.0}),     # quieter than the cue's floor (-13 dBFS)
    ('eeeeLeee', '....o...', {}),                  # the robot's echo, then a loud chunk over it
])
def test_the_level_cue_pauses_on_one_loud_chunk_and_is_withdrawn_when_no_speech_follows(
        windows, expected, config):
    assert windows_seen(windows, BargeInConfig(min_speech=0.2, max_gap=0.5, **config)) == expected


def test_no_level_cue_in_the_first_half_second_of_a_stream_or_after_it_jumps():
    """A restarted capture: its echo canceller starts afresh, and the robot's echo may pass at first."""
    detector = BargeInDetector(BargeInConfig(), speaking())
    loud, quiet = tone(0.02, 0.3), tone(0.02, 0.0)
    assert detector.hear(loud, T0 + 1.0, lambda: 30.0) is None            # the stream's first chunk
    for k in range(25):
        detector.hear(quiet, T0 + 1.02 + k * 0.02, lambda: 30.0)
    assert detector.hear(loud, T0 + 1.52, lambda: 30.0).tentative          # 0.5 s heard: a cue
    detector = BargeInDetector(BargeInConfig(), speaking())
    for k in range(50):
        detector.hear(quiet, T0 + 1.0 + k * 0.02, lambda: 30.0)
    assert detector.hear(loud, T0 + 5.0, lambda: 30.0) is None             # 3 s later: a new stream
    for k in range(25):
        detector.hear(quiet, T0 + 5.02 + k * 0.02, lambda: 30.0)
    assert detector.hear(loud, T0 + 5.52, lambda: 30.0).tentative


def test_a_pause_the_robot_outlives_is_withdrawn_when_it_stops_speaking():
    detector = BargeInDetector(BargeInConfig(), speaking(0.0, 1.1))
    hits = [detector.push(frame(1.0 + k * 0.032, 0.9 if k < 2 else 0.1), lambda f: False) for k in range(6)]
    assert [h.source if h else '.' for h in hits] == ['.', 'onset', '.', '.', 'withdrawn', '.']
    assert hits[4].onset == pytest.approx(T0 + 1.0)   # names the onset it withdraws


def test_barge_in_reports_the_onset_and_fires_once_per_reply():
    detector = BargeInDetector(BargeInConfig(min_speech=0.2), speaking())
    hits = [detector.push(frame(2.0 + k * 0.032, 0.8), lambda f: False) for k in range(40)]
    found = [h for h in hits if h is not None and h.confirmed]
    assert len(found) == 1
    assert found[0].onset == pytest.approx(T0 + 2.0)
    assert found[0].reaction == pytest.approx(7 * 0.032)
    assert found[0].score == pytest.approx(0.8)


@pytest.mark.parametrize('at, echo, expected', [
    (1.0, False, True),     # the robot speaks, the user talks
    (1.0, True, False),     # the gate says it is the robot's own voice
    (11.0, False, False),   # the robot has stopped: not a barge-in (an ordinary turn's business)
    (-1.0, False, False),   # before it spoke
])
def test_barge_in_only_while_speaking_and_not_on_echo(at, echo, expected):
    detector = BargeInDetector(BargeInConfig(), speaking(0.0, 10.0))
    hits = [detector.push(frame(at + k * 0.032, 0.9), lambda f: echo) for k in range(10)]
    assert any(h is not None and h.confirmed for h in hits) is expected
    assert any(h is not None and h.tentative for h in hits) is expected


def test_timeline_intervals_flush_restart_and_a_lost_stop():
    timeline = speaking(0.0, 2.0)
    assert timeline.interval_at(T0 + 1.0) == 1 and timeline.interval_at(T0 + 2.5) is None
    timeline.chunk(T0 + 5.0, 0.1)                      # the next reply
    assert timeline.interval_at(T0 + 5.05) == 2 and timeline.speaking
    # Its stop is lost: the interval ends OPEN_GRACE after its last chunk anyway.
    assert timeline.interval_at(T0 + 5.5) == 2 and timeline.interval_at(T0 + 6.2) is None
    timeline.chunk(T0 + 9.0, 0.1)                      # a later reply is a new interval
    assert timeline.interval_at(T0 + 9.05) == 3


@pytest.mark.parametrize('at, state_speaking_until, expected', [
    (3.0, 6.0, True),     # a pause between two sentences of a reply still SPEAKING
    (3.0, None, True),    # ... whose end has not come yet
    (3.0, 2.5, False),    # the reply had ended (SPEECH_FINISHED): an ordinary turn's business
    (7.0, 6.0, False),    # after the reply
])
def test_the_user_speaking_in_a_pause_of_the_reply_interrupts(at, state_speaking_until, expected):
    # The first sentence played from 0 to 2 s, the next one had not come (Piper or the LLM slow).
    timeline = speaking(0.0, 2.0)
    timeline.reply(True, T0 + 0.01)
    if state_speaking_until is not None:
        timeline.reply(False, T0 + state_speaking_until)
    detector = BargeInDetector(BargeInConfig(), timeline)
    hits = [detector.push(frame(at + k * 0.032, 0.9), lambda f: False) for k in range(10)]
    assert any(hits) is expected


def test_a_barge_in_in_a_pause_belongs_to_the_sentence_before():
    timeline = speaking(0.0, 2.0)
    timeline.reply(True, T0)
    assert timeline.interval_at(T0 + 3.0) == 1
    timeline.chunk(T0 + 4.0, 0.1)                      # the next sentence
    assert timeline.interval_at(T0 + 4.05) == 2
    timeline.reply(False, T0 + 4.1)
    timeline.reply(True, T0 + 9.0)                     # a later reply, before its first audio
    assert timeline.interval_at(T0 + 9.0) is None


def test_a_new_reply_rearms_barge_in():
    timeline = speaking(0.0, 2.0)
    detector = BargeInDetector(BargeInConfig(), timeline)
    first = [detector.push(frame(0.5 + k * 0.032, 0.9), lambda f: False) for k in range(30)]
    timeline.chunk(T0 + 4.0, 0.1)
    second = [detector.push(frame(4.0 + k * 0.032, 0.9), lambda f: False) for k in range(30)]
    assert [h.tentative for h in first if h] == [True, False] == [h.tentative for h in second if h]


# -- configuration -------------------------------------------------------------------------

@pytest.mark.parametrize('make, message', [
    (lambda: EchoSimulationConfig(gain=-0.1), 'gain'),
    (lambda: EchoSimulationConfig(delay=2.0), 'delay'),
    (lambda: EchoCancelConfig(tail=-1.0), 'tail'),
    (lambda: EchoCancelConfig(stream_delay_ms=900), 'stream_delay_ms'),
    (lambda: EchoCancelConfig(reference_topic=''), 'reference_topic'),
    (lambda: EchoGateConfig(margin_db=-1.0), 'margin_db'),
    (lambda: EchoGateConfig(echo_level_db=50.0), 'echo_level_db'),
    (lambda: BargeInConfig(threshold=1.0), 'threshold'),
    (lambda: BargeInConfig(min_speech=0.0), 'min_speech'),
    (lambda: BargeInConfig(max_gap=3.0), 'max_gap'),
    (lambda: BargeInConfig(pause_after=0.2, min_speech=0.2), 'pause_after'),
    (lambda: BargeInConfig(pause_after=-0.1), 'pause_after'),
    (lambda: BargeInConfig(cue_excess_db=-1.0), 'cue_excess_db'),
    (lambda: BargeInConfig(cue_level_db=3.0), 'cue_level_db'),
    (lambda: BargeInConfig(cue_rise_db=-1.0), 'cue_rise_db'),
    (lambda: BargeInConfig(withdraw_after=0.6, max_gap=0.5), 'withdraw_after'),
    (lambda: WakeWordConfig(phrase_duration=0.0), 'phrase_duration'),
])
def test_bad_echo_parameters_are_rejected_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_defaults_cancel_and_gate_but_never_simulate():
    capture = CaptureConfig()
    assert capture.echo_cancel.enabled and not capture.echo_simulation.enabled
    stt = SttConfig()
    assert stt.barge_in.enabled and stt.echo.enabled and WakeWordConfig().echo.enabled
    for config in (capture.echo_cancel, capture.echo_simulation, stt.barge_in, stt.echo):
        assert all(f.metadata.get('description') for f in dataclasses.fields(config))


# -- EchoPathDetector ----------------------------------------------------------------------

@pytest.mark.parametrize('mic_of, expected', [
    (lambda played, noise: np.roll(played, 800) // 2, EchoPath.PRESENT),            # 50 ms late, -6 dB
    (lambda played, noise: np.roll(played, 800) // 2 + noise // 2, EchoPath.PRESENT),  # and the user
    (lambda played, noise: noise, EchoPath.ABSENT),                                  # the mic never hears it
    (lambda played, noise: np.roll(played, 9600), EchoPath.ABSENT),                  # 0.6 s: beyond max_delay
])
def test_echo_path_detector_finds_whether_the_mic_hears_the_speaker(mic_of, expected):
    rng = np.random.default_rng(7)
    played = (rng.standard_normal(4 * SR) * 3000).astype(np.int16)
    noise = (rng.standard_normal(4 * SR) * 3000).astype(np.int16)
    buffer = ReferenceBuffer()
    buffer.add(played, T0)
    detector = EchoPathDetector(buffer, max_delay=0.4)
    mic = mic_of(played, noise).astype(np.int16)
    mic[:9600] = noise[:9600] if expected is EchoPath.ABSENT else mic[:9600]
    states = [detector.push(mic[k:k + 320], T0 + k / SR) for k in range(0, len(mic), 320)]
    assert states[0] is EchoPath.UNKNOWN and states[-1] is expected


def test_echo_path_detector_waits_while_nothing_loud_plays():
    buffer = ReferenceBuffer()
    buffer.add(np.zeros(4 * SR, dtype=np.int16), T0)
    detector = EchoPathDetector(buffer, max_delay=0.4)
    noise = (np.random.default_rng(1).standard_normal(4 * SR) * 3000).astype(np.int16)
    states = {detector.push(noise[k:k + 320], T0 + k / SR) for k in range(0, len(noise), 320)}
    assert states == {EchoPath.UNKNOWN}


def test_a_mic_far_quieter_than_the_speaker_hears_no_echo_within_a_second():
    rng = np.random.default_rng(3)
    buffer = ReferenceBuffer()
    buffer.add((rng.standard_normal(4 * SR) * 3000).astype(np.int16), T0)
    detector = EchoPathDetector(buffer, max_delay=0.4)
    quiet = (rng.standard_normal(SR) * 10).astype(np.int16)   # room noise, 50 dB under the speaker
    states = [detector.push(quiet[k:k + 320], T0 + k / SR) for k in range(0, len(quiet), 320)]
    assert states[-1] is EchoPath.ABSENT
