"""Test speech made with the real Piper voice (clearer than espeak-ng; wakes openWakeWord)."""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000


class Speech:
    def __init__(self, voice_path: Path):
        from piper import PiperVoice
        self.voice = PiperVoice.load(str(voice_path))

    @functools.lru_cache(maxsize=64)
    def say(self, text: str) -> np.ndarray:
        """Return text spoken at 16 kHz mono int16."""
        chunks = list(self.voice.synthesize(text))
        audio = np.concatenate([c.audio_float_array for c in chunks])
        audio16 = soxr.resample(audio.astype(np.float32), chunks[0].sample_rate, SAMPLE_RATE)
        return (np.clip(audio16, -1.0, 1.0) * 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def write_wav(path: Path, *parts: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write the concatenated int16 parts as a mono WAV file."""
    audio = np.concatenate(parts).astype(np.int16)
    with wave.open(str(path), 'wb') as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio.tobytes())
    return path
