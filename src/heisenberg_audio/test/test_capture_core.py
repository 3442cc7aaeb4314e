"""capture's pure parts: framing and stamps, file and topic sources, device choice, health."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import soundfile
from heisenberg_testing.speech import write_wav

from heisenberg_audio.core.audio_format import AudioFormat, resample
from heisenberg_audio.core.capture.config import CaptureConfig
from heisenberg_audio.core.capture.health import ERROR, OK, WARN, StreamHealth
from heisenberg_audio.core.capture.sources import (DeviceNotFoundError, FileSource, FrameStamper, InputDevice,
                                                   Pacer, SourceError, TopicInput, resolve_input_device)

MS = 1_000_000
FRAME = 320  # 20 ms


def tone(seconds: float, rate: int = 16000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)


def best_correlation(a: np.ndarray, b: np.ndarray, max_lag: int = 200) -> float:
    """Peak normalised correlation of a and b over small lags (resamplers shift a little)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    best = 0.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b) if lag >= 0 else (a, b[-lag:])
        n = min(len(x), len(y))
        denom = np.linalg.norm(x[:n]) * np.linalg.norm(y[:n])
        if denom:
            best = max(best, float(np.dot(x[:n], y[:n]) / denom))
    return best


# ----------------------------------------------------------------------------- FrameStamper

@pytest.mark.parametrize('chunks, expected_stamps_ms', [
    # (chunk length, start time in ms or None = continues) ... -> stamps of the frames out
    ([(320, 1000)], [1000]),
    ([(100, 1000), (100, None), (120, None)], [1000]),
    ([(640, 0), (320, None)], [0, 20, 40]),
    ([(480, 0), (480, None)], [0, 20, 40]),
    # callback jitter below the resync tolerance: the count wins
    ([(320, 0), (320, 25), (320, 35)], [0, 20, 40]),
    # 500 ms of lost audio: the timeline jumps forward to the reported time
    ([(320, 0), (320, 520)], [0, 520]),
    # a source clock running backwards never moves stamps back
    ([(320, 1000), (320, 500)], [1000, 1020]),
])
def test_frame_stamps(chunks, expected_stamps_ms):
    stamper = FrameStamper(FRAME)
    stamps = []
    for length, start_ms in chunks:
        out = stamper.push(np.zeros(length, np.int16), None if start_ms is None else start_ms * MS)
        stamps += [stamp for stamp, frame in out]
        assert all(len(frame) == FRAME for _, frame in out)
    assert stamps == [ms * MS for ms in expected_stamps_ms]


def test_frame_stamper_keeps_samples_in_order_and_pads_the_tail():
    audio = np.arange(1000, dtype=np.int16)
    stamper = FrameStamper(FRAME)
    frames = stamper.push(audio[:333], 0) + stamper.push(audio[333:], None) + stamper.flush()
    joined = np.concatenate([f for _, f in frames])
    assert len(joined) == 4 * FRAME
    assert np.array_equal(joined[:1000], audio) and not joined[1000:].any()
    assert stamper.flush() == []


def test_frame_stamper_needs_an_anchor():
    with pytest.raises(ValueError):
        FrameStamper(FRAME).push(np.zeros(10, np.int16))


def test_pacer_spaces_frames_in_time():
    now = [0.0]
    pacer = Pacer(0.02, clock=lambda: now[0])
    waits = []

    class Recorder(threading.Event):
        def wait(self, timeout=None):
            waits.append(round(timeout, 6))
            now[0] += timeout
            return False

    stop = Recorder()
    assert pacer.wait(stop)                 # frame 0 is due at once
    assert pacer.wait(stop) and pacer.wait(stop)
    assert waits == [0.02, 0.02]
    now[0] += 1.0                           # late: no sleeping to catch up
    assert pacer.wait(stop) and waits == [0.02, 0.02]


# ----------------------------------------------------------------------------- FileSource

def take(frames, count):
    return [next(frames) for _ in range(count)]


def test_file_source_16k_mono_round_trip(tmp_path):
    audio = tone(1.01)
    source = FileSource(str(write_wav(tmp_path / 'a.wav', audio)), FRAME, pad_silence=False)
    frames = list(source.frames(start_ns=5 * 10**9))
    joined = np.concatenate([f.samples for f in frames])
    assert len(frames) == 51 and not any(f.padding for f in frames)  # 1.01 s = 50.5 frames, tail padded
    assert np.array_equal(joined[:len(audio)], audio)
    assert [f.stamp_ns for f in frames[:3]] == [5 * 10**9, 5 * 10**9 + 20 * MS, 5 * 10**9 + 40 * MS]


