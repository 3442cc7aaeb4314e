"""Turning synthesized sentences into paced, stamped chunks, and the local speaker.

A downstream speaker node plays whatever it receives, so the only way to make a flush
stop the sound is to never send much more than is being played: chunks leave at real
time, at most ``lead_time`` ahead of their playback time. The timeline stamps each
chunk with the playback time of its first sample.
"""

from __future__ import annotations

import collections
import threading

import numpy as np


def chunk_samples(sample_rate: int, chunk_ms: int) -> int:
    return max(1, int(round(sample_rate * chunk_ms / 1000.0)))


class Chunker:
    """Re-cuts one goal's sentences into fixed-size chunks; the goal's last chunk may be short."""

    def __init__(self, size: int):
        if size <= 0:
            raise ValueError('chunk size must be > 0')
        self.size = size
        self._parts: collections.deque[np.ndarray] = collections.deque()
        self._pending = 0

    @property
    def pending(self) -> int:
        return self._pending

    def push(self, samples: np.ndarray) -> None:
        if len(samples):
            self._parts.append(np.asarray(samples, dtype=np.int16))
            self._pending += len(samples)

    def pop(self, final: bool = False) -> np.ndarray | None:
        """The next full chunk; with final=True also the short remainder. None if nothing is due."""
        if self._pending == 0 or (self._pending < self.size and not final):
            return None
        want = min(self.size, self._pending)
        out, have = [], 0
        while have < want:
            part = self._parts.popleft()
            take = min(len(part), want - have)
            out.append(part[:take])
            if take < len(part):
                self._parts.appendleft(part[take:])
            have += take
        self._pending -= want
        return np.concatenate(out) if len(out) > 1 else out[0]


class PlaybackTimeline:
    """Where the next sample lands in playback time, and when its chunk may be sent.

    ``cursor`` is the playback time just after the last emitted sample. A chunk starts at
    the cursor if audio is still playing, else now (after an underrun or idle time); it may
    be emitted ``lead_time`` before it starts. Times are seconds on one clock.
    """

    def __init__(self, lead_time: float):
        if lead_time < 0:
            raise ValueError('lead_time must be >= 0')
        self.lead_time = lead_time
        self.cursor = float('-inf')

    def start_of_next(self, now: float) -> float:
        return max(self.cursor, now)

    def emit_at(self, now: float) -> float:
        """The time at which the next chunk may be sent (<= now: send it now)."""
        return self.start_of_next(now) - self.lead_time

    def advance(self, now: float, duration: float) -> float:
        """Record an emitted chunk of `duration` s; returns its playback start time."""
        start = self.start_of_next(now)
        self.cursor = start + duration
        return start

    def playing(self, now: float) -> bool:
        return now < self.cursor


class SampleQueue:
    """Thread-safe FIFO of int16 samples: the emitter pushes, the sound card pulls, a flush clears."""

    def __init__(self):
        self._parts: collections.deque[np.ndarray] = collections.deque()
        self._lock = threading.Lock()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, samples: np.ndarray) -> None:
        with self._lock:
            if len(samples):
                self._parts.append(np.asarray(samples, dtype=np.int16))
                self._size += len(samples)

    def pull(self, count: int) -> np.ndarray:
        """Exactly `count` samples; zeros where the queue runs short (an underrun is silence)."""
        out = np.zeros(count, dtype=np.int16)
        filled = 0
        with self._lock:
            while filled < count and self._parts:
                part = self._parts.popleft()
                take = min(len(part), count - filled)
                out[filled:filled + take] = part[:take]
                if take < len(part):
                    self._parts.appendleft(part[take:])
                filled += take
            self._size -= filled
        return out

    def clear(self) -> int:
        """Drop everything not yet played; returns how many samples were dropped."""
        with self._lock:
            dropped = self._size
            self._parts.clear()
            self._size = 0
        return dropped


class PlaybackUnavailable(RuntimeError):
    """Local playback was asked for but no usable output device exists."""


def _find_output_device(sd, device: str):
    """Resolve the configured device ('' = system default) or raise naming what exists."""
    try:
        outputs = [d for d in sd.query_devices() if d['max_output_channels'] > 0]
    except Exception as exc:  # PortAudio itself failing is the same diagnosis for the user
        raise PlaybackUnavailable(f'cannot list audio devices: {exc}') from exc
    names = ', '.join(repr(d['name']) for d in outputs) or 'none'
    wanted = repr(device) if device else '(system default)'
    if not outputs:
        raise PlaybackUnavailable(f'audio output device {wanted} not found: this machine has no audio output')
    if not device:
        return None
    matches = [d for d in outputs if device.lower() in d['name'].lower()]
    if device.isdigit():
        matches = [d for d in outputs if d['index'] == int(device)] or matches
    if not matches:
        raise PlaybackUnavailable(f'audio output device {device!r} not found (output devices: {names})')
    return matches[0]['index']


class LocalPlayer:
    """Plays emitted chunks on a sound card through sounddevice; flush() silences it mid-buffer."""

    def __init__(self, sample_rate: int, device: str = ''):
        self.sample_rate = sample_rate
        self.queue = SampleQueue()
        try:
            import sounddevice as sd
        except (ImportError, OSError) as exc:  # OSError: the PortAudio library is missing
            raise PlaybackUnavailable(f'sounddevice/PortAudio unavailable: {exc}') from exc
        index = _find_output_device(sd, device)
        try:
            self._stream = sd.OutputStream(samplerate=sample_rate, channels=1, dtype='int16',
                                           device=index, callback=self._fill)
            self._stream.start()
        except Exception as exc:
            raise PlaybackUnavailable(
                f'cannot open audio output {device or "(default)"} at {sample_rate} Hz: {exc}') from exc

    def _fill(self, outdata, frames, _time, _status) -> None:
        outdata[:, 0] = self.queue.pull(frames)

    def write(self, samples: np.ndarray) -> None:
        self.queue.push(samples)

    def flush(self) -> None:
        self.queue.clear()

    def close(self) -> None:
        self.queue.clear()
        try:
            self._stream.stop()
            self._stream.close()
        except Exception:  # closing a device that vanished must not break shutdown
            pass
