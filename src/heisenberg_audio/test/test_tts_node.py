"""The tts node as a real process over real DDS: Speak goals, paced audio/out, flush, activity, WAV.

Audio chunks are matched to goals through SpeechActivity (one message per chunk, whose
audio_start equals the chunk's header.stamp), and heard back with faster-whisper.
"""

import re
import threading
import time
import wave

import numpy as np
import pytest
import rclpy
from action_msgs.msg import GoalStatus
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from heisenberg_testing.processes import NodeProcess, write_params

from heisenberg_audio.core.echo.reference import ReferenceBuffer, sample_index
from heisenberg_common.actions import ActionClient
from heisenberg_common.qos import AUDIO_OUT, EVENTS, LATCHED
from heisenberg_interfaces.action import Speak
from heisenberg_interfaces.msg import BargeIn, SpeechActivity
from heisenberg_common.runner import CONFIG_EXIT_CODE

pytestmark = pytest.mark.models

RATE = 16000


def stamp_key(stamp):
    return (stamp.sec, stamp.nanosec)


def words(text):
    return re.findall(r"[a-z']+", text.lower())


class TtsClient:
    """A test-side node: sends Speak goals, records audio/out, speech_activity, diagnostics."""

    def __init__(self, context):
        self.node = rclpy.create_node('tts_test_client', namespace='heisenberg', context=context)
        self.lock = threading.Lock()
        self.audio, self.activity, self.info, self.diagnostics = [], [], [], []
        self.node.create_subscription(AudioDataStamped, 'audio/out', self._keep(self.audio), AUDIO_OUT)
        self.node.create_subscription(SpeechActivity, 'speech_activity', self._keep(self.activity), EVENTS)
        self.node.create_subscription(AudioInfo, 'audio/out_info', self._keep(self.info), LATCHED)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._keep(self.diagnostics), 10)
        self.action = ActionClient(self.node, Speak, 'speak')
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, into):
        def callback(msg):
            with self.lock:
                into.append((time.time(), msg))
        return callback

    def send(self, text, utterance_id):
        future = self.action.send_goal_async(Speak.Goal(text=text, utterance_id=utterance_id))
        return wait_for(future, 10).result()

    def result(self, handle, timeout=60):
        return wait_for(handle.get_result_async(), timeout).result()

    def activity_of(self, utterance_id):
        with self.lock:
            return [(t, m) for t, m in self.activity if m.utterance_id == utterance_id]

    def chunks_of(self, utterance_id):
        """(arrival time, samples) of the audio/out chunks that belong to utterance_id."""
        starts = {stamp_key(m.audio_start) for _, m in self.activity_of(utterance_id) if m.speaking}
        with self.lock:
            return [(t, np.frombuffer(bytes(m.audio.data), dtype='<i2')) for t, m in self.audio
                    if stamp_key(m.header.stamp) in starts]

    def wait_stopped(self, utterance_id, timeout=20):
        wait_until(lambda: any(not m.speaking for _, m in self.activity_of(utterance_id)), timeout)

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def wait_until(condition, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f'timed out after {timeout} s')


def wait_for(future, timeout):
    wait_until(future.done, timeout)
    return future


@pytest.fixture(scope='module')
def record_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('tts-record')


@pytest.fixture(scope='module')
def tts_node(tmp_path_factory, record_dir):
    path = tmp_path_factory.mktemp('tts-node')
    params = write_params(path / 'tts.yaml', 'tts', {'record_dir': str(record_dir)})
    node = NodeProcess('heisenberg_audio.nodes.tts', 'tts', params_files=(params,), log_dir=path)
    yield node
    node.stop()


@pytest.fixture(scope='module')
def client(tts_node):
    context = rclpy.Context()
    rclpy.init(context=context)
    tts_client = TtsClient(context)
    if not tts_client.action.wait_for_server(timeout_sec=60):
        pytest.fail(f'speak server never came up:\n{tts_node.output()}')
    yield tts_client
    tts_client.close()
    rclpy.try_shutdown(context=context)


@pytest.fixture(scope='module')
def whisper(models_dir):
    from faster_whisper import WhisperModel
    return WhisperModel(str(models_dir / 'whisper-tiny.en'), device='cpu', compute_type='int8')


def transcribe(whisper, samples):
    audio = samples.astype(np.float32) / 32768.0
    segments, _ = whisper.transcribe(audio, beam_size=1, language='en')
    return ' '.join(s.text for s in segments)