def test_file_source_converts_44k1_stereo(tmp_path):
    mono16 = tone(1.0, freq=300.0)
    stereo44 = np.stack([resample(mono16 / 32768, 16000, 44100)] * 2, axis=1)
    path = tmp_path / 'b.wav'
    soundfile.write(str(path), stereo44, 44100, subtype='PCM_16')
    source = FileSource(str(path), FRAME, pad_silence=False)
    assert (source.sample_rate, source.channels) == (44100, 2)
    joined = np.concatenate([f.samples for f in source.frames(0)])
    assert abs(len(joined) - len(mono16)) <= FRAME
    assert best_correlation(joined, mono16) > 0.99


def test_file_source_reads_flac(tmp_path):
    audio = tone(0.5)
    path = tmp_path / 'c.flac'
    soundfile.write(str(path), audio, 16000)
    joined = np.concatenate([f.samples for f in FileSource(str(path), FRAME, pad_silence=False).frames(0)])
    assert np.array_equal(joined[:len(audio)], audio)


def test_file_source_pads_with_silence_then_loops(tmp_path):
    audio = tone(0.1)   # 5 frames
    path = str(write_wav(tmp_path / 'd.wav', audio))
    padded = take(FileSource(path, FRAME, pad_silence=True).frames(0), 12)
    assert [f.padding for f in padded] == [False] * 5 + [True] * 7
    assert not np.concatenate([f.samples for f in padded[5:]]).any()
    stamps = [f.stamp_ns for f in padded]
    assert np.all(np.diff(stamps) == 20 * MS)
    looped = np.concatenate([f.samples for f in take(FileSource(path, FRAME, loop=True).frames(0), 15)])
    assert np.array_equal(looped, np.tile(audio, 3))


