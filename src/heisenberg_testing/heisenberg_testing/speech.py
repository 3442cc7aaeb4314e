"""Test speech made with the real Piper voice (clearer than espeak-ng; wakes openWakeWord), repeatable.

French test speech is espeak-ng's French voice (no French Piper voice is on the registries), the
voice the tts node speaks French with; espeak-ng is deterministic.
"""

from __future__ import annotations

import difflib
import functools
import re
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import soxr

SAMPLE_RATE = 16000


# Piper draws its generator and phoneme-width noise inside the ONNX graph, from a generator each
# session seeds once when it is created (onnxruntime's global seed, time-based unless set): the
# same text would differ from run to run, and so would what Whisper hears. A fresh session per
# text under a fixed seed gives the same samples for a text on every run, in any order, and keeps
# Piper's natural noise (a noise-free voice sounds flat and is heard worse).
SEED = 1


class Speech:
    def __init__(self, voice_path: Path):
        self.voice_path = voice_path

    @functools.lru_cache(maxsize=64)
    def say(self, text: str) -> np.ndarray:
        """Return text spoken at 16 kHz mono int16, the same samples on every run."""
        import onnxruntime
        from piper import PiperVoice
        onnxruntime.set_seed(SEED)
        chunks = list(PiperVoice.load(str(self.voice_path)).synthesize(text))
        audio = np.concatenate([c.audio_float_array for c in chunks])
        audio16 = soxr.resample(audio.astype(np.float32), chunks[0].sample_rate, SAMPLE_RATE)
        return (np.clip(audio16, -1.0, 1.0) * 32767).astype(np.int16)

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def say_french(text: str) -> np.ndarray:
        """Return text spoken by espeak-ng's French voice at 16 kHz mono int16."""
        with tempfile.NamedTemporaryFile(suffix='.wav') as out:
            subprocess.run(['espeak-ng', '-v', 'fr', '-w', out.name], input=text.encode(), check=True,
                           capture_output=True, timeout=30)
            with wave.open(out.name, 'rb') as wav:
                rate = wav.getframerate()
                audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype='<i2')
        audio16 = soxr.resample(audio.astype(np.float32) / 32768, rate, SAMPLE_RATE)
        return (np.clip(audio16, -1.0, 1.0) * 32767).astype(np.int16)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def knock(rng: np.random.Generator) -> np.ndarray:
    """A knock on a door or on the robot: 80 ms of noise dying away in 15 ms (not speech)."""
    t = np.arange(int(0.08 * SAMPLE_RATE)) / SAMPLE_RATE
    return np.clip(rng.standard_normal(len(t)) * np.exp(-t / 0.015) * 20000, -32767, 32767).astype(np.int16)


def cough(rng: np.random.Generator) -> np.ndarray:
    """A cough, roughly: 0.25 s of low-passed noise, a sharp attack, an 80 ms decay (not speech)."""
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    noise = np.convolve(rng.standard_normal(len(t)), np.ones(6) / 6, mode='same')
    envelope = np.minimum(1, t / 0.01) * np.exp(-t / 0.08)
    return np.clip(noise * envelope * 25000, -32767, 32767).astype(np.int16)


def write_wav(path: Path, *parts: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write the concatenated int16 parts as a mono WAV file."""
    audio = np.concatenate(parts).astype(np.int16)
    with wave.open(str(path), 'wb') as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio.tobytes())
    return path


def similarity(heard: str, said: str) -> float:
    """0..1: how alike two sentences are, letters and spaces only, case ignored."""
    def norm(text: str) -> str:
        return ' '.join(re.sub(r'[^a-z ]', ' ', text.lower()).split())
    return difflib.SequenceMatcher(None, norm(heard), norm(said)).ratio()
