"""What the robot is playing, on the playback timeline: the reference for echo handling.

tts publishes its reply audio on `audio/out` in chunks stamped with the playback time of
their first sample, ahead of real time. ReferenceBuffer keeps the last `horizon` seconds
of those chunks on a 16 kHz sample grid, so a node that hears the room can ask "what was
the speaker playing during [t, t + n samples)" for any capture time t. Nothing played is
read as zeros. Thread-safe: the subscription adds while the audio thread reads.
"""

from __future__ import annotations

import bisect
import threading

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE


def sample_index(stamp: float) -> int:
    """Seconds on the playback/capture clock -> index on the 16 kHz sample grid."""
    return int(round(stamp * SAMPLE_RATE))


def level_db(samples: np.ndarray) -> float:
    """Mean power of int16 samples in dB relative to full scale (-inf... floored at -120)."""
    if len(samples) == 0:
        return -120.0
    power = float(np.mean(np.square(samples, dtype=np.float64))) / (32768.0 ** 2)
    return 10.0 * np.log10(max(power, 1e-12))


class ReferenceBuffer:
    """The playback timeline: stamped int16 chunks, readable by capture time."""

    def __init__(self, horizon: float = 5.0):
        if horizon <= 0:
            raise ValueError(f'horizon must be > 0, got {horizon}')
        self.horizon = horizon
        self._starts: list[int] = []           # sorted chunk start indices
        self._chunks: list[np.ndarray] = []    # int16, parallel to _starts
        self._lock = threading.Lock()
        self.chunks_added = 0

    def add(self, samples: np.ndarray, stamp: float) -> None:
        """A chunk whose first sample plays at stamp (s). Later chunks win where they overlap."""
        if len(samples) == 0:
            return
        start = sample_index(stamp)
        with self._lock:
            at = bisect.bisect_right(self._starts, start)
            self._starts.insert(at, start)
            self._chunks.insert(at, np.asarray(samples, dtype=np.int16).copy())
            self.chunks_added += 1
            self._forget_before(self._end_index() - int(self.horizon * SAMPLE_RATE))

    def read(self, stamp: float, count: int) -> np.ndarray:
        """The count samples played from stamp on (zeros where nothing was played)."""
        return self.read_index(sample_index(stamp), count)

    def read_index(self, start: int, count: int) -> np.ndarray:
        out = np.zeros(count, dtype=np.int16)
        end = start + count
        with self._lock:
            for chunk_start, chunk in zip(self._starts, self._chunks):
                chunk_end = chunk_start + len(chunk)
                if chunk_end <= start or chunk_start >= end:
                    continue
                lo, hi = max(start, chunk_start), min(end, chunk_end)
                out[lo - start:hi - start] = chunk[lo - chunk_start:hi - chunk_start]
        return out

    def playing(self, start: float, end: float) -> bool:
        """Whether any chunk (even a quiet one) covers part of [start, end)."""
        lo, hi = sample_index(start), sample_index(end)
        with self._lock:
            return any(s < hi and s + len(c) > lo for s, c in zip(self._starts, self._chunks))

    @property
    def end(self) -> float | None:
        """Playback time just after the last sample received, or None before any."""
        with self._lock:
            return self._end_index() / SAMPLE_RATE if self._chunks else None

    def clear(self) -> None:
        with self._lock:
            self._starts.clear()
            self._chunks.clear()

    def _end_index(self) -> int:
        return max((s + len(c) for s, c in zip(self._starts, self._chunks)), default=0)

    def _forget_before(self, index: int) -> None:
        while self._chunks and self._starts[0] + len(self._chunks[0]) < index:
            self._starts.pop(0)
            self._chunks.pop(0)