@pytest.mark.parametrize('make, message', [
    (lambda d: d / 'missing.wav', 'missing.wav'),
    (lambda d: (d / 'junk.wav').write_bytes(b'not a wav at all') and d / 'junk.wav', 'junk.wav'),
    (lambda d: write_wav(d / 'empty.wav', np.zeros(0, np.int16)), 'holds no audio'),
])
def test_file_source_errors_name_the_file(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(SourceError, match=message) as info:
        FileSource(str(path), FRAME)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- TopicInput

def test_topic_input_converts_44k1_stereo_s16():
    mono16 = tone(0.5, freq=500.0)
    stereo = np.repeat((resample(mono16 / 32768, 16000, 44100) * 32767).astype('<i2')[:, None], 2, axis=1)
    topic = TopicInput(FRAME)
    assert topic.set_format(AudioFormat(44100, 2, 'S16LE')) is None
    frames = []
    for start in range(0, len(stereo), 882):  # 20 ms messages
        frames += topic.push(stereo[start:start + 882].tobytes(), 10**9 + start * 10**9 // 44100)
    joined = np.concatenate([f.samples for f in frames])
    assert abs(len(joined) - len(mono16)) <= 2 * FRAME
    assert best_correlation(joined, mono16) > 0.99
    assert frames[0].stamp_ns == 10**9 and np.all(np.diff([f.stamp_ns for f in frames]) == 20 * MS)


@pytest.mark.parametrize('fmt, payload, message', [
    (None, b'\0' * 640, 'no AudioInfo'),
    (AudioFormat(16000, 1, 'S16LE', 'MP3'), b'\0' * 640, 'compressed'),
    (AudioFormat(16000, 1, 'S24LE'), b'\0' * 640, 'S24LE'),
    (AudioFormat(1000, 1, 'S16LE'), b'\0' * 640, '1000 Hz'),
    (AudioFormat(16000, 2, 'S16LE'), b'\0' * 641, 'frames'),
    (AudioFormat(16000, 1, 'S16LE'), b'\0' * 641, 'frames'),
])
def test_topic_input_refuses_unusable_audio(fmt, payload, message):
    topic = TopicInput(FRAME)
    if fmt is not None:
        topic.set_format(fmt)
    with pytest.raises(SourceError, match=message):
        topic.push(payload, 1)


def test_topic_input_recovers_when_the_format_becomes_usable():
    topic = TopicInput(FRAME)
    assert 'compressed' in topic.set_format(AudioFormat(coding_format='mp3'))
    assert topic.set_format(AudioFormat()) is None
    assert len(topic.push(b'\0' * 640, 1)) == 1


# ----------------------------------------------------------------------------- devices

DEVICES = [InputDevice(0, 'HDA Intel PCH: ALC257 Analog (hw:0,0)', 2, 44100.0),
           InputDevice(2, 'ReSpeaker 4 Mic Array (UAC1.0)', 6, 16000.0),
           InputDevice(5, 'default', 32, 44100.0)]


@pytest.mark.parametrize('spec, default, expected', [
    ('', 5, 5),
    ('', None, 0),                # no default: the first input
    ('2', None, 2),
    ('respeaker', None, 2),       # case-insensitive substring
    ('Default', None, 5),         # exact name beats the substring match in nothing else
    ('  ReSpeaker 4 Mic Array (UAC1.0) ', None, 2),
])
def test_resolve_input_device(spec, default, expected):
    assert resolve_input_device(spec, DEVICES, default).index == expected


@pytest.mark.parametrize('spec, devices, message', [
    ('usb mic', DEVICES, "input device 'usb mic' not found; available input devices: [0] 'HDA Intel"),
    ('1', DEVICES, 'input device index 1 not found'),
    ('', [], 'the default input device not found; available input devices: none'),
    ('ReSpeaker', [], "'ReSpeaker' not found; available input devices: none"),
])
def test_missing_device_error_lists_the_available_ones(spec, devices, message):
    with pytest.raises(DeviceNotFoundError) as info:
        resolve_input_device(spec, devices, None)
    assert message in str(info.value)
    for device in devices:
        assert device.name in str(info.value)


# ----------------------------------------------------------------------------- health, config

class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize('events, level, message', [
    ([], WARN, 'no audio yet'),
    (['frame'], OK, 'audio flowing'),
    (['frame', 'wait 3'], WARN, 'no audio for 3.0 s'),
    (['problem', 'frame'], ERROR, 'device gone'),
    (['problem', 'clear', 'frame'], OK, 'audio flowing'),
    (['frame', 'error'], WARN, 'audio flowing; bad payload'),
    (['frame', 'error', 'wait 2', 'frame'], OK, 'audio flowing'),
    (['error'], WARN, 'bad payload'),
    (['frame', 'idle', 'wait 3'], OK, 'end of file'),
])
def test_stream_health(events, level, message):
    clock = Clock()
    health = StreamHealth(stale_after=1.0, clock=clock)
    for event in events:
        if event == 'frame':
            health.frame()
        elif event.startswith('wait'):
            clock.now += float(event.split()[1])
        elif event == 'problem':
            health.set_problem('device gone')
        elif event == 'clear':
            health.set_problem(None)
        elif event == 'error':
            health.error('bad payload')
        elif event == 'idle':
            health.idle_reason = 'end of file'
    report = health.report(source='mic')
    assert (report.level, report.message) == (level, message)
    assert report.values['source'] == 'mic'


def test_stream_health_counts_frames_per_second():
    clock = Clock()
    health = StreamHealth(clock=clock)
    clock.now += 2.0
    health.frame(100)
    assert health.frame_rate() == 50.0
    report = health.report()
    assert report.values['frames'] == '100' and report.values['audio flowing'] == 'True'


@pytest.mark.parametrize('fields, message', [
    ({'source': 'usb'}, 'source must be one of'),
    ({'frame_ms': 0}, 'frame_ms'),
    ({'frame_ms': 1001}, 'frame_ms'),
    ({'source': 'file'}, 'file_path'),
    ({'source': 'topic', 'input_topic': ''}, 'input_topic'),
    ({'reopen_interval': -1.0}, 'reopen_interval'),
    ({'diagnostics_period': 0.0}, 'diagnostics_period'),
    ({'wait_for_subscribers': -1}, 'wait_for_subscribers'),
])
def test_capture_config_rejects(fields, message):
    with pytest.raises(ValueError, match=message):
        CaptureConfig(**fields)


def test_capture_config_frames():
    assert CaptureConfig().frame_samples == 320
    assert CaptureConfig(frame_ms=10, source='file', file_path='x.wav').frame_samples == 160
