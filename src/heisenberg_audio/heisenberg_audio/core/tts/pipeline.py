"""The speaking queue: jobs in acceptance order, synthesis ahead of playback, instant flush.

Two worker threads share one lock:

- the synthesizer takes jobs in order and appends each sentence's audio to its job as soon
  as Piper returns it, so the next job is being made while the current one plays;
- the emitter speaks the head job: cuts its audio into chunks and hands each to the sink at
  most ``lead_time`` before its playback time. A job is finished (SUCCEEDED) once its last
  sample has been played, i.e. at the timeline's playback end, not when it was sent.

``cancel(job)`` takes the same lock, so once it returns nothing more of that job reaches
the sink. If the job's audio is the latest sent, the sink is told to stop (flushed=True).
Nothing here waits for Piper: a cancel during synthesis just discards the sentence.

``mute(hold)`` (a tentative barge-in) silences the output at once without ending any job:
the audio already sent for after now is retracted (the sink is told which chunks, so it can
replace them with silence downstream and flush a local speaker), nothing is sent for `hold`
seconds, and then the retracted samples are sent again first, so the reply resumes from the
sample at which it fell silent and no word is lost. A cancel during the hold (the confirmed
barge-in) ends the job as usual, with its stop stamped at the moment it fell silent.
``unmute()`` (the tentative barge-in withdrawn) ends the hold at once: the reply resumes then.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import logging
import threading
import time
from typing import Any, Protocol

import numpy as np

from heisenberg_audio.core.tts.playback import Chunker, PlaybackTimeline, chunk_samples

# After a flush, wait this long before speaking the next queued job: a barge-in cancels the
# whole reply goal by goal, and the rest of the cancels should land before any of it is sent.
FLUSH_HOLDOFF = 0.05

_LOG = logging.getLogger(__name__)


class Outcome(enum.Enum):
    SUCCEEDED = 'succeeded'
    CANCELED = 'canceled'
    FAILED = 'failed'


@dataclasses.dataclass(eq=False)
class SpeakJob:
    """One Speak goal. Fields below `handle` are written by the pipeline under its lock."""

    text: str
    utterance_id: str = ''
    language: str = ''   # picks the voice ('' = the default one)
    handle: Any = None  # the caller's goal handle, opaque here
    accepted_at: float = 0.0
    outcome: Outcome | None = None
    error: str = ''
    emitted_samples: int = 0
    synthesized_samples: int = 0
    synth_seconds: float = 0.0
    first_audio_at: float | None = None
    play_end: float | None = None
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)
    pending: list = dataclasses.field(default_factory=list)  # synthesized, not yet chunked
    synth_done: bool = False
    cancelled: bool = False

    @property
    def time_to_first_audio(self) -> float:
        return -1.0 if self.first_audio_at is None else self.first_audio_at - self.accepted_at


class SpeechSink(Protocol):
    """Where the pipeline's output goes (the node: topics, goal handles, speaker, WAV)."""

    def on_start(self, job: SpeakJob) -> None:
        """The job is next to speak (or ends without audio): the goal starts executing."""

    def on_chunk(self, job: SpeakJob, samples: np.ndarray, play_time: float, first: bool) -> None:
        """One chunk of job, to be heard at play_time; first=True after idle or a flush."""

    def on_stop(self, job: SpeakJob | None, end_time: float, flushed: bool) -> None:
        """Speaking stopped: the queue ran dry and the audio played out, or job was flushed."""

    def on_pause(self, job: SpeakJob | None, at: float, retracted: list) -> None:
        """Silent from `at` (a mute); retracted = [(job, samples, play_time)] sent for after `at`.

        Those samples will be sent again, later, with new play times.
        """