def test_a_goal_is_spoken_heard_back_and_recorded(client, whisper, record_dir):
    text = 'The weather today is sunny with a light breeze from the west.'
    handle = client.send(text, 'speak-1')
    assert handle.accepted
    response = client.result(handle)
    client.wait_stopped('speak-1')
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    result = response.result
    assert result.completed and result.error == ''
    assert 0 < result.time_to_first_audio < result.audio_duration + 5
    audio = np.concatenate([s for _, s in client.chunks_of('speak-1')])
    assert len(audio) / RATE == pytest.approx(result.audio_duration, abs=0.002)
    assert 0.04 <= result.audio_duration / len(text) <= 0.12
    heard = words(transcribe(whisper, audio))
    said = words(text)
    assert len(set(said) & set(heard)) >= 0.7 * len(set(said)), heard

    # speech_activity: speaking=true for every chunk, then one speaking=false after the last
    activity = [m for _, m in client.activity_of('speak-1')]
    assert all(m.speaking and m.text == text for m in activity[:-1])
    assert not activity[-1].speaking and not activity[-1].flushed
    assert sum(m.chunk_duration for m in activity) == pytest.approx(result.audio_duration, abs=0.002)
    first, last = activity[0], activity[-2]
    end = last.audio_start.sec + last.audio_start.nanosec * 1e-9 + last.chunk_duration
    start = first.audio_start.sec + first.audio_start.nanosec * 1e-9
    assert end - start == pytest.approx(result.audio_duration, abs=0.01)  # back to back, real time

    # record_dir: the same samples in a playable WAV, closed when the utterance ended
    with wave.open(str(record_dir / 'speak-1.wav'), 'rb') as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        recorded = np.frombuffer(wav.readframes(wav.getnframes()), dtype='<i2')
    assert np.array_equal(recorded, audio)

    with client.lock:
        info = client.info[-1][1]
    assert (info.sample_rate, info.channels, info.sample_format) == (RATE, 1, 'S16LE')


def test_three_goals_sent_at_once_come_out_in_order(client, whisper):
    texts = ['Red apples are sweet.', 'Green grass grows fast.', 'Blue water is cold.']
    handles = [client.action.send_goal_async(Speak.Goal(text=t, utterance_id='order'))
               for t in texts]
    handles = [wait_for(h, 10).result() for h in handles]
    results = [client.result(h) for h in handles]
    client.wait_stopped('order')
    assert [r.status for r in results] == [GoalStatus.STATUS_SUCCEEDED] * 3
    ttfa = [r.result.time_to_first_audio for r in results]
    assert ttfa == sorted(ttfa)
    spoken = [m.text for _, m in client.activity_of('order') if m.speaking]
    assert spoken == sorted(spoken, key=texts.index) and set(spoken) == set(texts)
    heard = words(transcribe(whisper, np.concatenate([s for _, s in client.chunks_of('order')])))
    positions = [heard.index(w) for w in ('red', 'green', 'blue')]
    assert positions == sorted(positions), heard


def test_cancel_mid_sentence_flushes_and_the_next_goal_still_speaks(client):
    long_text = ('This answer is far too long, so the listener interrupts it right in the middle of '
                 'the sentence, long before the speaker could ever reach the natural end of it.')
    first = client.send(long_text, 'cancel-1')
    after = client.send('Okay, stopping now.', 'cancel-2')
    wait_until(lambda: len(client.chunks_of('cancel-1')) >= 5, 30)
    answered = {}
    cancel = first.cancel_goal_async()
    cancel.add_done_callback(lambda _: answered.setdefault('at', time.time()))
    wait_for(cancel, 5)
    assert len(cancel.result().goals_canceling) == 1
    response = client.result(first, 10)
    assert response.status == GoalStatus.STATUS_CANCELED and not response.result.completed
    assert client.result(after).status == GoalStatus.STATUS_SUCCEEDED
    client.wait_stopped('cancel-2')

    # at most one chunk may still be in flight on DDS when the cancel response arrives
    late = [t for t, _ in client.chunks_of('cancel-1') if t > answered['at']]
    assert len(late) <= 1
    heard_seconds = sum(len(s) for _, s in client.chunks_of('cancel-1')) / RATE
    assert heard_seconds == pytest.approx(response.result.audio_duration, abs=0.002)
    assert heard_seconds < 0.04 * len(long_text)  # really cut mid-sentence
    stops = [m for _, m in client.activity_of('cancel-1') if not m.speaking]
    assert len(stops) == 1 and stops[0].flushed
    assert client.chunks_of('cancel-2')
    assert [m.flushed for _, m in client.activity_of('cancel-2') if not m.speaking] == [False]


def seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def test_a_tentative_barge_in_pauses_the_speech_which_resumes_with_no_word_lost(client, whisper, record_dir):
    text = 'The quick brown fox jumps over the lazy dog while the old cat sleeps by the warm fire.'
    barge_in = client.node.create_publisher(BargeIn, 'barge_in', EVENTS)
    handle = client.send(text, 'pause-1')
    wait_until(lambda: len(client.activity_of('pause-1')) >= 10, 20)   # a second of it sent
    onset = BargeIn(source='onset', score=0.9)
    onset.header.stamp = client.node.get_clock().now().to_msg()
    barge_in.publish(onset)
    response = client.result(handle)
    client.wait_stopped('pause-1')
    assert response.status == GoalStatus.STATUS_SUCCEEDED and response.result.completed

    activity = [m for _, m in client.activity_of('pause-1')]
    [paused] = [m for m in activity if m.paused]
    assert paused.speaking and not activity[-1].speaking and not activity[-1].flushed
    pause = seconds(paused.audio_start)
    chunks = [m for m in activity if m.chunk_duration > 0]
    start = seconds(chunks[0].audio_start)
    resumed = min(seconds(m.audio_start) for m in activity[activity.index(paused):] if m.chunk_duration > 0)
    assert resumed >= pause + 0.75   # barge_in_hold, 0.8 s by default
    # audio/out as a speaker that plays by stamp hears it (a chunk replaces what it overlaps):
    # silent from the pause to the resumption; the audio around it is each sample of the sentence once.
    heard_out, cut, sent_end = ReferenceBuffer(horizon=120.0), None, float('-inf')
    with client.lock:
        out = [(seconds(m.header.stamp), np.frombuffer(bytes(m.audio.data), dtype='<i2'))
               for _, m in client.audio]
    before, replaced, after = [], [], []
    for stamp, samples in out:
        heard_out.add(samples, stamp)
        if cut is None and start - 1e-6 <= stamp < sent_end - 1e-4:
            cut = stamp   # the first chunk that replaces audio already sent: silence from the pause
        if stamp >= start - 1e-6:
            (before if cut is None else replaced if stamp < sent_end - 1e-4 else after).append(samples)
        sent_end = max(sent_end, stamp + len(samples) / RATE)
    assert cut == pytest.approx(pause, abs=1.0 / RATE)
    assert all(not samples.any() for samples in replaced)
    assert not heard_out.read_index(sample_index(cut), sample_index(resumed) - sample_index(cut)).any()
    sent = np.concatenate(before)
    played = np.concatenate([sent[:len(sent) - sum(map(len, replaced))]] + after)
    assert len(played) / RATE == pytest.approx(response.result.audio_duration, abs=0.002)
    with wave.open(str(record_dir / 'pause-1.wav'), 'rb') as wav:
        recorded = np.frombuffer(wav.readframes(wav.getnframes()), dtype='<i2')
    assert np.array_equal(recorded, played)
    heard = words(transcribe(whisper, played))
    said = words(text)
    assert len(set(said) & set(heard)) >= 0.8 * len(set(said)), heard


def test_empty_text_succeeds_without_audio(client):
    response = client.result(client.send('   ', 'empty'))
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.completed and response.result.audio_duration == 0.0
    assert response.result.time_to_first_audio == -1.0
    assert client.activity_of('empty') == []


def test_diagnostics_report_the_voice_and_the_goals(client):
    def tts_status():
        with client.lock:
            for _, array in reversed(client.diagnostics):
                for status in array.status:
                    if status.name == '/heisenberg/tts: text-to-speech':
                        return status
        return None
    wait_until(lambda: tts_status() is not None, 5)
    values = {kv.key: kv.value for kv in tts_status().values}
    assert values['voice_loaded'] == 'true' and values['voice'].endswith('en_US-joe-medium.onnx')
    for key in ('queue_length', 'goals_succeeded', 'goals_canceled', 'last_time_to_first_audio',
                'real_time_factor'):
        assert key in values


def test_missing_voice_exits_with_code_2_naming_the_file(tmp_path):
    missing = tmp_path / 'no-such-voice.onnx'
    params = write_params(tmp_path / 'p.yaml', 'tts_missing', {'voice.model_path': str(missing)})
    node = NodeProcess('heisenberg_audio.nodes.tts', 'tts_missing', params_files=(params,), log_dir=tmp_path)
    try:
        node.process.wait(60)
    finally:
        code = node.stop()
    assert code == CONFIG_EXIT_CODE
    assert str(missing) in node.log_path.read_text()


def test_local_playback_without_a_device_is_a_diagnostic_not_a_crash(tmp_path, client):
    params = write_params(tmp_path / 'p.yaml', 'tts_speaker', {
        'play_locally': True, 'output_device': 'no-such-device-xyz', 'voice.warmup': False})
    node = NodeProcess('heisenberg_audio.nodes.tts', 'tts_speaker', params_files=(params,), log_dir=tmp_path)
    try:
        wait_until(lambda: 'local playback disabled' in node.output() or not node.alive(), 60)
        assert node.alive(), node.output()

        def warned():
            with client.lock:
                return any(s.name == '/heisenberg/tts_speaker: text-to-speech' and s.level == s.WARN
                           and 'no-such-device-xyz' in s.message
                           for _, a in client.diagnostics for s in a.status)
        wait_until(warned, 10)
    finally:
        node.stop()
