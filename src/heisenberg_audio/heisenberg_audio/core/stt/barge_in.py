"""Barge-in by voice: the user starts talking while the robot speaks.

SpeakingTimeline follows tts's speech_activity messages as playback-time intervals: one
opens at the first chunk after silence and closes at the stop's playback end (a flush
included). It also follows the assistant's state: while a reply is SPEAKING, the pauses
between its sentences (the LLM or Piper slower than real time on a small CPU) count as
part of the interval that played last, so the user who talks in such a pause interrupts.

BargeInDetector watches the scored VAD windows of the (echo-cancelled) mic stream that fall
inside such an interval: a window counts when Silero calls it speech
with at least `threshold` and the echo gate says it is not the robot's own voice. Once
`min_speech` seconds of counted windows have come with no gap longer than `max_gap`, it
reports one barge-in for that interval, stamped at the first counted window (the onset).

Two stages, so that the robot falls silent sooner than `min_speech` allows without a cough
or a click cutting its reply: the first reports a stretch's onset as tentative (stt publishes
BargeIn 'onset' and tts silences the reply for a hold time); the confirmed barge-in at
`min_speech` cancels the reply. A stretch is tentative from whichever comes first:

- `pause_after` seconds of counted windows (0 = not by this rule);
- the level cue, judged on each chunk of the mic stream as it arrives (capture's 20 ms frames,
  before Silero has a 32 ms window of it): a chunk at least `cue_excess_db` louder than the
  robot's expected echo (the echo gate's estimate from what it plays), at least `cue_level_db`
  dBFS, and `cue_rise_db` louder than the median of the last CUE_BACKGROUND seconds (an onset,
  not a steady noise); 0 dB = off. Under the robot's voice AEC3 damps the user's first sounds
  and Silero scores them low for 0.1 s or more; the level tells sooner. A loud chunk starts a
  stretch like a counted window, but only counted windows confirm it. No cue in the first
  CUE_BACKGROUND seconds of a stream (a restarted capture's echo canceller has not found the
  echo yet), nor in the CUE_BACKGROUND seconds after a withdrawal (the robot's voice comes back
  abruptly mid-word and AEC3 lets its first frames through: over the graph each resumption was
  paused again ~60 ms later).

A tentative onset ends either confirmed, or withdrawn (BargeIn 'withdrawn': tts resumes at once
instead of at the end of its hold) when its stretch ends short of `min_speech` (more than
`max_gap` without a counted window or a loud chunk), or the robot stops speaking first. A
stretch that Silero never took for speech (less than `pause_after` counted: a cough, a knock, a
door) is withdrawn sooner, after `withdraw_after` seconds without either; one it did count is
not, so that the pause between "Stop." and "What ..." does not let the robot speak again for a
moment. After an early withdrawal the stretch lives on: its next counted window or loud chunk
is a new onset.

Pure Python: the stt node feeds it mic chunks, windows and speech_activity, and publishes what
it finds.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Callable

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE
from heisenberg_audio.core.echo.reference import level_db
from heisenberg_audio.core.stt.vad import VadFrame
from heisenberg_common.described import describe

TIMELINE_HORIZON = 60.0   # s of closed speaking intervals kept
CUE_BACKGROUND = 0.5      # s of mic levels whose median a loud chunk must rise above
# A jump in the chunks' stamps (a restarted capture: its echo canceller starts afresh) empties the
# background: no cue until CUE_BACKGROUND of the new stream has been heard.
CUE_STREAM_JUMP = 0.1     # s
# An open interval covers at most this long past its last chunk's end: a lost stop message
# must not leave barge-in armed once the robot has fallen silent.
OPEN_GRACE = 1.0
EPS = 1e-6


@dataclasses.dataclass(frozen=True)
class BargeInConfig:
    """When the user's voice over the robot's counts as an interruption."""

    enabled: bool = dataclasses.field(default=True, metadata=describe(
        'while the robot speaks (speech_activity), publish BargeIn on barge_in when the user talks, '
        'and transcribe what they say as a turn'))
    threshold: float = dataclasses.field(default=0.5, metadata=describe(
        'Silero speech probability a 32 ms window needs to count towards a barge-in'))
    min_speech: float = dataclasses.field(default=0.2, metadata=describe(
        'seconds of counted speech windows that make a barge-in (a short "Stop." has about 0.2 s)'))
    max_gap: float = dataclasses.field(default=0.5, metadata=describe(
        'seconds of uncounted windows allowed inside one stretch of speech before it starts over '
        '(the pause after a word: "Stop. What ...")'))
    pause_after: float = dataclasses.field(default=0.064, metadata=describe(
        'seconds of counted speech windows after which a tentative barge-in (BargeIn source "onset") '
        'asks tts to silence the reply until the barge-in is confirmed at min_speech, withdrawn or its '
        'hold ends; 0 = not by counted speech (the reply plays on until min_speech or the level cue)'))
    cue_excess_db: float = dataclasses.field(default=20.0, metadata=describe(
        "dB by which one chunk of the mic stream (capture's 20 ms frame) must exceed the robot's "
        "expected echo (the echo gate's estimate) to be a tentative barge-in at once, the level cue "
        '(with cue_level_db and cue_rise_db); 0 = the cue off'))
    cue_level_db: float = dataclasses.field(default=-50.0, metadata=describe(
        'dBFS a chunk needs for the level cue, however quiet the expected echo (the robot between '
        'two words)'))
    cue_rise_db: float = dataclasses.field(default=20.0, metadata=describe(
        'dB by which a chunk must exceed the median mic level of the last 0.5 s for the level cue: '
        'an onset, not a steady noise (a fan)'))
    withdraw_after: float = dataclasses.field(default=0.2, metadata=describe(
        'seconds without a counted window or loud chunk after which a tentative barge-in that Silero '
        'never took for speech (less than pause_after counted: the level cue alone) is withdrawn '
        '(BargeIn source "withdrawn": tts resumes at once); others are withdrawn after max_gap; '
        '0 = only after max_gap; at most max_gap'))

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f'threshold must be in (0, 1), got {self.threshold}')
        if not 0.0 < self.min_speech <= 5.0:
            raise ValueError(f'min_speech must be in (0, 5] s, got {self.min_speech}')
        if not 0.0 <= self.max_gap <= 2.0:
            raise ValueError(f'max_gap must be in [0, 2] s, got {self.max_gap}')
        if not 0.0 <= self.pause_after < self.min_speech:
            raise ValueError(f'pause_after must be 0 (off) or in (0, min_speech = {self.min_speech}) s, '
                             f'got {self.pause_after}')
        if not 0.0 <= self.cue_excess_db <= 80.0:
            raise ValueError(f'cue_excess_db must be 0 (off) or in (0, 80] dB, got {self.cue_excess_db}')
        if not -90.0 <= self.cue_level_db <= 0.0:
            raise ValueError(f'cue_level_db must be in [-90, 0] dBFS, got {self.cue_level_db}')
        if not 0.0 <= self.cue_rise_db <= 80.0:
            raise ValueError(f'cue_rise_db must be in [0, 80] dB, got {self.cue_rise_db}')
        if not 0.0 <= self.withdraw_after <= self.max_gap:
            raise ValueError(f'withdraw_after must be 0 (at max_gap only) or in (0, max_gap = '
                             f'{self.max_gap}] s, got {self.withdraw_after}')


@dataclasses.dataclass
class _Interval:
    number: int
    start: float
    last_chunk_end: float
    end: float | None = None   # None: still speaking

    @property
    def until(self) -> float:
        return self.end if self.end is not None else self.last_chunk_end + OPEN_GRACE

    def covers(self, stamp: float) -> bool:
        return self.start <= stamp < self.until


class SpeakingTimeline:
    """When the robot's voice plays, from speech_activity (chunks and stops)."""

    def __init__(self):
        self._intervals: list[_Interval] = []
        self._count = 0
        self._replies: list[list] = []   # [start, end or None] of the assistant's SPEAKING spans

    def chunk(self, audio_start: float, duration: float) -> None:
        """A chunk that plays from audio_start for duration seconds (speaking=true)."""
        current = self._intervals[-1] if self._intervals else None
        chunk_end = audio_start + duration
        if current is not None and current.end is None and audio_start > current.last_chunk_end + OPEN_GRACE:
            current.end = current.last_chunk_end   # its stop message was lost
        if current is not None and (current.end is None or audio_start < current.end):
            current.end = None   # (a chunk sent before a stop that overtook it: the same speech)
            current.last_chunk_end = max(current.last_chunk_end, chunk_end)
            return
        self._count += 1
        self._intervals.append(_Interval(self._count, audio_start, chunk_end))
        self._forget_before(audio_start - TIMELINE_HORIZON)

    def stop(self, end: float) -> None:
        """Speaking stopped; what was sent plays until end (speaking=false, flushed or not)."""
        if self._intervals and self._intervals[-1].end is None:
            self._intervals[-1].end = max(end, self._intervals[-1].start)

    def reply(self, speaking: bool, stamp: float) -> None:
        """The assistant's state entered (True) or left (False) SPEAKING at stamp."""
        current = self._replies[-1] if self._replies else None
        if speaking and (current is None or current[1] is not None):
            self._replies.append([stamp, None])
        elif not speaking and current is not None and current[1] is None:
            current[1] = max(stamp, current[0])
        self._replies = [r for r in self._replies if r[1] is None or r[1] >= stamp - TIMELINE_HORIZON]

    def interval_at(self, stamp: float) -> int | None:
        """The number of the speaking interval playing at stamp, or None when silent.

        In a pause of a reply that is still SPEAKING: the interval that played last in it.
        """
        for interval in reversed(self._intervals):
            if interval.covers(stamp):
                return interval.number
        for start, end in reversed(self._replies):
            if start <= stamp and (end is None or stamp < end):
                played = [i for i in self._intervals if i.start <= stamp and i.until >= start - OPEN_GRACE]
                return played[-1].number if played else None
        return None

    @property
    def speaking(self) -> bool:
        return bool(self._intervals) and self._intervals[-1].end is None

    def _forget_before(self, stamp: float) -> None:
        self._intervals = [i for i in self._intervals if i.end is None or i.end >= stamp]


