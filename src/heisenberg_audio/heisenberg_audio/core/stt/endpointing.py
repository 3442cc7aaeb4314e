"""Where a spoken request begins and ends: a state machine over scored audio windows.

The Endpointer always keeps the last `pre_roll` seconds of windows with their Silero
speech probability. A wake word starts a turn:

* The utterance may begin at `wake stamp - wake_margin` (the anchor). If speech runs
  through the anchor (the question said in the same breath as "Hey Jarvis"), the whole
  run is kept from its onset; the transcriber strips the wake phrase from the text.
  Otherwise the utterance begins at the first voiced window after the anchor.
* `speech_pad` of quieter audio is kept before the first voiced window, so soft onsets
  are not clipped (never reaching back into earlier voiced audio).
* With a turn judge (core/stt/turn.py), `smart_turn_after` seconds into the trailing
  silence the judge is asked whether the speaker is done; if so the utterance ends there.
  Otherwise, or without a judge, `end_of_speech_silence` of silent windows after the last
  voiced one ends it (audio missing from the stream is not silence: a stall upstream must
  not cut the user off). An end the judge called stays open to revision: speech within
  `end_of_speech_silence` of the last voiced window reopens the turn (`TurnReopened`, same
  turn id, all its audio kept), and its next end replaces the first ("Stop. What is...",
  with a sentence pause the judge took for the end);
  `max_utterance` cuts it; `no_speech_timeout` after the wake word without speech
  reports nothing heard.
* A follow-up turn (``start_turn(stamp, listen_for=window)``: the brain's follow-up window
  after a reply) has no wake word: its utterance begins at the first voiced window from the
  window's start (no wake_margin before it: that is the robot's own voice), and no speech
  within the window reports nothing heard ("no follow-up within ..."). Otherwise it is a
  turn like any other.
* Speech that ended before the wake word fired is the wake phrase itself (the user
  paused after it): it is dropped and the turn keeps waiting. So are blips shorter
  than `min_speech`. When the wake phrase's speech runs a little past the wake stamp,
  only whisper can tell: the node then calls `resume()` and the turn waits again.
* With `speculative`, `speculative_after` seconds into the trailing silence the
  utterance so far is offered for transcription (unless all of it precedes the wake
  word); if no speech comes back before the endpoint, the final utterance is the same
  audio (same `key`), so its text is ready or on its way.

Pure Python (numpy only): the node feeds it windows and turns its events into work.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
from collections.abc import Callable

import numpy as np

from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.stt.vad import VadFrame


class Phase(enum.Enum):
    IDLE = 'idle'           # no turn: only the pre-roll ring is kept
    WAITING = 'waiting'     # turn started, no speech yet
    SPEECH = 'speech'       # voiced windows are arriving
    TRAILING = 'trailing'   # silence after speech, not yet long enough to end it


@dataclasses.dataclass(frozen=True)
class Utterance:
    """The audio of one request, with its capture times."""

    turn_id: int
    audio: np.ndarray = dataclasses.field(repr=False)  # int16, 16 kHz
    audio_start: float    # capture time of audio[0]
    speech_start: float   # start of the first voiced window
    speech_end: float     # end of the last voiced window
    decided_at: float     # capture time at which this audio was handed over
    # 'trailing_silence' (a speculation), 'turn_complete' (the judge said so), 'end_of_speech',
    # 'max_utterance', 'audio_stopped'
    reason: str
    turn_probability: float | None = None   # the judge's last verdict on this turn, if asked

    @property
    def key(self) -> tuple:
        """Equal keys mean the same audio: a speculative result can stand for the final one."""
        return (self.turn_id, self.audio_start, self.speech_end, len(self.audio))

    @property
    def endpoint_delay(self) -> float:
        return self.decided_at - self.speech_end


@dataclasses.dataclass(frozen=True)
class TurnStarted:
    turn_id: int
    wake_stamp: float
    superseded: int = 0   # the unfinished turn this one replaces (0: none)


@dataclasses.dataclass(frozen=True)
class SpeechStarted:
    turn_id: int
    speech_start: float


@dataclasses.dataclass(frozen=True)
class SpeechDropped:
    turn_id: int
    speech_start: float
    speech_end: float
    reason: str           # 'wake phrase', 'before the window' (follow-up) or 'too short'


@dataclasses.dataclass(frozen=True)
class Speculation:
    """Trailing silence began: the utterance as it would be if speech ended here."""

    utterance: Utterance


@dataclasses.dataclass(frozen=True)
class EndOfSpeech:
    """The endpoint: transcribe this and publish the final transcript."""

    utterance: Utterance


@dataclasses.dataclass(frozen=True)
class TurnReopened:
    """The speaker went on after an end the judge called: the turn listens again."""

    turn_id: int
    speech_start: float   # start of the voiced window that reopened it


@dataclasses.dataclass(frozen=True)
class NoSpeech:
    turn_id: int
    wake_stamp: float
    stamp: float          # capture time of the decision
    reason: str


@dataclasses.dataclass
class _Turn:
    turn_id: int
    wake_stamp: float
    anchor: float
    deadline: float
    phase: Phase = Phase.WAITING
    frames: list = dataclasses.field(default_factory=list)
    speech_start: float = 0.0
    speech_end: float = 0.0
    voiced: float = 0.0     # seconds of voiced windows
    silence: float = 0.0    # seconds of silent windows since the last voiced one
    speculated: bool = False
    judged: bool = False    # the judge was asked about the current silence
    turn_probability: float | None = None
    follow_up: bool = False  # opened by the follow-up window, not by a wake word


# The turn's audio so far -> probability that the speaker is done (SmartTurn.probability).
TurnJudge = Callable[[np.ndarray], float]
# Voiced seconds after the wake word before the judge is asked: "Hey Jarvis." itself sounds
# finished, and the judge is only ever shown the audio from the wake word on.
MIN_JUDGED_SPEECH = 0.3


class Endpointer:
    """Turns scored windows plus wake word stamps into utterances (see the module doc)."""

    def __init__(self, config: SttConfig, judge: TurnJudge | None = None):
        self.config = config
        self._judge = judge
        self._ring: collections.deque[VadFrame] = collections.deque()
        self._turn: _Turn | None = None
        self._last_turn_id = 0
        self._finished: tuple[int, float] | None = None   # (turn id, wake stamp) of the last utterance
        self._revisable: _Turn | None = None   # a turn the judge ended, while speech may reopen it

    @property
    def phase(self) -> Phase:
        return self._turn.phase if self._turn else Phase.IDLE

    @property
    def turn_id(self) -> int:
        """The active turn, or 0."""
        return self._turn.turn_id if self._turn else 0

    @property
    def waiting_for_follow_up(self) -> bool:
        """A follow-up turn is open and nobody has spoken in it yet."""
        return self._turn is not None and self._turn.follow_up and self._turn.phase is Phase.WAITING

    @property
    def last_frame_end(self) -> float | None:
        return self._ring[-1].end if self._ring else None

    def reset(self) -> None:
        """Forget the recent audio (the stream was interrupted or changed format)."""
        self._ring.clear()

    def push(self, frame: VadFrame) -> list:
        """Add the next window of the stream; returns the events it caused."""
        self._remember(frame)
        if self._turn is None:
            return self._reopen_if_speech_goes_on()
        return self._advance(len(self._ring) - 1)

    def start_turn(self, wake_stamp: float, listen_for: float | None = None) -> list:
        """Start a turn for a wake word that fired at capture time wake_stamp.

        With listen_for, a follow-up turn instead: the window opened at wake_stamp and lasts
        listen_for seconds. Any unfinished turn is replaced; the recent audio is replayed from
        the anchor on.
        """
        superseded = self.turn_id
        self._revisable = None
        self._last_turn_id += 1
        follow_up = listen_for is not None
        self._turn = _Turn(turn_id=self._last_turn_id, wake_stamp=wake_stamp,
                           anchor=wake_stamp - (0.0 if follow_up else self.config.wake_margin),
                           deadline=wake_stamp + (listen_for if follow_up else self.config.no_speech_timeout),
                           follow_up=follow_up)
        events = [TurnStarted(self._last_turn_id, wake_stamp, superseded)]
        first = self._first_index_after(self._turn.anchor)
        if first is None:
            return events  # the anchor is ahead of the audio received so far
        if self._voiced(self._ring[first]) and self._ring[first].start <= self._turn.anchor:
            onset = self._onset_of_run(first)
            events += self._begin_speech(onset)
            first = onset + 1
        return events + self._replay(first)

    def resume(self, turn_id: int, after: float) -> list:
        """Listen on in turn turn_id, whose utterance (ending at after) was only the wake phrase.

        The user paused after "Hey Jarvis" longer than end_of_speech_silence but speech ran past
        the wake stamp, so only whisper could tell. The turn waits for the question again (within
        no_speech_timeout of the wake word), from the audio received since. Does nothing when
        another turn has started meanwhile.
        """
        finished = self._finished
        if self._turn is not None or finished is None or finished[0] != turn_id:
            return []
        wake_stamp = finished[1]
        self._turn = _Turn(turn_id=turn_id, wake_stamp=wake_stamp, anchor=after,
                           deadline=wake_stamp + self.config.no_speech_timeout)
        first = self._first_index_after(after)
        return [] if first is None else self._replay(first)

    def _replay(self, first: int) -> list:
        """Run the turn over the remembered windows from index first on."""
        events = []
        for index in range(first, len(self._ring)):
            if self._turn is None:
                break
            events += self._advance(index)
        return events

    def abandon(self) -> None:
        """End the active turn without an utterance (the caller reports why)."""
        self._turn = self._revisable = None

    def expire(self, now: float) -> list:
        """Close the turn as if silence had lasted until now (capture time): audio stopped."""
        turn = self._turn
        last = self.last_frame_end
        if turn is None or last is None:
            return []
        if turn.phase is Phase.WAITING:
            if now >= turn.deadline:
                self._turn = None
                since = 'the follow-up window opened' if turn.follow_up else 'the wake word'
                return [NoSpeech(turn.turn_id, turn.wake_stamp, now,
                                 f'no audio received for {now - last:.1f} s after {since}')]
            return []
        if now - turn.speech_end >= self.config.end_of_speech_silence:
            return self._endpoint(now, 'audio_stopped')
        return []

    # -- internals -----------------------------------------------------------------

    def _reopen_if_speech_goes_on(self) -> list:
        turn, frame = self._revisable, self._ring[-1]
        if turn is None:
            return []
        if frame.start >= turn.speech_end + self.config.end_of_speech_silence - 1e-9:
            self._revisable = None   # the long silence passed: the end stands
            return []
        if not self._voiced(frame):
            return []
        self._revisable, self._turn = None, turn
        events = [TurnReopened(turn.turn_id, frame.start)]
        return events + self._replay(self._first_index_after(turn.frames[-1].end + 1e-9))

    def _voiced(self, frame: VadFrame) -> bool:
        return frame.prob >= self.config.vad_threshold

    def _remember(self, frame: VadFrame) -> None:
        self._ring.append(frame)
        while self._ring and frame.end - self._ring[0].start > self.config.pre_roll:
            self._ring.popleft()

    def _first_index_after(self, stamp: float) -> int | None:
        for index, frame in enumerate(self._ring):
            if frame.end > stamp:
                return index
        return None

    def _onset_of_run(self, index: int) -> int:
        """Walk back from a voiced window to the first voiced window of its run.

        Gaps shorter than end_of_speech_silence do not split a run, as going forward.
        """
        onset, gap = index, 0.0
        for k in range(index - 1, -1, -1):
            frame = self._ring[k]
            if self._voiced(frame):
                onset, gap = k, 0.0
                continue
            gap += frame.duration
            if gap + 1e-9 >= self.config.end_of_speech_silence:
                break
        return onset

    def _pad_start(self, index: int) -> int:
        """Index of the first window of the pad before the voiced window at index.

        A follow-up turn's pad stops at the window's start: before it plays the robot's own
        voice, which the echo gate made silent for the VAD but not for whisper.
        """
        start = index
        onset_time = self._ring[index].start
        floor = self._turn.anchor - 1e-9 if self._turn.follow_up else -math.inf
        for k in range(index - 1, -1, -1):
            frame = self._ring[k]
            if (self._voiced(frame) or onset_time - frame.start > self.config.speech_pad + 1e-9
                    or frame.start < floor):
                break
            start = k
        return start

    def _begin_speech(self, index: int) -> list:
        turn = self._turn
        frame = self._ring[index]
        turn.frames = [self._ring[k] for k in range(self._pad_start(index), index + 1)]
        turn.phase = Phase.SPEECH
        turn.speech_start = frame.start
        turn.speech_end = frame.end
        turn.voiced = frame.duration
        turn.silence = 0.0
        turn.speculated = turn.judged = False
        return [SpeechStarted(turn.turn_id, frame.start)]

    def _advance(self, index: int) -> list:
        turn = self._turn
        frame = self._ring[index]
        if turn.phase is Phase.WAITING:
            return self._wait(index)
        turn.frames.append(frame)
        if self._voiced(frame):
            turn.phase = Phase.SPEECH
            turn.speech_end = frame.end
            turn.voiced += frame.duration
            turn.silence = 0.0
            turn.speculated = turn.judged = False
        else:
            turn.phase = Phase.TRAILING
            turn.silence += frame.duration
        if frame.end - turn.speech_start >= self.config.max_utterance:
            return self._finish(frame.end, 'max_utterance', whole=True)
        if turn.phase is not Phase.TRAILING:
            return []
        return self._trail(frame)

    def _wait(self, index: int) -> list:
        turn = self._turn
        frame = self._ring[index]
        if frame.end <= turn.anchor:
            return []
        if self._voiced(frame):
            return self._begin_speech(index)
        if frame.end >= turn.deadline:
            self._turn = None
            why = (f'no follow-up within {turn.deadline - turn.wake_stamp:.1f} s' if turn.follow_up
                   else f'no speech within {self.config.no_speech_timeout:.1f} s of the wake word')
            return [NoSpeech(turn.turn_id, turn.wake_stamp, frame.end, why)]
        return []

    def _trail(self, frame: VadFrame) -> list:
        turn = self._turn
        silence = turn.silence + 1e-9  # float sums of window durations
        events = []
        # Speech that ended before the wake word is the wake phrase: not worth a whisper run.
        if (self.config.speculative and not turn.speculated and silence >= self.config.speculative_after
                and turn.speech_end > turn.wake_stamp):
            turn.speculated = True
            events.append(Speculation(self._utterance(frame.end, 'trailing_silence', whole=False)))
        if silence >= self.config.end_of_speech_silence:
            events += self._endpoint(frame.end, 'end_of_speech')
        elif self._should_judge(silence) and self._speaker_is_done():
            events += self._endpoint(frame.end, 'turn_complete')
        return events

    def _should_judge(self, silence: float) -> bool:
        turn = self._turn
        if self._judge is None or turn.judged or silence < self.config.smart_turn_after:
            return False
        voiced = sum(f.duration for f in self._judged_frames() if self._voiced(f))
        return voiced + 1e-9 >= max(MIN_JUDGED_SPEECH, self.config.min_speech)

    def _judged_frames(self) -> list[VadFrame]:
        """The turn's frames from the wake word on (a question said in the same breath minus the phrase)."""
        return [f for f in self._turn.frames if f.end > self._turn.wake_stamp]

    def _speaker_is_done(self) -> bool:
        turn = self._turn
        turn.judged = True
        turn.turn_probability = self._judge(np.concatenate([f.samples for f in self._judged_frames()]))
        return turn.turn_probability >= self.config.smart_turn_threshold

    def _endpoint(self, stamp: float, reason: str) -> list:
        turn = self._turn
        if turn.voiced < self.config.min_speech:
            return self._drop('too short')
        if turn.speech_end <= turn.wake_stamp:
            return self._drop('before the window' if turn.follow_up else 'wake phrase')
        return self._finish(stamp, reason, whole=False)

    def _drop(self, reason: str) -> list:
        turn = self._turn
        event = SpeechDropped(turn.turn_id, turn.speech_start, turn.speech_end, reason)
        turn.phase = Phase.WAITING
        turn.frames = []
        turn.anchor = turn.speech_end
        return [event]

    def _finish(self, stamp: float, reason: str, whole: bool) -> list:
        utterance = self._utterance(stamp, reason, whole)
        self._finished = (self._turn.turn_id, self._turn.wake_stamp)
        self._revisable = self._turn if reason == 'turn_complete' else None
        self._turn = None
        return [EndOfSpeech(utterance)]

    def _utterance(self, stamp: float, reason: str, whole: bool) -> Utterance:
        """The turn's audio: all of it, or up to speculative_after past the last voiced window.

        The cut makes a speculation and the endpoint after it hold the same audio.
        """
        turn = self._turn
        cut = turn.speech_end + min(self.config.speculative_after, self.config.end_of_speech_silence)
        frames = turn.frames if whole else [f for f in turn.frames if f.start < cut - 1e-9]
        return Utterance(turn_id=turn.turn_id, audio=np.concatenate([f.samples for f in frames]),
                         audio_start=frames[0].start, speech_start=turn.speech_start,
                         speech_end=turn.speech_end, decided_at=stamp, reason=reason,
                         turn_probability=turn.turn_probability)
