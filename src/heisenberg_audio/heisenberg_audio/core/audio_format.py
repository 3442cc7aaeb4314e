"""The graph's audio format and conversions to it.

Everything inside the graph is 16 kHz mono signed 16-bit little-endian PCM ("S16LE"), as
audio_common's AudioInfo describes it. Other formats are converted at the edge (capture)
with a real resampler (soxr); nodes that cannot use a stream say why, precisely.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import soxr

SAMPLE_RATE = 16000
CHANNELS = 1
SAMPLE_FORMAT = 'S16LE'
CODING_FORMAT = 'wave'

# AudioInfo.sample_format strings (GStreamer names, as audio_common uses) -> numpy dtype.
_DTYPES = {
    'S16LE': np.dtype('<i2'),
    'S32LE': np.dtype('<i4'),
    'F32LE': np.dtype('<f4'),
    'U8': np.dtype('u1'),
}


@dataclasses.dataclass(frozen=True)
class AudioFormat:
    """What an AudioInfo message says about a raw PCM stream."""

    sample_rate: int = SAMPLE_RATE
    channels: int = CHANNELS
    sample_format: str = SAMPLE_FORMAT
    coding_format: str = CODING_FORMAT

    @property
    def is_graph_format(self) -> bool:
        return (self.sample_rate, self.channels, self.sample_format.upper()) == \
            (SAMPLE_RATE, CHANNELS, SAMPLE_FORMAT)

    @property
    def bytes_per_frame(self) -> int:
        return _DTYPES[self.sample_format.upper()].itemsize * self.channels

    @property
    def bitrate(self) -> int:
        return self.sample_rate * self.bytes_per_frame * 8


GRAPH_FORMAT = AudioFormat()


def unusable_reason(fmt: AudioFormat) -> str | None:
    """Return why fmt cannot be converted to the graph format, or None if it can."""
    if fmt.coding_format.lower() not in ('wave', 'wav', 'pcm', 'raw', ''):
        return f"coding_format '{fmt.coding_format}' is compressed; only raw PCM (wave) is supported"
    if fmt.sample_format.upper() not in _DTYPES:
        return f"sample_format '{fmt.sample_format}' is not one of {sorted(_DTYPES)}"
    if not 1 <= fmt.channels <= 32:
        return f'channels={fmt.channels} is not a usable channel count'
    if not 4000 <= fmt.sample_rate <= 192000:
        return f'sample_rate={fmt.sample_rate} Hz is outside 4000..192000'
    return None


def mismatch_reason(fmt: AudioFormat) -> str | None:
    """Return why fmt is not exactly the graph format (for nodes that do not convert)."""
    if fmt.is_graph_format:
        return None
    return (f'expected {SAMPLE_RATE} Hz, {CHANNELS} channel, {SAMPLE_FORMAT}; got '
            f'{fmt.sample_rate} Hz, {fmt.channels} channel(s), {fmt.sample_format}')


def bytes_to_int16(data: bytes | bytearray | memoryview) -> np.ndarray:
    """Graph-format bytes -> int16 samples (a trailing odd byte is an error, not dropped)."""
    if len(data) % 2:
        raise ValueError(f'S16LE payload has an odd number of bytes ({len(data)})')
    return np.frombuffer(bytes(data), dtype='<i2')


def int16_to_bytes(samples: np.ndarray) -> bytes:
    return np.asarray(samples, dtype='<i2').tobytes()


def int16_to_float(samples: np.ndarray) -> np.ndarray:
    return samples.astype(np.float32) / 32768.0


def float_to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 32767 / 32768) * 32768.0).astype(np.int16)


def decode_pcm(data: bytes, fmt: AudioFormat) -> np.ndarray:
    """Raw PCM in fmt -> float32 array of shape (frames, channels) in [-1, 1]."""
    reason = unusable_reason(fmt)
    if reason:
        raise ValueError(reason)
    dtype = _DTYPES[fmt.sample_format.upper()]
    if len(data) % fmt.bytes_per_frame:
        raise ValueError(f'{len(data)} bytes is not a whole number of {fmt.bytes_per_frame}-byte frames')
    raw = np.frombuffer(bytes(data), dtype=dtype).reshape(-1, fmt.channels)
    if dtype.kind == 'f':
        return raw.astype(np.float32)
    if dtype.kind == 'u':
        return (raw.astype(np.float32) - 128.0) / 128.0
    return raw.astype(np.float32) / float(2 ** (8 * dtype.itemsize - 1))


class StreamConverter:
    """Any PCM stream -> graph format, chunk by chunk.

    The soxr resampler keeps its state between chunks, so chunk edges leave no clicks.
    """

    def __init__(self, fmt: AudioFormat):
        reason = unusable_reason(fmt)
        if reason:
            raise ValueError(reason)
        self.format = fmt
        self._resampler = None if fmt.sample_rate == SAMPLE_RATE else soxr.ResampleStream(
            fmt.sample_rate, SAMPLE_RATE, 1, dtype='float32', quality='HQ')

    def convert_float(self, frames: np.ndarray, last: bool = False) -> np.ndarray:
        """float32 (frames, channels) -> int16 mono at 16 kHz."""
        mono = frames.mean(axis=1) if frames.ndim == 2 else frames
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last)
        return float_to_int16(mono)

    def convert_bytes(self, data: bytes, last: bool = False) -> np.ndarray:
        return self.convert_float(decode_pcm(data, self.format), last=last)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """One-shot float32 resampling (whole buffers: TTS output, test fixtures)."""
    if from_rate == to_rate:
        return samples.astype(np.float32)
    return soxr.resample(samples.astype(np.float32), from_rate, to_rate, quality='HQ')


class FrameBuffer:
    """Re-chunks a stream of int16 samples into fixed-size frames (models want exact sizes)."""

    def __init__(self, frame_samples: int):
        if frame_samples <= 0:
            raise ValueError('frame_samples must be > 0')
        self.frame_samples = frame_samples
        self._pending = np.zeros(0, dtype=np.int16)

    def push(self, samples: np.ndarray) -> list[np.ndarray]:
        data = np.concatenate([self._pending, samples.astype(np.int16, copy=False)])
        count = len(data) // self.frame_samples
        frames = [data[i * self.frame_samples:(i + 1) * self.frame_samples] for i in range(count)]
        self._pending = data[count * self.frame_samples:]
        return frames

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.int16)
