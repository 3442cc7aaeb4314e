"""Where the capture node's audio comes from, turned into stamped graph-format frames.

Three sources (microphone, file, another audio topic) each end in the same place: 16 kHz
mono int16 samples pushed into a FrameStamper, which cuts fixed frames and stamps each with
the capture time of its first sample on a timeline that never goes backwards. No ROS here:
the node passes in a clock and publishes what comes out.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from heisenberg_audio.core.audio_format import (SAMPLE_RATE, AudioFormat, FrameBuffer, StreamConverter,
                                                unusable_reason)

NS_PER_SAMPLE = 1_000_000_000 // SAMPLE_RATE  # exactly 62500 at 16 kHz: stamps stay integral


class SourceError(RuntimeError):
    """A source cannot deliver audio (missing file or device, unusable stream); says why."""


class DeviceNotFoundError(SourceError):
    """The input device asked for is not there; the message lists the ones that are."""


def samples_to_ns(count: int) -> int:
    return count * NS_PER_SAMPLE


class FrameStamper:
    """Graph-format samples -> fixed frames stamped with their first sample's capture time.

    Stamps count samples from an anchor, so they advance by exactly one frame duration
    per frame. A source that knows when a chunk was captured (mic callback, driver stamp)
    passes it: when the count has fallen behind it by more than `resync_s` (samples were
    lost: overflow, device reopened, gap in a driver's stream) the timeline jumps forward
    to it. It never jumps back, so stamps are monotonic.
    """

    def __init__(self, frame_samples: int, resync_s: float = 0.25):
        self.frame_samples = frame_samples
        self._buffer = FrameBuffer(frame_samples)
        self._pending = 0
        self._next_ns: int | None = None
        self._resync_ns = int(resync_s * 1e9)

    def push(self, samples: np.ndarray, start_ns: int | None = None) -> list[tuple[int, np.ndarray]]:
        """Add samples whose first was captured at start_ns (None: right after the last push)."""
        if self._next_ns is None:
            if start_ns is None:
                raise ValueError('the first push needs start_ns to anchor the timeline')
            self._next_ns = start_ns
        elif start_ns is not None and start_ns - self._next_ns > self._resync_ns:
            self._next_ns = start_ns
        first_ns = self._next_ns - samples_to_ns(self._pending)
        frames = self._buffer.push(samples)
        self._pending += len(samples) - len(frames) * self.frame_samples
        self._next_ns += samples_to_ns(len(samples))
        return [(first_ns + samples_to_ns(i * self.frame_samples), frame) for i, frame in enumerate(frames)]

    def flush(self) -> list[tuple[int, np.ndarray]]:
        """Zero-pad the last partial frame (end of a file) and return it, if any."""
        if not self._pending:
            return []
        return self.push(np.zeros(self.frame_samples - self._pending, dtype=np.int16))


@dataclasses.dataclass(frozen=True)
class StampedFrame:
    stamp_ns: int          # capture time of the first sample
    samples: np.ndarray    # frame_samples int16, 16 kHz mono
    padding: bool = False  # silence published after the end of a file


class Pacer:
    """Sleeps so that frame k goes out at start + k * frame duration (real-time pace)."""

    def __init__(self, frame_s: float, clock: Callable[[], float] = time.monotonic):
        self.frame_s = frame_s
        self._clock = clock
        self._start = clock()
        self._frames = 0

    def restart(self) -> None:
        """Count from now (after a burst published as fast as possible)."""
        self._start = self._clock()
        self._frames = 0

    def wait(self, stop: threading.Event) -> bool:
        """Wait for the next frame's slot; False when stop was set meanwhile."""
        due = self._start + self._frames * self.frame_s
        self._frames += 1
        delay = due - self._clock()
        if delay > 0:
            return not stop.wait(delay)
        return not stop.is_set()


# ----------------------------------------------------------------------------- file source

class FileSource:
    """A WAV/FLAC file (any rate, any channel count) as stamped graph-format frames.

    Looping feeds one resampler stream, so the seam is as smooth as the file allows. After
    the end of a non-looping file, pad_silence yields silent frames forever.
    """

    READ_BLOCK = 4096

    def __init__(self, path: str, frame_samples: int, loop: bool = False, pad_silence: bool = True):
        import soundfile
        self.path = Path(path).expanduser()
        try:
            with soundfile.SoundFile(str(self.path)) as sound:
                self.sample_rate, self.channels, self.frames_in_file = (
                    sound.samplerate, sound.channels, sound.frames)
        except (OSError, RuntimeError, soundfile.LibsndfileError) as exc:
            raise SourceError(f"cannot read audio file '{self.path}': {exc}") from exc
        if self.frames_in_file == 0:
            raise SourceError(f"audio file '{self.path}' holds no audio")
        self.frame_samples = frame_samples
        self.loop = loop
        self.pad_silence = pad_silence

    @property
    def duration_s(self) -> float:
        return self.frames_in_file / self.sample_rate

    def describe(self) -> str:
        return f'{self.path} ({self.sample_rate} Hz, {self.channels} ch, {self.duration_s:.2f} s)'

    def frames(self, start_ns: int) -> Iterator[StampedFrame]:
        """The file's frames stamped start_ns + samples / 16 kHz, then silence if padding."""
        stamper = FrameStamper(self.frame_samples)
        stamper.push(np.zeros(0, dtype=np.int16), start_ns)
        for samples in self._converted_chunks():
            for stamp_ns, frame in stamper.push(samples):
                yield StampedFrame(stamp_ns, frame)
        for stamp_ns, frame in stamper.flush():
            yield StampedFrame(stamp_ns, frame)
        silence = np.zeros(self.frame_samples, dtype=np.int16)
        while self.pad_silence:
            for stamp_ns, frame in stamper.push(silence):
                yield StampedFrame(stamp_ns, frame, padding=True)

    def _converted_chunks(self) -> Iterator[np.ndarray]:
        import soundfile
        fmt = AudioFormat(sample_rate=self.sample_rate, channels=self.channels, sample_format='F32LE')
        converter = StreamConverter(fmt)
        with soundfile.SoundFile(str(self.path)) as sound:
            while True:
                block = sound.read(self.READ_BLOCK, dtype='float32', always_2d=True)
                at_end = sound.tell() >= self.frames_in_file
                if at_end and self.loop:
                    sound.seek(0)
                last = at_end and not self.loop
                yield converter.convert_float(block, last=last)
                if last:
                    return


# ----------------------------------------------------------------------------- topic source

class TopicInput:
    """Another node's audio stream (e.g. the robot's driver) -> stamped graph-format frames.

    set_format() takes what its AudioInfo says; push() converts each payload (resampling
    and downmixing with one soxr stream) or raises SourceError saying why it cannot.
    """

    def __init__(self, frame_samples: int):
        self._stamper = FrameStamper(frame_samples)
        self._converter: StreamConverter | None = None
        self.format: AudioFormat | None = None
        self.problem: str | None = 'no AudioInfo received yet on the input info topic'

    def set_format(self, fmt: AudioFormat) -> str | None:
        """Adopt fmt; return why it is unusable (audio is then refused), or None."""
        if fmt == self.format:
            return self.problem
        self.format = fmt
        self.problem = unusable_reason(fmt)
        self._converter = None if self.problem else StreamConverter(fmt)
        return self.problem

    def push(self, data: bytes, stamp_ns: int) -> list[StampedFrame]:
        if self._converter is None:
            raise SourceError(f'input audio refused: {self.problem}')
        try:
            samples = self._converter.convert_bytes(data)
        except ValueError as exc:
            raise SourceError(f'input audio payload refused: {exc}') from exc
        return [StampedFrame(stamp, frame) for stamp, frame in self._stamper.push(samples, stamp_ns)]


# ----------------------------------------------------------------------------- microphone

@dataclasses.dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    sample_rate: float

    def describe(self) -> str:
        return f"[{self.index}] '{self.name}' ({self.channels} ch, {self.sample_rate:.0f} Hz)"


def _sounddevice():
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when the PortAudio library is missing
        raise SourceError(f'PortAudio is not available: {exc}') from exc
    return sounddevice


def list_input_devices(rescan: bool = False) -> tuple[list[InputDevice], int | None]:
    """The input devices PortAudio sees and the default input's index (None if there is none).

    rescan re-initialises PortAudio, which is the only way it notices a device plugged in
    after start-up; only call it with no stream open.
    """
    sd = _sounddevice()
    if rescan:
        sd._terminate()  # noqa: SLF001 - sounddevice has no public rescan
        sd._initialize()  # noqa: SLF001
    devices = [InputDevice(index, info['name'], int(info['max_input_channels']),
                           float(info['default_samplerate']))
               for index, info in enumerate(sd.query_devices()) if info['max_input_channels'] > 0]
    default = sd.default.device[0]
    return devices, (default if isinstance(default, int) and default >= 0 else None)


def resolve_input_device(spec: str, devices: list[InputDevice], default_index: int | None) -> InputDevice:
    """The device spec names; raises DeviceNotFoundError listing the available input devices.

    spec '' = the default input, digits = an index, else a name (exact, case-insensitive,
    or else the first containing it).
    """
    spec = spec.strip()
    if not spec:
        matches = [d for d in devices if d.index == default_index] or devices[:1]
        label = 'the default input device'
    elif spec.lstrip('-').isdigit():
        matches = [d for d in devices if d.index == int(spec)]
        label = f'input device index {spec}'
    else:
        exact = [d for d in devices if d.name.lower() == spec.lower()]
        matches = exact or [d for d in devices if spec.lower() in d.name.lower()]
        label = f"input device '{spec}'"
    if not matches:
        available = '; '.join(d.describe() for d in devices) or 'none (PortAudio finds no input device here)'
        raise DeviceNotFoundError(f'{label} not found; available input devices: {available}')
    return matches[0]


class MicSource:
    """A PortAudio input stream; read() hands out (float32 block, capture time of its first sample).

    The PortAudio callback only copies into a queue; a full queue (the consumer stalled)
    or an overflow drops audio, which the FrameStamper then sees as a gap in time.
    """

    def __init__(self, device_spec: str, block_ms: int, clock_ns: Callable[[], int] = time.time_ns):
        self.device_spec = device_spec
        self.block_ms = block_ms
        self._clock_ns = clock_ns
        self._queue: queue.Queue = queue.Queue(maxsize=max(10, 4000 // block_ms))
        self._stream = None
        self.device: InputDevice | None = None
        self.format: AudioFormat | None = None
        self.overflows = 0

    def open(self) -> InputDevice:
        sd = _sounddevice()
        devices, default = list_input_devices(rescan=True)
        device = resolve_input_device(self.device_spec, devices, default)
        rate = int(device.sample_rate)
        self.format = AudioFormat(sample_rate=rate, channels=1, sample_format='F32LE')  # before any callback
        try:
            stream = sd.InputStream(device=device.index, channels=1, samplerate=rate, dtype='float32',
                                    blocksize=rate * self.block_ms // 1000, callback=self._callback)
            stream.start()
        except Exception as exc:  # PortAudioError and ValueError (unsupported settings) alike
            raise SourceError(f'cannot open input device {device.describe()}: {exc}') from exc
        self._stream, self.device = stream, device
        return device

    def _callback(self, indata, frames, time_info, status) -> None:
        now_ns = self._clock_ns()
        # PortAudio says how long ago the first sample hit the ADC; some hosts report 0.
        age_s = time_info.currentTime - time_info.inputBufferAdcTime
        if not 0 < age_s < 1:
            age_s = frames / self.format.sample_rate
        if status.input_overflow:
            self.overflows += 1
        try:
            self._queue.put_nowait((indata.copy(), now_ns - int(age_s * 1e9)))
        except queue.Full:
            self.overflows += 1

    def read(self, timeout: float) -> tuple[np.ndarray, int]:
        """The next block and its capture time; SourceError when the device went silent or away."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            active = self._stream is not None and self._stream.active
            raise SourceError(f'no audio from input device {self.device.describe()} for {timeout:.1f} s'
                              f"{'' if active else ' (stream stopped: device lost?)'}") from None

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:  # a vanished device can fail to close; nothing more to do with it
                pass
        while not self._queue.empty():
            self._queue.get_nowait()