ONSET, WITHDRAWN, CONFIRMED = 'onset', 'withdrawn', 'vad'   # BargeIn.source of each (BargeIn.msg)


@dataclasses.dataclass(frozen=True)
class BargeInDetected:
    onset: float        # capture time of the stretch's first counted window or loud chunk
    detected_at: float  # capture time of the end of the window (or chunk) that decided it
    score: float        # mean speech probability of the counted windows (0 before any)
    source: str = CONFIRMED   # ONSET (tentative), WITHDRAWN (that onset unconfirmed) or CONFIRMED

    @property
    def tentative(self) -> bool:
        return self.source == ONSET

    @property
    def confirmed(self) -> bool:
        return self.source == CONFIRMED

    @property
    def reaction(self) -> float:
        return self.detected_at - self.onset


@dataclasses.dataclass
class _Run:
    onset: float
    voiced: float = 0.0
    gap: float = 0.0
    probs: list = dataclasses.field(default_factory=list)
    paused: bool = False   # a tentative onset of it was reported and not withdrawn
    loud_until: float = float('-inf')   # end of its last loud chunk (no gap before it)

    @property
    def score(self) -> float:
        return sum(self.probs) / len(self.probs) if self.probs else 0.0


class BargeInDetector:
    """Scored windows + echo verdicts -> at most one barge-in per speaking interval.

    Before it, tentative onsets (pause_after, the level cue), each confirmed or withdrawn.
    """

    def __init__(self, config: BargeInConfig, timeline: SpeakingTimeline):
        self.config = config
        self.timeline = timeline
        self._run: _Run | None = None
        self._fired: set[int] = set()
        self.detections = 0
        self.onsets = 0
        self.cued = 0        # tentative onsets by the level cue
        self.withdrawals = 0
        self._levels: collections.deque = collections.deque()   # (start, dBFS) of recent mic chunks
        self._stream_start = self._stream_end = None   # of the mic chunks heard without a jump
        self._cue_after = float('-inf')   # no level cue before (a withdrawal: the reply resumes)

    def hear(self, samples: np.ndarray, start: float,
             excess_db: Callable[[], float]) -> BargeInDetected | None:
        """A chunk of the mic stream as it arrives, before its windows are scored: the level cue.

        excess_db(): how much louder than the robot's expected echo the chunk is (+inf where none
        is expected), asked only of a chunk loud enough otherwise. Returns a tentative onset or None.
        """
        config = self.config
        level = level_db(samples)
        if self._stream_end is None or abs(start - self._stream_end) > CUE_STREAM_JUMP:
            self._levels.clear()
            self._stream_start = start
        self._stream_end = start + len(samples) / SAMPLE_RATE
        background = float(np.median([lv for _, lv in self._levels])) if self._levels else 0.0
        self._levels.append((start, level))
        while self._levels and self._levels[0][0] < start - CUE_BACKGROUND:
            self._levels.popleft()
        if not (config.enabled and config.cue_excess_db and level >= config.cue_level_db
                and start - self._stream_start >= CUE_BACKGROUND - EPS and start >= self._cue_after - EPS
                and level >= background + config.cue_rise_db):
            return None
        interval = self.timeline.interval_at(start)
        if interval is None or interval in self._fired or excess_db() < config.cue_excess_db:
            return None
        run = self._run = self._run or _Run(start)
        run.gap = 0.0
        run.loud_until = self._stream_end
        if run.paused:
            return None
        run.paused = True
        self.onsets += 1
        self.cued += 1
        return BargeInDetected(run.onset, run.loud_until, run.score, ONSET)

    def push(self, frame: VadFrame, is_echo: Callable[[VadFrame], bool]) -> BargeInDetected | None:
        """The next window of the stream; is_echo(frame) asks the gate (only for voiced windows).

        Returns a confirmed barge-in, a tentative onset, its withdrawal, or None.
        """
        interval = self.timeline.interval_at(frame.start)
        if not self.config.enabled or interval is None or interval in self._fired:
            return self._drop(frame)
        if frame.prob >= self.config.threshold and not is_echo(frame):
            return self._count(frame, interval)
        run = self._run
        if run is None:
            return None
        run.gap += max(0.0, frame.end - max(frame.start, run.loud_until))
        ended = run.gap > self.config.max_gap + EPS
        if ended:
            self._run = None
        if run.paused and (ended or self._not_speech(run)):
            return self._withdraw(run, frame)
        return None

    def reset(self) -> None:
        """Forget the stretch (stt listens to the user already: a turn is open)."""
        self._run = None

    def _not_speech(self, run: _Run) -> bool:
        """Quiet for withdraw_after, and Silero never counted pause_after of it (min_speech if 0)."""
        config = self.config
        return bool(config.withdraw_after and run.gap + EPS >= config.withdraw_after
                    and run.voiced + EPS < (config.pause_after or config.min_speech))

    def _withdraw(self, run: _Run, frame: VadFrame) -> BargeInDetected:
        run.paused = False
        self.withdrawals += 1
        self._cue_after = frame.end + CUE_BACKGROUND
        return BargeInDetected(run.onset, frame.end, run.score, WITHDRAWN)

    def _drop(self, frame: VadFrame) -> BargeInDetected | None:
        """No barge-in possible here (the robot silent, or this interval's fired): end the stretch."""
        run, self._run = self._run, None
        return self._withdraw(run, frame) if run is not None and run.paused else None

    def _count(self, frame: VadFrame, interval: int) -> BargeInDetected | None:
        run = self._run = self._run or _Run(frame.start)
        run.voiced += frame.duration
        run.gap = 0.0
        run.probs.append(frame.prob)
        if run.voiced + EPS < self.config.min_speech:
            if run.paused or not self.config.pause_after or run.voiced + EPS < self.config.pause_after:
                return None
            run.paused = True
            self.onsets += 1
            return BargeInDetected(run.onset, frame.end, run.score, ONSET)
        self._run = None
        self._fired = {n for n in self._fired if n > interval - 10} | {interval}
        self.detections += 1
        return BargeInDetected(run.onset, frame.end, run.score)
