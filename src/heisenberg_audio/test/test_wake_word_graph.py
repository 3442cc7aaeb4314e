"""capture -> wake_word over real DDS, both as real processes, with the real openWakeWord model."""

from __future__ import annotations

import time

import numpy as np
import pytest
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from heisenberg_interfaces.msg import WakeWordDetection
from rclpy.time import Time
from heisenberg_testing.processes import NodeProcess
from heisenberg_testing.speech import silence, write_wav
from test_capture_node import Probe, start_capture, start_node, stamps_ns

from heisenberg_audio.core.audio_format import resample
from heisenberg_audio.nodes.audio_messages import audio_message, info_message
from heisenberg_common.qos import AUDIO_IN, AUDIO_OUT, EVENTS, LATCHED

pytestmark = pytest.mark.models
WAKE_WORD_STATUS = '/heisenberg/wake_word: wake word'  # its /diagnostics status name


@pytest.fixture
def probe():
    probe = Probe('wake_probe')
    probe.subscribe(WakeWordDetection, 'wake_word', EVENTS)
    yield probe
    probe.close()


def start_wake_word(tmp_path, nodes, **params) -> NodeProcess:
    return start_node(tmp_path, nodes, 'wake_word', **params)


def detections(probe: Probe) -> list:
    return probe.messages('wake_word')


def wait_for_wake_word(probe: Probe) -> bool:
    """Until wake_word listens on audio/in (its model loaded) and the probe hears its events."""
    def ready():
        listeners = probe.node.get_subscriptions_info_by_topic('/heisenberg/audio/in')
        return (probe.node.count_publishers('/heisenberg/wake_word') >= 1
                and any(info.node_name == 'wake_word' for info in listeners))
    return probe.wait_for(ready, 30.0)


def last_values(probe: Probe, status_name: str) -> dict[str, str]:
    """The key/values of the newest /diagnostics status of that name (frames, last score...)."""
    statuses = probe.diagnostics_of(status_name)
    return {value.key: value.value for value in statuses[-1].values} if statuses else {}


def play_through_graph(tmp_path, nodes, probe, audio: np.ndarray, settle: float) -> list:
    """Capture plays audio from a WAV file into wake_word; returns capture's frames heard by the probe."""
    frames = probe.subscribe(AudioDataStamped, 'audio/in', AUDIO_IN)
    wake = start_wake_word(tmp_path, nodes)
    assert wait_for_wake_word(probe), wake.output()
    path = write_wav(tmp_path / 'in.wav', audio)
    capture = start_capture(tmp_path, nodes, source='file', file_path=str(path), wait_for_subscribers=2)
    duration = len(audio) / 16000
    assert probe.wait_for(lambda: len(frames) * 0.02 >= duration, duration + 20.0), capture.output()
    time.sleep(settle)
    assert wake.alive() and capture.alive(), wake.output() + capture.output()
    return probe.messages('audio/in')


def test_hey_jarvis_from_a_file_wakes_once(tmp_path, nodes, probe, speech):
    phrase = speech.say('Hey Jarvis.')
    audio = np.concatenate([silence(0.5), phrase, silence(2.0)])
    frames = play_through_graph(tmp_path, nodes, probe, audio, settle=0.5)
    heard = detections(probe)
    assert len(heard) == 1, nodes[0].output()
    hit = heard[0]
    assert hit.keyword == 'hey_jarvis' and hit.score > hit.threshold == pytest.approx(0.5)
    # stamped on the file's own timeline (a frame boundary), inside the phrase or just after it
    offset_ns = Time.from_msg(hit.header.stamp).nanoseconds - stamps_ns(frames)[0]
    assert offset_ns % 20_000_000 == 0
    assert 0.5e9 < offset_ns <= (0.5 + len(phrase) / 16000 + 1.0) * 1e9
    assert "wake word 'hey_jarvis'" in nodes[0].output()


def test_speech_without_the_phrase_does_not_wake(tmp_path, nodes, probe, speech):
    audio = np.concatenate([silence(0.3), speech.say('What is the weather like today?'), silence(0.3),
                            speech.say('Turn on the lights please.'), silence(0.5)])
    play_through_graph(tmp_path, nodes, probe, audio, settle=0.5)
    assert detections(probe) == []


