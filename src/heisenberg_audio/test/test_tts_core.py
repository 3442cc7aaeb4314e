"""tts's pure pieces as case tables: chunking, pacing timeline, speaker buffer, WAV recorder, config."""

import dataclasses
import wave

import numpy as np
import pytest

from heisenberg_audio.core.tts.playback import Chunker, PlaybackTimeline, SampleQueue, chunk_samples
from heisenberg_audio.core.tts.config import TtsConfig
from heisenberg_audio.core.tts.recorder import UtteranceRecorder, wav_name


def ramp(start, count):
    return np.arange(start, start + count, dtype=np.int16)


@pytest.mark.parametrize('rate, chunk_ms, expected', [
    (16000, 100, 1600), (22050, 100, 2205), (16000, 20, 320), (8000, 10, 80), (44100, 30, 1323),
])
def test_chunk_samples(rate, chunk_ms, expected):
    assert chunk_samples(rate, chunk_ms) == expected


# pushes (sentence lengths) -> chunk lengths popped before the end, then with final=True
@pytest.mark.parametrize('size, pushes, full, remainder', [
    (4, [10], [4, 4], [2]),
    (4, [3, 3, 3], [4, 4], [1]),
    (4, [8], [4, 4], []),
    (4, [2], [], [2]),
    (4, [], [], []),
    (4, [1, 1, 1, 1, 1], [4], [1]),
    (5, [12, 0, 3], [5, 5, 5], []),
])
def test_chunker_cuts_fixed_chunks_and_a_short_last_one(size, pushes, full, remainder):
    chunker = Chunker(size)
    start = 0
    for count in pushes:
        chunker.push(ramp(start, count))
        start += count
    got_full = []
    while (chunk := chunker.pop()) is not None:
        got_full.append(chunk)
    got_rest = []
    while (chunk := chunker.pop(final=True)) is not None:
        got_rest.append(chunk)
    assert [len(c) for c in got_full] == full
    assert [len(c) for c in got_rest] == remainder
    everything = np.concatenate(got_full + got_rest) if start else np.zeros(0, np.int16)
    assert np.array_equal(everything, ramp(0, start))  # nothing lost, nothing reordered


# Timeline: lead 0.15 s; each step is (now, chunk duration) emitted at `now`;
# expected playback start of that chunk.
@pytest.mark.parametrize('steps, expected_starts', [
    # from idle, a chunk plays at once; the following ones queue behind it
    ([(10.0, 0.1), (10.0, 0.1), (10.05, 0.1)], [10.0, 10.1, 10.2]),
    # an underrun (next chunk comes after the audio ran out) restarts at now
    ([(10.0, 0.1), (10.5, 0.1)], [10.0, 10.5]),
    # idle for a long time, then speak again
    ([(1.0, 0.2), (100.0, 0.1), (100.0, 0.1)], [1.0, 100.0, 100.1]),
])
def test_timeline_stamps_chunks_back_to_back(steps, expected_starts):
    timeline = PlaybackTimeline(lead_time=0.15)
    starts = [timeline.advance(now, duration) for now, duration in steps]
    assert starts == pytest.approx(expected_starts)


@pytest.mark.parametrize('lead, queued_until, now, emit_at, send_now, playing', [
    (0.15, 10.3, 10.0, 10.15, False, True),  # 0.3 s queued: wait until 0.15 s before it runs out
    (0.15, 10.1, 10.0, 9.95, True, True),    # less than the lead queued: send now
    (0.15, 9.0, 10.0, 9.85, True, False),    # ran out (underrun): send now
    (0.0, 10.3, 10.0, 10.3, False, True),    # no lead: strictly real time
    (0.5, 10.3, 10.0, 9.8, True, True),
])
def test_timeline_emit_time_is_lead_before_playback(lead, queued_until, now, emit_at, send_now, playing):
    timeline = PlaybackTimeline(lead)
    timeline.cursor = queued_until
    assert timeline.emit_at(now) == pytest.approx(emit_at)
    assert (now >= timeline.emit_at(now)) is send_now
    assert timeline.playing(now) is playing


# Sound-card buffer: pushes, then pulls of given sizes -> values pulled (0 = underrun silence)
@pytest.mark.parametrize('pushes, pulls, expected', [
    ([[1, 2, 3]], [2, 2], [[1, 2], [3, 0]]),
    ([[1], [2], [3, 4]], [4], [[1, 2, 3, 4]]),
    ([], [3], [[0, 0, 0]]),
    ([[5, 6]], [1, 0, 1, 1], [[5], [], [6], [0]]),
])
def test_sample_queue_pulls_in_order_and_pads_underruns(pushes, pulls, expected):
    queue = SampleQueue()
    for values in pushes:
        queue.push(np.array(values, dtype=np.int16))
    assert [queue.pull(n).tolist() for n in pulls] == expected


