"""Silero VAD on the stream: windows, their capture times, speech vs silence, gaps."""

from __future__ import annotations

import numpy as np
import pytest

from heisenberg_audio.core.stt.vad import SileroVad, SpeechDetector, WINDOW

pytestmark = pytest.mark.models


@pytest.fixture
def detector(models_dir):
    return SpeechDetector(SileroVad(models_dir / 'openwakeword' / 'silero_vad.onnx'))


def feed(detector, audio, t0, chunk=320):
    frames = []
    for start in range(0, len(audio), chunk):
        frames += detector.push(audio[start:start + chunk], t0 + start / 16000)
    return frames


def test_windows_carry_their_capture_time(detector):
    frames = feed(detector, np.zeros(16000, np.int16), 10.0)
    assert len(frames) == 16000 // WINDOW
    assert [f.start for f in frames[:3]] == pytest.approx([10.0, 10.032, 10.064])
    assert all(len(f.samples) == WINDOW for f in frames)


def test_speech_scores_high_and_silence_low(detector, speech):
    spoken = speech.say('What is the capital of France?')
    silence = np.zeros(16000, np.int16)
    frames = feed(detector, np.concatenate([silence, spoken, silence]), 0.0)
    lead = [f.prob for f in frames if f.end <= 0.9]
    during = [f.prob for f in frames if 1.2 <= f.start <= 1.0 + len(spoken) / 16000 - 0.4]
    assert max(lead) < 0.2
    assert np.mean(np.array(during) >= 0.5) > 0.7


def test_a_jump_in_the_stamps_is_counted_and_followed(detector):
    feed(detector, np.zeros(3200, np.int16), 5.0)
    frames = feed(detector, np.zeros(3200, np.int16), 5.7)  # 0.5 s of audio never arrived
    assert detector.gaps == 1 and detector.last_gap == pytest.approx(0.5)
    assert frames[0].start == pytest.approx(5.7)
