"""Wake word detection: openWakeWord scores, turned into one event per spoken phrase.

openWakeWord scores every 80 ms frame (1280 samples at 16 kHz). A TriggerGate per
keyword decides when scores make a detection: `patience` consecutive frames at or above
`threshold`, then nothing for `refractory` seconds of audio. After a detection the
model's buffers are reset, so the tail of the same phrase cannot fire again. Time is the
audio's own (stamps), so a file played faster than real time behaves the same.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE, FrameBuffer
from heisenberg_audio.core.echo.gate import EchoGateConfig
from heisenberg_common.described import describe
from heisenberg_common.model_paths import resolve_model_path

FRAME_SAMPLES = 1280  # openWakeWord's step: 80 ms at 16 kHz
NS_PER_SAMPLE = 1_000_000_000 // SAMPLE_RATE


@dataclasses.dataclass(frozen=True)
class WakeWordConfig:
    """Which openWakeWord models to run and when their scores count as a detection."""

    model_paths: tuple[str, ...] = dataclasses.field(
        default=('openwakeword/hey_jarvis_v0.1.onnx',), metadata=describe(
            'openWakeWord ONNX wake word models (keyword = file name without _vX.Y); '
            'relative paths are under models_dir'))
    melspec_model_path: str = dataclasses.field(
        default='openwakeword/melspectrogram.onnx', metadata=describe(
            "openWakeWord's melspectrogram ONNX model; relative paths are under models_dir"))
    embedding_model_path: str = dataclasses.field(
        default='openwakeword/embedding_model.onnx', metadata=describe(
            "openWakeWord's speech embedding ONNX model; relative paths are under models_dir"))
    models_dir: str = dataclasses.field(default='', metadata=describe(
        "base directory of relative model paths; '' = $HEISENBERG_MODELS, else ./models"))
    threshold: float = dataclasses.field(default=0.5, metadata=describe(
        'score in (0, 1) a frame must reach to count towards a detection', dynamic=True))
    patience: int = dataclasses.field(default=1, metadata=describe(
        'consecutive 80 ms frames at or above threshold needed to fire'))
    refractory: float = dataclasses.field(default=2.0, metadata=describe(
        'seconds of audio after a detection during which the keyword cannot fire again'))
    diagnostics_period: float = dataclasses.field(default=1.0, metadata=describe(
        'seconds between /diagnostics reports'))
    echo: EchoGateConfig = dataclasses.field(default_factory=EchoGateConfig, metadata=describe(
        "a detection whose phrase was no louder than the robot's expected echo is dropped"))
    phrase_duration: float = dataclasses.field(default=1.0, metadata=describe(
        'seconds of audio before a detection that the echo gate judges (about the wake phrase)'))

    def __post_init__(self):
        if not self.model_paths:
            raise ValueError('model_paths must name at least one wake word model')
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f'threshold must be in (0, 1), got {self.threshold}')
        if self.patience < 1:
            raise ValueError(f'patience must be >= 1, got {self.patience}')
        if self.refractory < 0:
            raise ValueError(f'refractory must be >= 0, got {self.refractory}')
        if self.diagnostics_period <= 0:
            raise ValueError(f'diagnostics_period must be > 0, got {self.diagnostics_period}')
        if not 0.1 <= self.phrase_duration <= 3.0:
            raise ValueError(f'phrase_duration must be in [0.1, 3] s, got {self.phrase_duration}')


def keyword_of(model_name: str) -> str:
    """'hey_jarvis_v0.1' -> 'hey_jarvis' (the model file's name without its version)."""
    return re.sub(r'_v\d+(\.\d+)*$', '', model_name)


@dataclasses.dataclass(frozen=True)
class Detection:
    keyword: str
    score: float
    threshold: float
    stamp_ns: int  # end of the 80 ms frame whose score completed the detection


class TriggerGate:
    """Scores of one keyword -> detections: patience frames in a row, then refractory."""

    def __init__(self, threshold: float, patience: int = 1, refractory: float = 0.0):
        self.threshold = threshold
        self.patience = patience
        self.refractory = refractory
        self._run = 0
        self._quiet_until: float | None = None
        self._last_time: float | None = None

    def update(self, score: float, time_s: float) -> bool:
        """Feed one frame's score at time_s (seconds of audio); True when it fires."""
        if self._last_time is not None and time_s < self._last_time:
            self.reset()  # time went back: a new stream (capture restarted), not a repeat
        self._last_time = time_s
        if self._quiet_until is not None and time_s < self._quiet_until:
            self._run = 0
            return False
        self._run = self._run + 1 if score >= self.threshold else 0
        if self._run < self.patience:
            return False
        self._run = 0
        self._quiet_until = time_s + self.refractory
        return True

    def reset(self) -> None:
        self._run = 0
        self._quiet_until = None
        self._last_time = None


class WakeWordDetector:
    """openWakeWord over a stamped int16 stream: process() returns the detections it fired."""

    def __init__(self, config: WakeWordConfig):
        from openwakeword.model import Model

        self.config = config
        paths = {name: resolve_model_path(getattr(config, name), config.models_dir)
                 for name in ('melspec_model_path', 'embedding_model_path')}
        wake_paths = [resolve_model_path(p, config.models_dir) for p in config.model_paths]
        missing = [str(p) for p in [*wake_paths, *paths.values()] if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"openWakeWord model file(s) not found: {', '.join(missing)}")
        self._model = Model(wakeword_models=[str(p) for p in wake_paths], inference_framework='onnx',
                            **{name: str(path) for name, path in paths.items()})
        self._fresh_features = self._model.preprocessor.feature_buffer.copy()
        self.model_files = [str(p) for p in wake_paths]
        self.keywords = [keyword_of(name) for name in self._model.models]
        self._gates: dict[str, TriggerGate] = {}
        self._frames = FrameBuffer(FRAME_SAMPLES)
        self._pending = 0
        self.frames_processed = 0
        self.detections = 0
        self.last_scores: dict[str, float] = {}

    def process(self, samples: np.ndarray, stamp_ns: int) -> list[Detection]:
        """Feed 16 kHz int16 samples whose first was captured at stamp_ns."""
        first_ns = stamp_ns - self._pending * NS_PER_SAMPLE
        frames = self._frames.push(samples)
        self._pending += len(samples) - len(frames) * FRAME_SAMPLES
        detections = []
        for index, frame in enumerate(frames):
            end_ns = first_ns + (index + 1) * FRAME_SAMPLES * NS_PER_SAMPLE
            detections += self._score(frame, end_ns)
        return detections

    def set_threshold(self, threshold: float) -> None:
        """A new threshold, from the next frame on (a live parameter change)."""
        self.config = dataclasses.replace(self.config, threshold=threshold)
        for gate in self._gates.values():
            gate.threshold = threshold

    def reset(self) -> None:
        """Forget the audio heard so far (the model needs ~0.4 s of new audio to score again).

        Does what openWakeWord's Model.reset() does, but restores the feature buffer it made
        at load time instead of embedding 4 s of fresh noise (~150 ms here): a reset happens
        at each detection, right when the user goes on speaking.
        """
        model, features = self._model, self._model.preprocessor
        model.prediction_buffer.clear()
        features.raw_data_buffer.clear()
        features.melspectrogram_buffer = np.ones((76, 32))  # as openwakeword 0.6.0 starts it
        features.accumulated_samples = 0
        features.raw_data_remainder = np.empty(0)
        features.feature_buffer = self._fresh_features.copy()

    def _score(self, frame: np.ndarray, end_ns: int) -> list[Detection]:
        scores = {keyword_of(name): float(score) for name, score in self._model.predict(frame).items()}
        self.frames_processed += 1
        self.last_scores = scores
        fired = [Detection(keyword, score, self.config.threshold, end_ns)
                 for keyword, score in scores.items() if self._gate(keyword).update(score, end_ns / 1e9)]
        if fired:
            self.detections += len(fired)
            self.reset()
        return fired

    def _gate(self, keyword: str) -> TriggerGate:
        if keyword not in self._gates:
            self._gates[keyword] = TriggerGate(self.config.threshold, self.config.patience,
                                               self.config.refractory)
        return self._gates[keyword]