def test_44k1_stereo_topic_feed_through_capture_wakes(tmp_path, nodes, probe, speech):
    """The robot's own driver publishes 44.1 kHz stereo; capture's topic source converts it."""
    audio = np.concatenate([silence(0.5), speech.say('Hey Jarvis.'), silence(1.5)])
    stereo = np.repeat((resample(audio / 32768, 16000, 44100) * 32767).astype('<i2')[:, None], 2, axis=1)
    info_pub = probe.node.create_publisher(AudioInfo, 'driver/info', LATCHED)
    audio_pub = probe.node.create_publisher(AudioDataStamped, 'driver/audio', AUDIO_IN)
    info_pub.publish(AudioInfo(channels=2, sample_rate=44100, sample_format='S16LE', bitrate=44100 * 32,
                               coding_format='wave'))
    wake = start_wake_word(tmp_path, nodes)
    capture = start_capture(tmp_path, nodes, source='topic', input_topic='driver/audio',
                            input_info_topic='driver/info')
    probe.subscribe(DiagnosticArray, '/diagnostics')
    assert wait_for_wake_word(probe), wake.output()
    assert probe.wait_for(lambda: audio_pub.get_subscription_count() >= 1, 20.0), capture.output()
    chunk = 882  # 20 ms at 44.1 kHz, as a driver would send
    start_ns = time.time_ns()
    sent = 0

    def send(samples: np.ndarray) -> None:
        nonlocal sent
        for offset in range(0, len(samples), chunk):
            msg = AudioDataStamped()
            msg.header.stamp = Time(nanoseconds=start_ns + sent * 10**9 // 44100).to_msg()
            msg.audio.data = samples[offset:offset + chunk].tobytes()
            audio_pub.publish(msg)
            sent += len(samples[offset:offset + chunk])
            time.sleep(0.02)

    def wake_word_hears_audio() -> bool:
        return any(value.key == 'frames' and int(value.value) > 0
                   for status in probe.diagnostics_of(WAKE_WORD_STATUS) for value in status.values)

    # A driver streams all the time. Capture's best-effort audio/in reaches wake_word only once
    # those two have matched (which the probe cannot see): stream silence until it does.
    deadline = time.monotonic() + 20.0
    while not wake_word_hears_audio() and time.monotonic() < deadline:
        send(np.zeros_like(stereo[:chunk * 10]))
    assert wake_word_hears_audio(), wake.output() + capture.output()
    send(stereo)
    assert probe.wait_for(lambda: detections(probe), 5.0), (
        wake.output() + capture.output() + f'last wake_word status: {last_values(probe, WAKE_WORD_STATUS)}')
    time.sleep(0.5)
    assert [d.keyword for d in detections(probe)] == ['hey_jarvis']
    assert "input format 44100 Hz, 2 ch, S16LE (converted)" in capture.output()


def test_unusable_audio_info_is_refused_and_the_node_lives(tmp_path, nodes, probe, speech):
    probe.subscribe(DiagnosticArray, '/diagnostics')
    info_pub = probe.node.create_publisher(AudioInfo, 'audio/info', LATCHED)
    audio_pub = probe.node.create_publisher(AudioDataStamped, 'audio/in', AUDIO_IN)
    wake = start_wake_word(tmp_path, nodes, diagnostics_period=0.5)
    assert probe.wait_for(lambda: audio_pub.get_subscription_count() >= 1, 20.0), wake.output()

    def feed(audio: np.ndarray, pace: bool = False) -> None:
        start_ns = time.time_ns()
        for offset in range(0, len(audio), 320):
            audio_pub.publish(audio_message(audio[offset:offset + 320], Time(
                nanoseconds=start_ns + offset * 62500).to_msg()))
            if pace:
                time.sleep(0.02)

    def errors_mentioning(text: str) -> bool:
        return any(s.level == b'\x02' and text in s.message
                   for s in probe.diagnostics_of(WAKE_WORD_STATUS))

    info_pub.publish(AudioInfo(channels=1, sample_rate=8000, sample_format='S16LE', coding_format='wave'))
    feed(silence(0.2))
    assert probe.wait_for(lambda: errors_mentioning('got 8000 Hz'), 5.0), wake.output()
    info_pub.publish(AudioInfo(channels=1, sample_rate=16000, sample_format='S16LE', coding_format='MP3'))
    feed(silence(0.2))
    assert probe.wait_for(lambda: errors_mentioning("coding_format 'MP3' is compressed"), 5.0), wake.output()
    assert wake.alive()
    output = wake.output()
    assert 'expected 16000 Hz, 1 channel, S16LE; got 8000 Hz' in output and "'MP3'" in output

    info_pub.publish(info_message())
    # Topics are not ordered with each other: the odd frame must not overtake the good format.
    assert probe.wait_for(lambda: 'graph format, listening' in wake.output(), 5.0), wake.output()
    odd = AudioDataStamped()
    odd.audio.data = bytes(641)
    audio_pub.publish(odd)
    # The same on the echo reference (what the robot plays): dropped with a log, nothing else.
    played_pub = probe.node.create_publisher(AudioDataStamped, 'audio/out', AUDIO_OUT)
    assert probe.wait_for(lambda: played_pub.get_subscription_count() >= 1, 10.0), wake.output()
    played_pub.publish(odd)
    feed(np.concatenate([silence(0.3), speech.say('Hey Jarvis.'), silence(1.0)]), pace=True)
    last_report = probe.diagnostics_of(WAKE_WORD_STATUS)[-1:]
    assert probe.wait_for(lambda: detections(probe), 5.0), (wake.output(), last_report)
    assert wake.alive() and 'odd number of bytes' in wake.output()
    assert 'audio/out: chunk dropped' in wake.output()
    assert wake.stop() == 0
