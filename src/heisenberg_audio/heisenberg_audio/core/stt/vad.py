"""Silero voice activity detection on the graph's audio stream.

The Silero VAD ONNX model (the one openWakeWord ships, in models/openwakeword/) run
directly with onnxruntime: a recurrent model scoring 512-sample (32 ms) windows at
16 kHz, carrying its state from one window to the next. SpeechDetector cuts a stream of
stamped chunks of any size into those windows and gives each its capture time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE

WINDOW = 512             # samples; the size Silero is trained on at 16 kHz
MAX_STAMP_JUMP = 0.1     # s; a larger mismatch between stamps and sample count is a gap


@dataclasses.dataclass(frozen=True)
class VadFrame:
    """One scored window of graph-format audio."""

    samples: np.ndarray  # int16
    start: float         # capture time of the first sample (s)
    prob: float          # speech probability from the VAD

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    @property
    def end(self) -> float:
        return self.start + self.duration


class SileroVad:
    """Speech probability of consecutive 32 ms windows."""

    def __init__(self, model_path: Path | str, threads: int = 1):
        import onnxruntime as ort  # heavy: only where a model runs (VadFrame is imported widely)

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=['CPUExecutionProvider'])
        self._rate = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((2, 1, 64), dtype=np.float32)
        self._c = np.zeros((2, 1, 64), dtype=np.float32)

    def probability(self, window: np.ndarray) -> float:
        """int16 window of WINDOW samples -> probability that it is speech."""
        x = (window.astype(np.float32) / 32768.0)[None, :]
        out, self._h, self._c = self._session.run(
            None, {'input': x, 'h': self._h, 'c': self._c, 'sr': self._rate})
        return float(out[0][0])


class SpeechDetector:
    """Stamped chunks of any length -> scored VadFrames of WINDOW samples."""

    def __init__(self, vad: SileroVad):
        self.vad = vad
        self._pending = np.zeros(0, dtype=np.int16)
        self._next_start: float | None = None  # capture time of the next sample expected
        self.gaps = 0          # discontinuities seen in the stamps (frames lost upstream)
        self.last_gap = 0.0    # seconds between the expected and the actual stamp, last time

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
        self._next_start = None
        self.vad.reset()

    def push(self, samples: np.ndarray, stamp: float) -> list[VadFrame]:
        """samples: int16 chunk whose first sample was captured at stamp (s)."""
        if self._next_start is not None and abs(stamp - self._next_start) > MAX_STAMP_JUMP:
            self.gaps += 1
            self.last_gap = stamp - self._next_start
            self._next_start = None
        if self._next_start is None:
            self.reset()  # first chunk, or a gap/jump in the stream: start afresh
            self._next_start = stamp
        data = np.concatenate([self._pending, samples.astype(np.int16, copy=False)])
        first = stamp - len(self._pending) / SAMPLE_RATE
        frames = []
        count = len(data) // WINDOW
        for i in range(count):
            window = data[i * WINDOW:(i + 1) * WINDOW]
            frames.append(VadFrame(window, first + i * WINDOW / SAMPLE_RATE, self.vad.probability(window)))
        self._pending = data[count * WINDOW:]
        self._next_start = stamp + len(samples) / SAMPLE_RATE
        return frames