def test_sample_queue_flush_drops_what_was_not_played():
    queue = SampleQueue()
    queue.push(ramp(1, 1000))
    queue.pull(100)
    assert queue.clear() == 900
    assert len(queue) == 0
    assert queue.pull(4).tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize('utterance_id, name', [
    ('turn-1', 'turn-1.wav'),
    ('42', '42.wav'),
    ('', 'utterance.wav'),
    ('../../etc/passwd', 'etc_passwd.wav'),
    ('a b/c', 'a_b_c.wav'),
    ('..', 'utterance.wav'),
])
def test_wav_names_stay_inside_record_dir(utterance_id, name):
    assert wav_name(utterance_id) == name


def read_wav(path):
    with wave.open(str(path), 'rb') as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getframerate(), np.frombuffer(wav.readframes(wav.getnframes()), dtype='<i2')


def test_recorder_one_file_per_utterance_appending_when_it_comes_back(tmp_path):
    recorder = UtteranceRecorder(tmp_path / 'rec', 16000)
    recorder.write('a', ramp(0, 100))
    recorder.write('a', ramp(100, 50))
    rate, samples = read_wav(tmp_path / 'rec' / 'a.wav')  # playable while still open
    assert rate == 16000 and np.array_equal(samples, ramp(0, 150))
    recorder.write('b', ramp(7, 10))  # another utterance closes the first
    assert recorder.open_utterance == 'b'
    recorder.close()
    recorder.write('a', ramp(150, 30))  # the same reply continues after a pause
    recorder.close()
    assert np.array_equal(read_wav(tmp_path / 'rec' / 'a.wav')[1], ramp(0, 180))
    assert np.array_equal(read_wav(tmp_path / 'rec' / 'b.wav')[1], ramp(7, 10))


def test_recorder_takes_back_what_a_pause_retracted_so_the_resumed_audio_is_there_once(tmp_path):
    recorder = UtteranceRecorder(tmp_path, 16000)
    recorder.write('a', ramp(0, 100))
    recorder.take_back('a', 30)        # samples 70..99 were sent but never played
    recorder.write('a', ramp(70, 50))  # the reply resumes from sample 70
    recorder.take_back('b', 10)        # nothing recorded of it: nothing to do
    recorder.close()
    assert np.array_equal(read_wav(tmp_path / 'a.wav')[1], ramp(0, 120))
    assert not (tmp_path / 'b.wav').exists()


def test_recorder_overwrites_files_from_an_earlier_run(tmp_path):
    UtteranceRecorder(tmp_path, 16000).write('x', ramp(0, 10))
    recorder = UtteranceRecorder(tmp_path, 16000)
    recorder.write('x', ramp(5, 3))
    recorder.close()
    assert read_wav(tmp_path / 'x.wav')[1].tolist() == [5, 6, 7]


@pytest.mark.parametrize('changes, message', [
    ({'output_sample_rate': 4000}, 'output_sample_rate'),
    ({'chunk_ms': 5}, 'chunk_ms'),
    ({'chunk_ms': 5000}, 'chunk_ms'),
    ({'lead_time': -0.1}, 'lead_time'),
    ({'lead_time': 3.0}, 'lead_time'),
    ({'barge_in_hold': 0.0}, 'barge_in_hold'),
    ({'barge_in_hold': 6.0}, 'barge_in_hold'),
])
def test_tts_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        TtsConfig(**changes)


def test_tts_config_fields_are_described():
    def fields(cls):
        for field in dataclasses.fields(cls):
            if dataclasses.is_dataclass(field.type) or field.name == 'voice':
                continue
            yield field
    from heisenberg_audio.core.tts.synthesizer import VoiceConfig
    for cls in (TtsConfig, VoiceConfig):
        for field in fields(cls):
            assert field.metadata.get('description'), f'{cls.__name__}.{field.name} has no description'


def test_a_missing_output_device_is_a_clear_error_naming_it():
    from heisenberg_audio.core.tts.playback import LocalPlayer, PlaybackUnavailable
    with pytest.raises(PlaybackUnavailable, match='no-such-device-xyz'):
        LocalPlayer(16000, 'no-such-device-xyz')
