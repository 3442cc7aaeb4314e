"""Piper text-to-speech: text -> graph-format audio, one sentence at a time.

Piper synthesizes one sentence per ONNX run; yielding each sentence as soon as it is
ready lets the first one play while the next is still being made. The voice's own rate
(22050 Hz for joe-medium) is resampled to the output rate (the graph's 16 kHz by
default, so the echo canceller and the tests reuse the graph format).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from heisenberg_audio.core.audio_format import float_to_int16, resample
from heisenberg_common.described import describe
from heisenberg_common.model_paths import resolve_model_path

DEFAULT_VOICE = 'piper/en_US-joe-medium.onnx'
WARMUP_TEXT = 'Hello.'
# A clause ends at , ; : or a dash followed by a space ("1,000" and "well-known" stay whole).
_CLAUSE_MARKS = ',;:-\u2013\u2014'
_CLAUSE_END = re.compile(r'(?<=[,;:\u2013\u2014])\s+|(?<=\s-)\s+')


class VoiceNotFoundError(FileNotFoundError):
    """The voice model (or its .onnx.json beside it) is not where the config says."""


@dataclasses.dataclass(frozen=True)
class VoiceConfig:
    """Which Piper voice to load and how it should speak."""

    model_path: str = dataclasses.field(default=DEFAULT_VOICE, metadata=describe(
        'Piper voice .onnx (its .onnx.json must sit beside it); relative paths resolve against '
        '$HEISENBERG_MODELS'))
    speaker_id: int = dataclasses.field(default=-1, metadata=describe(
        "speaker of a multi-speaker voice; -1 = the voice's default"))
    length_scale: float = dataclasses.field(default=1.0, metadata=describe(
        'phoneme duration scale: < 1 speaks faster, > 1 slower', dynamic=True))
    noise_scale: float = dataclasses.field(default=-1.0, metadata=describe(
        "generator noise (expressiveness); < 0 = the voice's own value"))
    noise_w_scale: float = dataclasses.field(default=-1.0, metadata=describe(
        "phoneme width noise (rhythm variation); < 0 = the voice's own value"))
    sentence_silence: float = dataclasses.field(default=0.0, metadata=describe(
        'seconds of silence added after every sentence'))
    split_clauses: bool = dataclasses.field(default=True, metadata=describe(
        'synthesize clause by clause (at , ; : and dashes): the first audio comes after the first '
        'clause instead of the whole sentence, at a small cost in intonation'))
    warmup: bool = dataclasses.field(default=True, metadata=describe(
        'synthesize a short word at start-up so the first real sentence is fast'))

    def __post_init__(self):
        if not self.model_path.strip():
            raise ValueError('voice.model_path must not be empty')
        if self.speaker_id < -1:
            raise ValueError(f'voice.speaker_id must be >= -1, got {self.speaker_id}')
        if not 0.1 <= self.length_scale <= 10.0:
            raise ValueError(f'voice.length_scale must be in [0.1, 10], got {self.length_scale}')
        for name in ('noise_scale', 'noise_w_scale'):
            if getattr(self, name) > 5.0:
                raise ValueError(f'voice.{name} must be <= 5 (< 0 = the default), got {getattr(self, name)}')
        if not 0.0 <= self.sentence_silence <= 5.0:
            raise ValueError(f'voice.sentence_silence must be in [0, 5] s, got {self.sentence_silence}')


def split_clauses(text: str) -> list[str]:
    """Cut text after clause punctuation; pieces keep their punctuation (Piper pauses on it)."""
    return [piece for piece in (p.strip() for p in _CLAUSE_END.split(text)) if piece]


def check_voice_files(model: Path) -> None:
    """Raise VoiceNotFoundError naming the missing file (model or its JSON config)."""
    for path in (model, Path(f'{model}.json')):
        if not path.is_file():
            raise VoiceNotFoundError(
                f'Piper voice file not found: {path} (set voice.model_path, or HEISENBERG_MODELS for '
                f'relative paths; scripts/setup.sh installs the default {DEFAULT_VOICE})')


class Synthesizer:
    """A loaded Piper voice producing int16 mono audio at output_sample_rate.

    Not thread-safe: one thread synthesizes at a time (the tts node has one worker).
    """

    def __init__(self, config: VoiceConfig, output_sample_rate: int = 16000, base_dir: Path | None = None):
        from piper import PiperVoice  # heavy import (onnxruntime), only when a voice is wanted
        from piper.config import SynthesisConfig

        self.config = config
        self.output_sample_rate = output_sample_rate
        self.model_path = resolve_model_path(config.model_path, base_dir)
        check_voice_files(self.model_path)
        started = time.monotonic()
        self._voice = PiperVoice.load(str(self.model_path))
        self.load_seconds = time.monotonic() - started
        self.voice_sample_rate = int(self._voice.config.sample_rate)
        self._syn_config = SynthesisConfig(
            speaker_id=self._speaker_id(),
            length_scale=config.length_scale,
            noise_scale=config.noise_scale if config.noise_scale >= 0 else None,
            noise_w_scale=config.noise_w_scale if config.noise_w_scale >= 0 else None)
        self._silence = np.zeros(int(round(config.sentence_silence * output_sample_rate)), dtype=np.int16)
        self.warmup_seconds = self.warm_up() if config.warmup else 0.0

    def set_length_scale(self, length_scale: float) -> None:
        """Speak faster or slower from the next piece on (a live parameter change)."""
        self.config = dataclasses.replace(self.config, length_scale=length_scale)
        self._syn_config = dataclasses.replace(self._syn_config, length_scale=length_scale)

    @property
    def name(self) -> str:
        return self.model_path.stem

    def _speaker_id(self) -> int | None:
        speakers = int(self._voice.config.num_speakers)
        if self.config.speaker_id < 0:
            return 0 if speakers > 1 else None
        if self.config.speaker_id >= speakers:
            raise ValueError(f'voice.speaker_id={self.config.speaker_id} but {self.name} has '
                             f'{speakers} speaker(s) (ids 0..{speakers - 1})')
        return self.config.speaker_id if speakers > 1 else None

    def warm_up(self, text: str = WARMUP_TEXT) -> float:
        """Run the voice once (ONNX allocates and optimizes on its first run); returns seconds."""
        started = time.monotonic()
        for _ in self.sentences(text):
            pass
        return time.monotonic() - started

    def sentences(self, text: str) -> Iterator[np.ndarray]:
        """Yield each sentence of text as int16 samples at output_sample_rate (+ sentence_silence).

        Text with nothing to say (empty, whitespace, lone punctuation) yields nothing.
        """
        if not text.strip():
            return
        pieces = split_clauses(text) if self.config.split_clauses else [text]
        sentence_ended = False  # the pause is due after sentences, not clauses: add it lazily
        for piece in pieces:
            for chunk in self._voice.synthesize(piece, syn_config=self._syn_config):
                if sentence_ended and len(self._silence):
                    yield self._silence
                audio = resample(chunk.audio_float_array, chunk.sample_rate, self.output_sample_rate)
                samples = float_to_int16(audio)
                if len(samples):
                    yield samples
                sentence_ended = True  # unless this was the piece's last chunk and it ends a clause
            sentence_ended = piece[-1] not in _CLAUSE_MARKS
        if sentence_ended and len(self._silence):
            yield self._silence

    def synthesize(self, text: str) -> np.ndarray:
        """The whole text at once (tests, benchmarks)."""
        parts = list(self.sentences(text))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