@dataclasses.dataclass
class PipelineStats:
    succeeded: int = 0
    canceled: int = 0
    failed: int = 0
    last_time_to_first_audio: float = float('nan')
    last_real_time_factor: float = float('nan')  # synthesis seconds / audio seconds, last job
    synth_seconds: float = 0.0
    synthesized_seconds: float = 0.0

    @property
    def real_time_factor(self) -> float:
        """Over every job so far."""
        return self.synth_seconds / self.synthesized_seconds if self.synthesized_seconds else float('nan')


class SpeechPipeline:
    def __init__(self, synthesizer, sink: SpeechSink, chunk_ms: int = 100, lead_time: float = 0.15,
                 clock=time.time):
        self._synthesizer = synthesizer
        self._sink = sink
        self._clock = clock
        self.sample_rate = synthesizer.output_sample_rate
        self.chunk_size = chunk_samples(self.sample_rate, chunk_ms)
        self._timeline = PlaybackTimeline(lead_time)
        self._cond = threading.Condition()
        self._to_speak: collections.deque[SpeakJob] = collections.deque()  # head is being spoken
        self._to_synthesize: collections.deque[SpeakJob] = collections.deque()
        self._playing_out: collections.deque[SpeakJob] = collections.deque()  # sent, still audible
        self._last_emitted: SpeakJob | None = None
        self._speaking = False
        self._hold_until = float('-inf')
        self._muted_until = float('-inf')
        self._sent: collections.deque = collections.deque()    # (job, samples, play_time) maybe audible
        self._replay: collections.deque = collections.deque()  # (job, samples) retracted, to send again
        self._closed = False
        self.stats = PipelineStats()
        self._threads = [threading.Thread(target=self._synth_loop, name='tts-synth', daemon=True),
                         threading.Thread(target=self._emit_loop, name='tts-emit', daemon=True)]
        for thread in self._threads:
            thread.start()

    # --- API (any thread) ---

    def submit(self, job: SpeakJob) -> SpeakJob:
        with self._cond:
            job.accepted_at = self._clock()
            if self._closed:
                job.error = 'tts is shutting down'
                self._finish(job, Outcome.FAILED)
                return job
            self._to_speak.append(job)
            self._to_synthesize.append(job)
            self._cond.notify_all()
        return job

    def cancel(self, job: SpeakJob) -> bool:
        """Flush job now. False if it had already finished (nothing to cancel)."""
        with self._cond:
            if job.outcome is not None:
                return False
            job.cancelled = True
            flush = self._speaking and job is self._last_emitted
            for queue in (self._to_speak, self._to_synthesize, self._playing_out):
                if job in queue:
                    queue.remove(job)
            self._replay = collections.deque(entry for entry in self._replay if entry[0] is not job)
            self._sent = collections.deque(entry for entry in self._sent if entry[0] is not job)
            self._finish(job, Outcome.CANCELED)
            if flush:
                self._speaking = False
                self._hold_until = self._clock() + FLUSH_HOLDOFF
                self._stop_sink(job, flushed=True)
            self._cond.notify_all()
            return True

    def mute(self, hold: float) -> bool:
        """Silence the output now for `hold` s, then resume where it stopped. False: nothing playing."""
        with self._cond:
            if self._closed:
                return False
            now = self._clock()
            self._muted_until = max(self._muted_until, now + hold)
            if not self._speaking:
                return False   # (the next job's start waits for the hold too)
            retracted = self._retract(now)
            try:
                self._sink.on_pause(self._last_emitted, now, retracted)
            except Exception:  # reporting a pause must not stop the mute
                _LOG.exception('tts pause report failed')
            self._cond.notify_all()
            return True

    def unmute(self) -> bool:
        """End a hold now: the reply resumes at once. False: it was not muted."""
        with self._cond:
            now = self._clock()
            if self._closed or now >= self._muted_until:
                return False
            self._muted_until = now
            self._cond.notify_all()
            return True

    @property
    def muted(self) -> bool:
        return self._clock() < self._muted_until

    def _retract(self, now: float) -> list:
        """Take back what was sent for after now: the jobs forget it and it goes to the replay queue."""
        retracted = []
        for job, samples, play_time in self._sent:
            cut = max(0, int(round((now - play_time) * self.sample_rate)))
            if cut < len(samples):
                retracted.append((job, samples[cut:], play_time + cut / self.sample_rate))
        self._sent.clear()
        for job, samples, _ in retracted:
            job.emitted_samples -= len(samples)
            if job in self._playing_out:
                job.play_end = float('inf')   # until its retracted tail has been sent again
        self._replay.extendleft((job, samples) for job, samples, _ in reversed(retracted))
        self._timeline.cursor = min(self._timeline.cursor, now)
        return retracted

    @property
    def queue_length(self) -> int:
        """Jobs accepted and not finished (waiting, speaking or still playing out)."""
        with self._cond:
            return len(self._to_speak) + len(self._playing_out)

    @property
    def speaking(self) -> bool:
        return self._speaking

    def close(self, timeout: float = 2.0) -> None:
        """Fail every unfinished job and stop the workers (a Piper run in progress is not waited for)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            for job in list(self._to_speak) + list(self._playing_out) + list(self._to_synthesize):
                if job.outcome is None:
                    job.error = 'tts is shutting down'
                    self._finish(job, Outcome.FAILED)
            self._to_speak.clear()
            self._to_synthesize.clear()
            self._playing_out.clear()
            self._replay.clear()
            self._cond.notify_all()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # --- synthesis thread ---

    def _synth_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._to_synthesize:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._to_synthesize.popleft()
            self._synthesize(job)

    def _synthesize(self, job: SpeakJob) -> None:
        started = time.monotonic()
        error = ''
        try:
            for samples in self._synthesizer.sentences(job.text, job.language):
                with self._cond:
                    if job.cancelled or self._closed:
                        return
                    job.pending.append(samples)
                    job.synthesized_samples += len(samples)
                    job.synth_seconds = time.monotonic() - started
                    self._cond.notify_all()
        except Exception as exc:  # a voice failure fails this goal, not the node
            error = f'synthesis failed: {type(exc).__name__}: {exc}'
        with self._cond:
            job.synth_seconds = time.monotonic() - started
            job.error = error
            job.synth_done = True
            if job.synthesized_samples:
                audio = job.synthesized_samples / self.sample_rate
                self.stats.last_real_time_factor = job.synth_seconds / audio
                self.stats.synth_seconds += job.synth_seconds
                self.stats.synthesized_seconds += audio
            self._cond.notify_all()

    # --- emission thread (holds the lock except while waiting) ---

    def _emit_loop(self) -> None:
        with self._cond:
            while not self._closed:
                now = self._clock()
                self._finish_played_out(now)
                if self._replay and now >= self._muted_until:
                    self._replay_step(now)   # the tail of a job that had finished sending
                    continue
                if self._to_speak and now >= max(self._hold_until, self._muted_until):
                    head = self._to_speak[0]
                    try:
                        self._speak(head)
                    except Exception as exc:  # a sink failure fails this job, the queue goes on
                        self._fail_head(head, exc)
                    continue
                if (self._speaking and not self._to_speak and not self._replay
                        and not self._timeline.playing(now)):
                    self._speaking = False
                    self._stop_sink(self._last_emitted, flushed=False)
                self._wait(now, None)

    def _fail_head(self, job: SpeakJob, exc: Exception) -> None:
        _LOG.exception('tts output failed while speaking %r', job.text)
        if job in self._to_speak:
            self._to_speak.remove(job)
        if job.outcome is None:
            job.error = f'output failed: {type(exc).__name__}: {exc}'
            self._finish(job, Outcome.FAILED)

    def _stop_sink(self, job: SpeakJob | None, flushed: bool) -> None:
        try:
            self._sink.on_stop(job, self._timeline.cursor, flushed)
        except Exception:  # reporting a stop must not kill the emitter
            _LOG.exception('tts stop report failed')

    def _speak(self, job: SpeakJob) -> None:
        self._sink.on_start(job)
        chunker = Chunker(self.chunk_size)
        while not (job.cancelled or self._closed):
            while job.pending:
                chunker.push(job.pending.pop(0))
            samples = chunker.pop(final=job.synth_done)
            if samples is None:
                if job.synth_done:
                    break
                now = self._clock()
                if self._replay and now >= self._muted_until:
                    self._replay_step(now)   # what a mute took back need not wait for Piper
                    continue
                self._wait(now, None)  # for Piper's next sentence
                continue
            now = self._wait_to_send(job)
            if now is not None:
                self._emit(job, samples, now)
        if job.cancelled or self._closed:
            return  # cancel() / close() did the bookkeeping
        self._to_speak.popleft()
        if job.error:
            self._finish(job, Outcome.FAILED)
        elif job.emitted_samples == 0:
            self._finish(job, Outcome.SUCCEEDED)
        else:
            # (a mute while it waited may have taken back its tail, to be sent again)
            replaying = any(entry[0] is job for entry in self._replay)
            job.play_end = float('inf') if replaying else self._timeline.cursor
            self._playing_out.append(job)

    def _wait_to_send(self, job: SpeakJob) -> float | None:
        """Wait until the next chunk may leave; the current time, or None if job was flushed."""
        while True:
            now = self._clock()
            if job.cancelled or self._closed:
                return None
            if now < self._muted_until:
                self._wait(now, self._muted_until)
                continue
            if self._replay:   # what a mute took back goes first: it comes before this chunk
                self._replay_step(now)
                continue
            emit_at = self._timeline.emit_at(now)
            if now >= emit_at:
                return now
            self._wait(now, emit_at)

    def _replay_step(self, now: float) -> None:
        """Send the next retracted chunk again if it is due, else wait for it."""
        emit_at = self._timeline.emit_at(now)
        if now < emit_at:
            self._wait(now, emit_at)
            return
        job, samples = self._replay.popleft()
        self._emit(job, samples, now)
        if job.play_end == float('inf') and not any(entry[0] is job for entry in self._replay):
            job.play_end = self._timeline.cursor   # its whole tail is out again

    def _emit(self, job: SpeakJob, samples: np.ndarray, now: float) -> None:
        first = not self._speaking
        play_time = self._timeline.advance(now, len(samples) / self.sample_rate)
        self._speaking = True
        self._last_emitted = job
        if job.first_audio_at is None:
            job.first_audio_at = now
            self.stats.last_time_to_first_audio = job.time_to_first_audio
        job.emitted_samples += len(samples)
        self._sent.append((job, samples, play_time))
        while self._sent and self._sent[0][2] + len(self._sent[0][1]) / self.sample_rate <= now:
            self._sent.popleft()   # already played: a mute cannot take it back
        self._sink.on_chunk(job, samples, play_time, first)

    def _wait(self, now: float, deadline: float | None) -> None:
        """Sleep until deadline, a played-out job's end, the idle point, or a notify."""
        candidates = [deadline, self._hold_until, self._muted_until]
        if self._playing_out:
            candidates.append(self._playing_out[0].play_end)
        if self._speaking:
            candidates.append(self._timeline.cursor)
        future = [t for t in candidates if t is not None and now < t < float('inf')]
        self._cond.wait(min(future) - now if future else None)
        self._finish_played_out(self._clock())

    def _finish_played_out(self, now: float) -> None:
        while self._playing_out and self._playing_out[0].play_end <= now:
            self._finish(self._playing_out.popleft(), Outcome.SUCCEEDED)

    def _finish(self, job: SpeakJob, outcome: Outcome) -> None:
        job.outcome = outcome
        if outcome is Outcome.SUCCEEDED:
            self.stats.succeeded += 1
        elif outcome is Outcome.CANCELED:
            self.stats.canceled += 1
        else:
            self.stats.failed += 1
        job.finished.set()
