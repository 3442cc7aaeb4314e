"""The speaking queue with the real Piper voice, in real time, without ROS: order, pacing, flush, mute."""

import threading
import time

import numpy as np
import pytest

from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig
from heisenberg_audio.core.tts.voices import Voices
from heisenberg_audio.core.tts.pipeline import Outcome, SpeakJob, SpeechPipeline

pytestmark = pytest.mark.models

LEAD = 0.15
RATE = 16000


class RecordingSink:
    """Collects what the pipeline hands out, with the wall time it happened."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def on_start(self, job):
        self._add('start', job)

    def on_chunk(self, job, samples, play_time, first):
        self._add('chunk', job, samples=len(samples), play_time=play_time, first=first, audio=samples.copy())

    def on_pause(self, job, at, retracted):
        self._add('pause', job, at_time=at, retracted=[(j, a.copy(), t) for j, a, t in retracted])

    def on_stop(self, job, end_time, flushed):
        self._add('stop', job, end_time=end_time, flushed=flushed)

    def _add(self, kind, job, **extra):
        with self.lock:
            self.events.append(dict(kind=kind, job=job, at=time.time(), **extra))

    def of(self, kind, job=None):
        with self.lock:
            return [e for e in self.events if e['kind'] == kind and (job is None or e['job'] is job)]


class BrokenVoice:
    """Fault injection (a real voice cannot be made to fail on demand): raises on 'break'."""

    def __init__(self, voice):
        self.voice = voice
        self.output_sample_rate = voice.output_sample_rate

    def sentences(self, text, language=''):
        if 'break' in text:
            raise RuntimeError('voice exploded')
        return self.voice.sentences(text, language)


@pytest.fixture(scope='module')
def voice(models_dir):
    return Voices(Synthesizer(VoiceConfig(), RATE, base_dir=models_dir))


@pytest.fixture
def sink():
    return RecordingSink()


@pytest.fixture
def pipeline(voice, sink):
    pipe = SpeechPipeline(voice, sink, chunk_ms=100, lead_time=LEAD)
    yield pipe
    pipe.close()


def wait_all(jobs, timeout=30.0):
    for job in jobs:
        assert job.finished.wait(timeout), f'{job.text!r} never finished'


def test_jobs_are_spoken_in_order_back_to_back_at_real_time(pipeline, sink):
    jobs = [pipeline.submit(SpeakJob(text, 'u1')) for text in
            ('The first sentence is here.', 'Then comes the second.', 'And the third.')]
    wait_all(jobs)
    assert [j.outcome for j in jobs] == [Outcome.SUCCEEDED] * 3
    assert [e['job'] for e in sink.of('start')] == jobs
    chunks = sink.of('chunk')
    assert [c['job'] for c in chunks] == sorted((c['job'] for c in chunks), key=jobs.index)
    # stamps: each chunk starts where the previous one ended, except after an underrun
    for before, after in zip(chunks, chunks[1:]):
        assert after['play_time'] >= before['play_time'] + before['samples'] / RATE - 1e-6
    within = [c for c in chunks if c['job'] is jobs[0]]
    for before, after in zip(within, within[1:]):
        assert after['play_time'] == pytest.approx(before['play_time'] + before['samples'] / RATE)
    # paced: no chunk leaves earlier than lead_time before it plays
    assert all(c['at'] >= c['play_time'] - LEAD - 0.005 for c in chunks)
    assert [c['first'] for c in chunks].count(True) == 1 and chunks[0]['first']
    # every chunk is full-size except a job's last one
    for job in jobs:
        sizes = [c['samples'] for c in chunks if c['job'] is job]
        assert all(s == 1600 for s in sizes[:-1]) and 0 < sizes[-1] <= 1600
        assert sum(sizes) == job.emitted_samples == job.synthesized_samples
        assert 0 < job.time_to_first_audio < job.play_end - job.accepted_at
    # one stop, once the last chunk has played out; each job finished at its playback end
    stops = sink.of('stop')
    assert len(stops) == 1 and not stops[0]['flushed']
    end = chunks[-1]['play_time'] + chunks[-1]['samples'] / RATE
    assert stops[0]['end_time'] == pytest.approx(end)
    assert stops[0]['at'] >= end - 0.005
    assert pipeline.stats.succeeded == 3 and pipeline.queue_length == 0 and not pipeline.speaking
    assert 0 < pipeline.stats.real_time_factor < 2


def test_cancel_mid_sentence_flushes_at_once_and_the_queue_goes_on(pipeline, sink):
    long = pipeline.submit(SpeakJob('This is a long sentence that will be interrupted well before it '
                                    'reaches its natural and rather distant end.', 'u1'))
    nxt = pipeline.submit(SpeakJob('Next one.', 'u2'))
    deadline = time.time() + 20
    while len(sink.of('chunk', long)) < 5 and time.time() < deadline:
        time.sleep(0.01)
    assert pipeline.cancel(long) is True
    cancelled_at = time.time()
    assert long.outcome is Outcome.CANCELED and long.finished.is_set()
    assert not pipeline.cancel(long)  # a second cancel finds nothing to do
    wait_all([nxt])
    late = [c for c in sink.of('chunk', long) if c['at'] > cancelled_at]
    assert late == []
    assert long.emitted_samples < long.synthesized_samples or not long.synth_done
    stops = sink.of('stop')
    assert [s['flushed'] for s in stops] == [True, False]
    assert stops[0]['job'] is long and stops[0]['at'] <= cancelled_at
    next_chunks = sink.of('chunk', nxt)
    assert next_chunks[0]['first'] and nxt.outcome is Outcome.SUCCEEDED
    assert pipeline.stats.canceled == 1


LONG = ('This is a long sentence that will be silenced for a moment well before it reaches its '
        'natural and rather distant end.')
HOLD = 0.4
LONG_HOLD = 5.0   # a hold only an unmute ends within the test


def mute_after_chunks(pipeline, sink, job, chunks: int) -> float:
    deadline = time.time() + 20
    while len(sink.of('chunk', job)) < chunks and time.time() < deadline:
        time.sleep(0.01)
    assert pipeline.mute(HOLD) is True
    return time.time()


def test_a_mute_silences_at_once_and_resumes_from_the_sample_where_it_stopped(pipeline, sink):
    job = pipeline.submit(SpeakJob(LONG, 'u1'))
    muted = mute_after_chunks(pipeline, sink, job, 6)
    assert pipeline.muted
    wait_all([job])
    assert job.outcome is Outcome.SUCCEEDED and not pipeline.muted
    [pause] = sink.of('pause')
    at = pause['at_time']
    assert pause['job'] is job and at <= muted
    before = [c for c in sink.of('chunk', job) if c['at'] <= pause['at']]
    after = [c for c in sink.of('chunk', job) if c['at'] > pause['at']]
    # What was sent for after the pause is taken back: at most lead_time + one chunk, none of it played.
    retracted = np.concatenate([a for _, a, _ in pause['retracted']])
    assert 0 < len(retracted) <= (LEAD + 0.1) * RATE + 1
    assert all(t >= at - 1.0 / RATE for _, _, t in pause['retracted'])
    # Nothing is sent during the hold; then the reply goes on from the very sample it stopped at.
    assert after and after[0]['at'] >= at + HOLD - 0.005 and after[0]['play_time'] >= at + HOLD - 0.005
    sent_before = np.concatenate([c['audio'] for c in before])
    played = np.concatenate([sent_before[:len(sent_before) - len(retracted)]] + [c['audio'] for c in after])
    resent = np.concatenate([c['audio'] for c in after])
    assert np.array_equal(resent[:len(retracted)], retracted)
    assert len(played) == job.emitted_samples == job.synthesized_samples   # no sample lost or repeated
    # The pause does not end the speech: one stop, at the end of the resumed audio.
    stops = sink.of('stop')
    assert len(stops) == 1 and not stops[0]['flushed']
    assert stops[0]['end_time'] == pytest.approx(after[-1]['play_time'] + after[-1]['samples'] / RATE)


def test_a_cancel_during_the_hold_ends_the_job_silent_from_the_pause(pipeline, sink):
    job = pipeline.submit(SpeakJob(LONG, 'u1'))
    mute_after_chunks(pipeline, sink, job, 6)
    [pause] = sink.of('pause')
    assert pipeline.cancel(job)   # the barge-in was confirmed
    nxt = pipeline.submit(SpeakJob('Next one.', 'u2'))
    wait_all([job, nxt])
    assert job.outcome is Outcome.CANCELED
    assert [c for c in sink.of('chunk', job) if c['at'] > pause['at']] == []
    played = sum(c['samples'] for c in sink.of('chunk', job)) - sum(len(a) for _, a, _ in pause['retracted'])
    assert job.emitted_samples == played
    stops = sink.of('stop')
    assert [s['flushed'] for s in stops] == [True, False]
    assert stops[0]['end_time'] == pytest.approx(pause['at_time'])   # silent since the pause
    assert nxt.outcome is Outcome.SUCCEEDED
    assert sink.of('chunk', nxt)[0]['at'] >= pause['at_time'] + HOLD - 0.005   # the hold holds it too


def test_an_unmute_resumes_at_once_from_the_sample_where_it_stopped(pipeline, sink):
    job = pipeline.submit(SpeakJob(LONG, 'u1'))
    deadline = time.time() + 20
    while len(sink.of('chunk', job)) < 6 and time.time() < deadline:
        time.sleep(0.01)
    assert pipeline.mute(LONG_HOLD) is True
    [pause] = sink.of('pause')
    time.sleep(0.05)
    assert pipeline.unmute() is True   # the tentative barge-in was withdrawn
    unmuted = time.time()
    assert not pipeline.muted and pipeline.unmute() is False   # a second one finds nothing held
    wait_all([job])
    assert job.outcome is Outcome.SUCCEEDED
    after = [c for c in sink.of('chunk', job) if c['at'] > pause['at']]
    # Sent again at once, not when the hold would have ended, from the sample it stopped at.
    assert after and unmuted - 0.005 <= after[0]['at'] < pause['at_time'] + LONG_HOLD
    retracted = np.concatenate([a for _, a, _ in pause['retracted']])
    assert np.array_equal(np.concatenate([c['audio'] for c in after])[:len(retracted)], retracted)
    assert job.emitted_samples == job.synthesized_samples


def test_a_mute_with_nothing_playing_holds_the_next_start(pipeline, sink):
    assert pipeline.mute(HOLD) is False
    muted = time.time()
    job = pipeline.submit(SpeakJob('Hello.', 'u1'))
    wait_all([job])
    assert job.outcome is Outcome.SUCCEEDED and sink.of('pause') == []
    assert sink.of('chunk', job)[0]['at'] >= muted + HOLD - 0.02


def test_cancel_a_queued_job_skips_it(pipeline, sink):
    jobs = [pipeline.submit(SpeakJob(t, 'u')) for t in ('Alpha is first.', 'Bravo is skipped.', 'Charlie.')]
    assert pipeline.cancel(jobs[1])
    wait_all(jobs)
    assert [j.outcome for j in jobs] == [Outcome.SUCCEEDED, Outcome.CANCELED, Outcome.SUCCEEDED]
    assert sink.of('chunk', jobs[1]) == [] and sink.of('start', jobs[1]) == []
    assert [s['flushed'] for s in sink.of('stop')] == [False]


def test_nothing_to_say_succeeds_without_audio(pipeline, sink):
    job = pipeline.submit(SpeakJob('   ', 'u'))
    wait_all([job])
    assert job.outcome is Outcome.SUCCEEDED and job.emitted_samples == 0
    assert job.time_to_first_audio == -1.0
    assert sink.of('start', job) and not sink.of('chunk') and not sink.of('stop')


def test_a_failing_voice_fails_that_job_only(voice, sink):
    pipeline = SpeechPipeline(BrokenVoice(voice), sink, chunk_ms=100, lead_time=LEAD)
    try:
        jobs = [pipeline.submit(SpeakJob(t, 'u')) for t in ('Please break now.', 'Still here.')]
        wait_all(jobs)
    finally:
        pipeline.close()
    assert jobs[0].outcome is Outcome.FAILED and 'voice exploded' in jobs[0].error
    assert jobs[1].outcome is Outcome.SUCCEEDED and jobs[1].emitted_samples > 0


def test_close_fails_what_is_left(voice, sink):
    pipeline = SpeechPipeline(voice, sink, chunk_ms=100, lead_time=LEAD)
    jobs = [pipeline.submit(SpeakJob('A sentence long enough to still be playing at close.', 'u')),
            pipeline.submit(SpeakJob('Never spoken.', 'u'))]
    time.sleep(0.3)
    pipeline.close()
    assert all(j.finished.is_set() and j.outcome is Outcome.FAILED for j in jobs)
    late = pipeline.submit(SpeakJob('After close.', 'u'))
    assert late.outcome is Outcome.FAILED and 'shutting down' in late.error
