"""The capture node as a real process, heard over real DDS by a probe node in the test."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import numpy as np
import pytest
import rclpy
import soundfile
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.time import Time
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.speech import silence, write_wav
from test_capture_core import best_correlation

from heisenberg_audio.core.audio_format import resample
from heisenberg_audio.nodes.audio_messages import info_message, samples_of
from heisenberg_common.qos import AUDIO_IN, LATCHED
from heisenberg_common.runner import CONFIG_EXIT_CODE

FRAME = 320
FRAME_NS = 20_000_000
CAPTURE_STATUS = '/heisenberg/capture: audio capture'  # its /diagnostics status name


class Probe:
    """A test-side node spun in a thread: subscribes, publishes, and waits for conditions."""

    def __init__(self, name: str = 'probe'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, namespace='heisenberg', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list] = defaultdict(list)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def subscribe(self, msg_type, topic: str, qos=10) -> list:
        def keep(msg):
            with self._lock:
                self.received[topic].append(msg)
        self.node.create_subscription(msg_type, topic, keep, qos)
        return self.received[topic]

    def messages(self, topic: str) -> list:
        with self._lock:
            return list(self.received[topic])

    def wait_for(self, predicate, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.05)
        return bool(predicate())

    def diagnostics_of(self, status_name: str) -> list:
        return [status for array in self.messages('/diagnostics') for status in array.status
                if status.name == status_name]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)


@pytest.fixture
def probe():
    probe = Probe()
    yield probe
    probe.close()


def start_node(tmp_path, nodes, name: str, **params) -> NodeProcess:
    """Run heisenberg_audio.nodes.<name> as a process with params; the `nodes` fixture stops it."""
    params_file = write_params(tmp_path / f'{name}.yaml', name, params)
    process = NodeProcess(f'heisenberg_audio.nodes.{name}', name, params_files=(params_file,),
                          log_dir=tmp_path)
    nodes.append(process)
    return process


def start_capture(tmp_path, nodes, **params) -> NodeProcess:
    return start_node(tmp_path, nodes, 'capture', **params)


def reassemble(messages: list) -> np.ndarray:
    return np.concatenate([samples_of(m) for m in messages])


def stamps_ns(messages: list) -> np.ndarray:
    return np.array([Time.from_msg(m.header.stamp).nanoseconds for m in messages])


def play_file(tmp_path, nodes, probe, path, expected_samples: int) -> list:
    """Run capture on a file (no silence after it) and collect the frames it publishes."""
    frames = probe.subscribe(AudioDataStamped, 'audio/in', AUDIO_IN)
    before = time.time_ns()
    capture = start_capture(tmp_path, nodes, source='file', file_path=str(path), pad_silence=False,
                            wait_for_subscribers=1)
    wanted = -(-expected_samples // FRAME)
    assert probe.wait_for(lambda: len(frames) >= wanted, 20.0), capture.output()
    time.sleep(0.3)  # anything after the end would show up now
    assert capture.alive(), capture.output()
    assert 'end of' in capture.output()
    received = probe.messages('audio/in')
    assert before < stamps_ns(received)[0] < time.time_ns()
    return received


@pytest.mark.models
def test_wav_frames_reassemble_to_the_file(tmp_path, nodes, probe, speech):
    audio = np.concatenate([silence(0.2), speech.say('Hey Jarvis.'), silence(0.1)])
    received = play_file(tmp_path, nodes, probe, write_wav(tmp_path / 'speech.wav', audio), len(audio))
    joined = reassemble(received)
    assert all(len(samples_of(m)) == FRAME for m in received)
    assert len(joined) - len(audio) in range(0, FRAME)
    assert np.array_equal(joined[:len(audio)], audio)
    assert np.all(np.diff(stamps_ns(received)) == FRAME_NS)
    assert all(m.header.frame_id == 'microphone' for m in received)

    late = probe.subscribe(AudioInfo, 'audio/info', LATCHED)  # a late joiner still gets it
    assert probe.wait_for(lambda: late, 5.0)
    info = late[0]
    assert (info.sample_rate, info.channels, info.sample_format, info.coding_format) == \
        (16000, 1, 'S16LE', 'wave')


@pytest.mark.models
def test_44k1_stereo_wav_is_converted(tmp_path, nodes, probe, speech):
    audio = np.concatenate([speech.say('Turn on the lights please.'), silence(0.1)])
    stereo = np.stack([resample(audio / 32768, 16000, 44100)] * 2, axis=1)
    path = tmp_path / 'stereo44.wav'
    soundfile.write(str(path), stereo, 44100, subtype='PCM_16')
    received = play_file(tmp_path, nodes, probe, path, len(audio))
    joined = reassemble(received)
    assert abs(len(joined) - len(audio)) <= FRAME
    assert best_correlation(joined, audio) > 0.98
    assert np.all(np.diff(stamps_ns(received)) == FRAME_NS)


def test_file_source_pads_with_silence_at_real_time_pace(tmp_path, nodes, probe):
    tone = (0.3 * 32767 * np.sin(np.arange(3200) / 5)).astype(np.int16)    # 0.2 s
    frames = probe.subscribe(AudioDataStamped, 'audio/in', AUDIO_IN)
    start_capture(tmp_path, nodes, source='file', file_path=str(write_wav(tmp_path / 't.wav', tone)),
                  realtime=False, wait_for_subscribers=1)
    assert probe.wait_for(lambda: len(frames) >= 10, 10.0)
    first = time.monotonic()
    count = len(probe.messages('audio/in'))
    time.sleep(1.0)
    rate = (len(probe.messages('audio/in')) - count) / (time.monotonic() - first)
    received = probe.messages('audio/in')
    assert 30 < rate < 70                    # ~50 frames/s of silence after a fast file
    # (the burst itself may lose frames in a depth-5 best-effort queue; the silence may not)
    assert not reassemble(received[-40:]).any()
    assert np.all(np.diff(stamps_ns(received[-40:])) == FRAME_NS)
    assert stamps_ns(received)[-1] - stamps_ns(received)[0] >= 1_000_000_000


def test_missing_file_exits_with_code_2_naming_it(tmp_path, nodes):
    missing = tmp_path / 'nowhere' / 'hello.wav'
    capture = start_capture(tmp_path, nodes, source='file', file_path=str(missing))
    capture.process.wait(15)
    assert capture.process.returncode == CONFIG_EXIT_CODE
    assert str(missing) in capture.output()


def test_missing_mic_exits_with_code_2_listing_devices(tmp_path, nodes):
    capture = start_capture(tmp_path, nodes, source='mic', device='USB PnP Sound Device',
                            reopen_interval=0.0)
    capture.process.wait(15)
    assert capture.process.returncode == CONFIG_EXIT_CODE
    assert "input device 'USB PnP Sound Device' not found; available input devices:" in capture.output()


def test_missing_mic_with_reopen_stays_up_and_reports(tmp_path, nodes, probe):
    probe.subscribe(DiagnosticArray, '/diagnostics')
    capture = start_capture(tmp_path, nodes, source='mic', device='ReSpeaker', reopen_interval=0.5,
                            diagnostics_period=0.5)

    def reports():
        return probe.diagnostics_of(CAPTURE_STATUS)

    assert probe.wait_for(lambda: len(reports()) >= 3, 15.0), capture.output()
    assert capture.alive()
    status = reports()[-1]
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == b'\x02'
    assert "input device 'ReSpeaker' not found" in status.message and 'retrying every 0.5 s' in status.message
    assert values['source'] == 'mic' and values['audio flowing'] == 'False'
    assert "input device 'ReSpeaker' not found" in capture.output()
    assert capture.stop() == 0


def test_topic_source_refuses_unusable_input_and_stays_up(tmp_path, nodes, probe):
    probe.subscribe(DiagnosticArray, '/diagnostics')
    frames = probe.subscribe(AudioDataStamped, 'audio/in', AUDIO_IN)
    info_pub = probe.node.create_publisher(AudioInfo, 'driver/info', LATCHED)
    audio_pub = probe.node.create_publisher(AudioDataStamped, 'driver/audio', AUDIO_IN)
    info_pub.publish(AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE', coding_format='MP3'))
    capture = start_capture(tmp_path, nodes, source='topic', input_topic='driver/audio',
                            input_info_topic='driver/info', diagnostics_period=0.5)
    assert probe.wait_for(lambda: audio_pub.get_subscription_count() >= 1, 15.0)
    message = AudioDataStamped()
    message.audio.data = bytes(640)
    for _ in range(10):
        audio_pub.publish(message)
        time.sleep(0.02)
    assert probe.wait_for(
        lambda: any(s.level == b'\x02' for s in probe.diagnostics_of(CAPTURE_STATUS)), 5.0)
    assert "coding_format 'MP3' is compressed" in capture.output()
    assert capture.alive() and not frames

    info_pub.publish(info_message())  # the driver comes back in a usable format: audio flows again
    time.sleep(0.5)
    for _ in range(10):
        audio_pub.publish(message)
        time.sleep(0.02)
    assert probe.wait_for(lambda: len(frames) >= 8, 5.0), capture.output()
    assert capture.stop() == 0
