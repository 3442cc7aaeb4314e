"""The reply lifecycle, without ROS: who is answering, what is said, when a turn is over.

``ReplyCoordinator`` takes the brain's inputs (a wake word, a barge-in, a final transcript, a
Respond goal and its cancel, the audio tts reports, a watchdog tick), runs them through the
state machine (``fsm.step``), and turns its actions into effects through a ``ReplyEffects``
object the node provides (publish the state, a token, a sentence, the metrics; speak a
sentence; log), the way the tts pipeline reaches ROS through its ``SpeechSink``.

A reply comes from a ``ReplySource``: anything with ``async reply(request, outcome,
on_token, on_sentence)``. The LLM (``Replier``) is one; a skill that answers without the
LLM is another, with the same lifecycle around it.

Rules kept here, each a case in test_coordinator:
- one reply at a time, the newest request wins: a new one cancels the running one, which
  ends "preempted by <event>";
- a reply is over when its generation has ended and every sentence it sent to tts has been
  played (or refused): LLM_COMPLETE if none was heard, SPEECH_FINISHED if some was;
- a Respond goal ends when its reply is over (``ActiveReply.done``): a spoken goal once its
  last sentence has been heard, or its speech flushed (a cancel, a newer request, a barge-in,
  the watchdog), a silent one (or a spoken one with no tts) when its text is done; a cancel
  while it is spoken silences it and ends it CANCELED with all the text; a newer request
  that cuts its speech ends it ABORTED, finish_reason 'cancelled', as one that cuts its text;
- a failed spoken reply is followed by a spoken apology (a silent Respond goal's is not), in
  the reply's language (core/phrases.py, unless the ``apology`` parameter sets one), then IDLE;
  with no tts to say it, ERROR is shown and left at once;
- flushing silences the reply's speech and any apology, also one tts has not accepted yet;
- an event about a reply that is no longer the active one is stale and ignored;
- a goal cancelled before it ran does not preempt the running reply;
- an announcement (a timer that rang, a skill's goal that ended) waits until IDLE, then is
  spoken as a reply of its own, in the voice of its language; it never interrupts anyone;
- a request a skill takes is shown on the state topic: THINKING again, cause SKILL, detail the
  skill's name (``on_skill``, called by the skill source as it matches), before its effect runs;
- a reply heard to its end (SPEAKING -> IDLE by SPEECH_FINISHED) opens the follow-up window:
  LISTENING by FOLLOW_UP for ``follow_up_seconds`` (on the state message, so stt knows how long
  to wait for speech), unless it is off or an announcement is waiting (that goes first, and its
  own end opens the window). stt's nothing heard closes it; the watchdog allows the window on
  top of ``listen_timeout``.
- a reply to be spoken is bounded: at most ``max_spoken_tokens`` tokens are asked for, and once
  tts reports ``max_speech_seconds`` of its audio, generation stops and its speech is flushed
  (finish_reason 'length': a runaway answer never holds the robot for minutes).

Threads: inputs come from ROS callback threads and the reply runs on an asyncio loop
(``submit`` hands it a coroutine); one re-entrant lock serializes the state machine.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import math
import threading
import time
from typing import Awaitable, Callable, Protocol

from heisenberg_brain.core.config import BrainConfig
from heisenberg_brain.core.fsm import SHOWN_WITHOUT_CHANGE, Action, Event, State, step
from heisenberg_brain.core.history import PromptTooLong
from heisenberg_brain.core.llm_client import Token
from heisenberg_brain.core.llm_errors import LLMError, explain
from heisenberg_brain.core.phrases import phrase
from heisenberg_brain.core.replier import ReplyOutcome, ReplyRequest, say
from heisenberg_brain.core.sentences import clean_for_speech

NAN = float('nan')
GOAL_POLL = 0.02  # s between looks at a goal's cancel flag (set by the ROS action server)
# The finish reasons of a goal that SUCCEEDED; 'loop': the reply repeated itself, and the part
# before the loop is the answer.
ANSWERED = ('stop', 'length', 'loop')
# BargeIn's sources for stt's tentative onset and its withdrawal (BargeIn.msg): tts pauses and
# resumes the reply, the brain waits for the confirmation.
PAUSE_ONLY_BARGE_IN = ('onset', 'withdrawn')


class Speech(Protocol):
    """A sentence given to tts; cancel() silences it, also before tts has accepted it."""

    def cancel(self) -> None: ...


class ReplyEffects(Protocol):
    """What the coordinator does to the outside world (the node implements it with ROS)."""

    def publish_state(self, state: State, previous: State, cause: str, detail: str, turn_id: int,
                      listen_window: float = 0.0) -> None:
        """listen_window: the follow-up window's seconds (LISTENING by FOLLOW_UP), else 0."""

    def publish_token(self, reply: 'ActiveReply', token: Token) -> None: ...

    def publish_sentence(self, reply: 'ActiveReply', sentence: str) -> None: ...

    def publish_metrics(self, reply: 'ActiveReply') -> None: ...

    def speak(self, text: str, utterance_id: str, on_audio: Callable[[], None],
              on_done: Callable[[], None], language: str = '') -> Speech | None:
        """Send text to tts in its language's voice ('' = tts's default); None when there is no tts.

        on_done: played, refused or cancelled.
        """

    def log(self, level: str, message: str) -> None: ...


class ReplySource(Protocol):
    """Where a reply's words come from (the LLM, or a skill)."""

    def reply(self, request: ReplyRequest, outcome: ReplyOutcome, on_token: Callable[[Token], None],
              on_sentence: Callable[[str], None]) -> Awaitable[ReplyOutcome]: ...


@dataclasses.dataclass
class ActiveReply:
    """One running reply (generation + its speech) and what is known about it."""

    request: ReplyRequest
    turn_id: int
    goal: object = None   # the Respond goal it answers (opaque here), None for a voice turn
    outcome: ReplyOutcome = dataclasses.field(default_factory=ReplyOutcome)
    future: concurrent.futures.Future | None = None
    # Set once the reply is over: its generation has ended and it is no longer the active reply
    # (its speech played, or it was flushed, failed or timed out). Its goal's result leaves then.
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    generation_ended: bool = False   # the source's reply returned, however it ended
    generation_done: bool = False    # ... and without an error
    preempted_by: str = ''
    speech: list = dataclasses.field(default_factory=list)   # Speech sent and not yet done
    held_sentences: list = dataclasses.field(default_factory=list)
    audio_started: bool = False
    flushed: bool = False
    unvoiced: bool = False   # tts was absent when a sentence was to be spoken
    speech_seconds: float = 0.0   # audio tts has sent of this reply
    speech_limited: bool = False  # stopped at max_speech_seconds
    # seconds on the node's clock (NaN = did not happen)
    speech_end: float = NAN
    endpoint_delay: float = NAN
    transcript_at: float = NAN
    started_at: float = NAN
    first_token_at: float = NAN
    first_sentence_at: float = NAN
    first_audio_at: float = NAN

    def latency(self) -> dict[str, float]:
        """The turn's latency split in seconds (NaN where a stage did not happen)."""
        since = self.transcript_at if self.request.source == 'voice' else self.started_at
        return {'endpoint_delay': self.endpoint_delay,
                'speech_end_to_transcript': self.transcript_at - self.speech_end,
                'transcript_to_first_token': self.first_token_at - since,
                'first_token_to_first_sentence': self.first_sentence_at - self.first_token_at,
                'first_sentence_to_first_audio': self.first_audio_at - self.first_sentence_at,
                'voice_to_voice': self.first_audio_at - self.speech_end}


@dataclasses.dataclass(frozen=True)
class GoalEnding:
    """How a Respond goal ends: 'succeeded', 'canceled' or 'aborted', and its outcome."""

    status: str
    outcome: ReplyOutcome
    error: str = ''


class ReplyCoordinator:
    """The brain's reply lifecycle (module docstring)."""

    def __init__(self, config: BrainConfig, source: ReplySource, effects: ReplyEffects,
                 submit: Callable[[Awaitable], concurrent.futures.Future], now: Callable[[], float]):
        self.config = config
        self.source = source
        self.effects = effects
        self._submit = submit
        self._now = now
        self._lock = threading.RLock()
        self._announcements: collections.deque[tuple[str, str]] = collections.deque()   # (text, language)
        self.state = State.IDLE
        self.turn_id = 0
        self.active: ActiveReply | None = None
        self._entered_at = time.monotonic()
        self._last_progress = time.monotonic()
        self._apologies: list[Speech] = []
        self._listen_window = 0.0   # the open follow-up window's seconds, 0 when not in one
        self.server_down_report = ''  # why the llama_server node says the server is down
        self.stats = {'turns': 0, 'errors': 0, 'cancelled': 0, 'prompts_trimmed': 0,
                      'last_voice_to_voice': NAN, 'last_error': ''}

    # ------------------------------------------------------------------ inputs
    def start(self) -> None:
        self.effects.publish_state(State.IDLE, State.IDLE, 'STARTUP', '', 0)

    def on_wake_word(self, keyword: str) -> None:
        self.effects.log('info', f'wake word "{keyword}"')
        self.dispatch(Event.WAKEWORD_DETECTED, detail=keyword)

    def on_barge_in(self, source: str) -> None:
        if source in PAUSE_ONLY_BARGE_IN:
            return   # tts silences (or resumes) the reply on it; only the confirmation interrupts
        self.effects.log('info', f'barge-in ({source})')
        self.dispatch(Event.BARGE_IN, detail=source)

    def on_nothing_heard(self, reason: str) -> None:
        self.effects.log('info', f'nothing heard: {reason}')
        self.dispatch(Event.NOTHING_HEARD, detail=reason)

    def on_transcript(self, text: str, speech_end: float = NAN, endpoint_delay: float = NAN,
                      language: str = '') -> ActiveReply | None:
        """A final transcript heard in language: a voice turn (blank text counts as nothing heard)."""
        if not text.strip():
            self.on_nothing_heard('empty transcript')
            return None
        request = ReplyRequest(prompt=text.strip(), session_id=self.config.voice_session_id, speak=True,
                               source='voice', language=self.config.reply_language(language))
        self.effects.log('info', f'heard: "{request.prompt}"')
        reply = self.dispatch(Event.TRANSCRIPTION_FINAL, request=request, detail=request.prompt)
        if reply is not None:
            reply.speech_end = speech_end
            reply.endpoint_delay = endpoint_delay
            reply.transcript_at = self._now()
        return reply

    def announce(self, text: str, language: str = 'en') -> None:
        """Say text, in language's voice, once the assistant is idle (any thread)."""
        if text.strip():
            with self._lock:
                self._announcements.append((text.strip(), language))
            self._announce_if_idle()

    def _announce_if_idle(self) -> None:
        with self._lock:
            if self.state is State.IDLE and self._announcements:
                text, language = self._announcements.popleft()
                self.effects.log('info', f'announcing: "{text}"')
                self.dispatch(Event.ANNOUNCEMENT, detail=text,
                              request=ReplyRequest(prompt=text, speak=True, source='announcement',
                                                   language=language))

    def on_skill(self, outcome: ReplyOutcome, name: str) -> None:
        """A skill took the request whose reply fills outcome (any thread); a stale reply's is ignored."""
        with self._lock:
            reply = self.active
            if reply is not None and reply.outcome is outcome:
                self.dispatch(Event.SKILL, reply=reply, detail=name)

    def on_speech_activity(self, speaking: bool, utterance_id: str, audio_start: float,
                           chunk_duration: float = 0.0) -> None:
        """What tts plays: the active reply's first audio starts SPEAKING; its seconds are counted."""
        self._last_progress = time.monotonic()
        reply = self.active
        if speaking and reply is not None and utterance_id == str(reply.turn_id):
            self._audio_started(reply, audio_start or self._now())
            self._count_speech(reply, chunk_duration)

    def _count_speech(self, reply: ActiveReply, seconds: float) -> None:
        with self._lock:
            reply.speech_seconds += seconds
            if reply.speech_limited or reply.speech_seconds < self.config.max_speech_seconds:
                return
            reply.speech_limited = True
            limit = self.config.max_speech_seconds
            self.effects.log('warning', f'turn {reply.turn_id}: {reply.speech_seconds:.1f} s spoken, the '
                                        f'limit is {limit:g} s (max_speech_seconds): the rest goes unsaid')
            if reply.future is not None:
                reply.future.cancel()   # generation ends; what it said stays in the history
            self._flush_reply_speech(reply)

    def execute_goal(self, request: ReplyRequest, goal, cancel_requested: Callable[[], bool]) -> GoalEnding:
        """Run a Respond goal to its end (a spoken one's after its speech), in the calling thread.

        cancel_requested is polled: a cancel's state change reaches the goal only after the
        action server's cancel callback has returned, and rclpy 9.1's executor would spin on
        an awaiting coroutine, so the goal's thread waits here on the reply's done event.
        """
        if cancel_requested():
            # Cancelled before it ran: it must not preempt the reply that is running.
            return GoalEnding('canceled', ReplyOutcome(finish_reason='cancelled'))
        reply = self.dispatch(Event.RESPOND_GOAL, request=request, goal=goal, detail=request.prompt)
        if reply is None:  # cannot happen with the current table; never leave a goal hanging
            return GoalEnding('aborted', ReplyOutcome(finish_reason='error'), 'not started')
        cancel_sent = False
        while not reply.done.wait(GOAL_POLL):
            if cancel_requested() and not cancel_sent:
                cancel_sent = True
                self.cancel(reply, 'cancelled by the client')
        outcome = reply.outcome
        if not outcome.finish_reason:
            outcome.finish_reason = 'cancelled'
        if cancel_requested():
            outcome.finish_reason = 'cancelled'
            return GoalEnding('canceled', outcome)
        if reply.preempted_by and request.speak and outcome.finish_reason in ANSWERED:
            # Its text was complete, but a newer request (or the watchdog) cut its speech.
            outcome.finish_reason = 'cancelled'
        if outcome.finish_reason in ANSWERED:
            return GoalEnding('succeeded', outcome)
        if outcome.finish_reason == 'cancelled':
            return GoalEnding('aborted', outcome, reply.preempted_by or 'cancelled')
        return GoalEnding('aborted', outcome, outcome.error)

    def cancel(self, reply: ActiveReply, reason: str) -> None:
        """A client's cancel: the reply ends, its speech silenced (also once its text is complete)."""
        reply.preempted_by = reply.preempted_by or reason
        self.dispatch(Event.GOAL_CANCELLED, reply=reply)
        if reply.future is not None:
            reply.future.cancel()

    def tick(self) -> None:
        """The watchdog: a state held too long without progress times out; waiting announcements go."""
        self._announce_if_idle()
        limits = {State.LISTENING: self.config.listen_timeout, State.THINKING: self.config.think_timeout,
                  State.SPEAKING: self.config.speak_stall_timeout, State.ERROR: self.config.error_hold}
        with self._lock:
            limit = limits.get(self.state)
            if self.state is State.LISTENING:
                limit += self._listen_window
            since = self._entered_at if self.state in (State.LISTENING, State.ERROR) else self._last_progress
            if limit is not None and time.monotonic() - since > limit:
                self.effects.log('warning', f'{self.state.name} for over {limit:g} s: timing out')
                self.dispatch(Event.STATE_TIMEOUT, detail=f'{self.state.name} timeout ({limit:g} s)')

    def close(self) -> None:
        with self._lock:
            reply, self.active = self.active, None
            if reply is not None:
                self._end(reply)   # a goal waiting for its speech ends too
        if reply is not None and reply.future is not None:
            reply.future.cancel()

    # ------------------------------------------------------------------ the state machine
    def dispatch(self, event: Event, request: ReplyRequest | None = None, reply: ActiveReply | None = None,
                 detail: str = '', goal=None) -> ActiveReply | None:
        """Apply event; run the actions; publish the transition. Returns a reply it started.

        An event about a reply (``reply=``) that is no longer the active one is stale and ignored.
        """
        with self._lock:
            if reply is not None and reply is not self.active:
                return None
            previous = self.state
            nxt, actions = step(previous, event)
            started = None
            cancelled = None   # the reply CANCEL_GENERATION ended
            then = None   # an event that follows this one at once
            # Only a reply meant to be heard gets a spoken apology (a silent Respond goal does not), in
            # the language the person was being answered in.
            apologize = self.active is None or self.active.request.speak
            language = self.config.reply_language() if self.active is None else self.active.request.language
            for action in actions:
                if action is Action.START_TURN:
                    self.turn_id += 1
                elif action is Action.CANCEL_GENERATION:
                    cancelled = self._cancel_active(f'preempted by {event.name}')
                elif action is Action.FLUSH_SPEECH:
                    self._flush_speech()
                elif action is Action.START_GENERATION:
                    started = self._start_reply(request, goal)
                elif action is Action.SPEAK_APOLOGY:
                    if not (apologize and self._speak_apology(language)):
                        then = Event.SPEECH_FINISHED, 'no apology to speak'  # ERROR is shown, then IDLE
                elif action is Action.OPEN_FOLLOW_UP:
                    if self.config.follow_up_seconds > 0 and not self._announcements:
                        then = Event.FOLLOW_UP, f'{self.config.follow_up_seconds:g} s without the wake word'
            self.state = nxt
            self._last_progress = time.monotonic()
            if nxt is not previous or event in SHOWN_WITHOUT_CHANGE:
                self._entered_at = self._last_progress
                self._listen_window = self.config.follow_up_seconds if event is Event.FOLLOW_UP else 0.0
                self.effects.publish_state(nxt, previous, event.name, detail, self.turn_id,
                                           listen_window=self._listen_window)
                self.effects.log('info', f'{previous.name} -> {nxt.name} ({event.name}) turn {self.turn_id}')
            if then is not None:
                self.dispatch(then[0], detail=then[1])
            if cancelled is not None:
                self._end(cancelled)   # after the states this event led to
            return started

    def _start_reply(self, request: ReplyRequest, goal) -> ActiveReply:
        if request.speak:
            asked = request.max_tokens or self.config.llm.max_tokens
            request = dataclasses.replace(request, max_tokens=min(asked, self.config.max_spoken_tokens))
        reply = ActiveReply(request=request, turn_id=self.turn_id, goal=goal)
        reply.started_at = self._now()
        self.active = reply
        self.stats['turns'] += 1
        reply.future = self._submit(self._run_reply(reply))
        return reply

    def _cancel_active(self, reason: str) -> ActiveReply | None:
        reply, self.active = self.active, None
        if reply is None:
            return None
        reply.preempted_by = reply.preempted_by or reason
        if reply.future is not None:
            reply.future.cancel()
        self._flush_reply_speech(reply)
        self.stats['cancelled'] += 1
        self._publish_metrics(reply)
        return reply

    # ------------------------------------------------------------------ generation (asyncio thread)
    async def _run_reply(self, reply: ActiveReply) -> None:
        try:
            await self._generate(reply)
            if reply.speech_limited and reply.outcome.finish_reason == 'cancelled':
                reply.outcome.finish_reason = 'length'   # ended by the bound, not by anyone's cancel
            if reply.outcome.finish_reason != 'error':
                if reply.held_sentences and reply is self.active:  # stream_speech off: speak it all now
                    for sentence in reply.held_sentences:
                        self._speak_sentence(reply, sentence)
                with self._lock:
                    reply.generation_done = True
                    self._maybe_finish(reply)
        finally:
            with self._lock:
                reply.generation_ended = True
                self._end(reply)

    async def _generate(self, reply: ActiveReply) -> None:
        def on_token(token):
            self._on_token(reply, token)

        def on_sentence(sentence):
            self._on_sentence(reply, sentence)

        try:
            if reply.request.source == 'announcement':
                say(reply.request.prompt, reply.outcome, on_token, on_sentence)
            else:
                await self.source.reply(reply.request, reply.outcome, on_token, on_sentence)
        except asyncio.CancelledError:
            reply.outcome.finish_reason = 'cancelled'
        except (LLMError, PromptTooLong) as exc:
            self._fail(reply, explain(exc, self.server_down_report))
        except Exception as exc:  # a bug must still end the goal and leave the FSM
            self._fail(reply, f'internal error: {exc!r}')
        finally:
            if reply.outcome.dropped_turns:
                self.stats['prompts_trimmed'] += 1
                self.effects.log('info', f'turn {reply.turn_id}: prompt trimmed to fit the context '
                                         f'({reply.outcome.dropped_turns} history turn(s) folded into '
                                         'the summary)')

    def _fail(self, reply: ActiveReply, message: str) -> None:
        reply.outcome.finish_reason = 'error'
        reply.outcome.error = message
        self.stats['errors'] += 1
        self.stats['last_error'] = message
        self.effects.log('error', f'turn {reply.turn_id}: {message}')
        with self._lock:
            if reply is self.active:
                self._publish_metrics(reply)
                # Still the active reply while the event runs, so FLUSH_SPEECH silences what it
                # already queued on tts and the apology knows whether it was a spoken reply.
                self.dispatch(Event.LLM_ERROR, reply=reply, detail=message)
                if self.active is reply:
                    self.active = None

    def _on_token(self, reply: ActiveReply, token: Token) -> None:
        self._last_progress = time.monotonic()
        if math.isnan(reply.first_token_at):
            reply.first_token_at = self._now()
        if reply is self.active:
            self.effects.publish_token(reply, token)

    def _on_sentence(self, reply: ActiveReply, sentence: str) -> None:
        if reply is not self.active:
            return
        self.effects.publish_sentence(reply, sentence)
        if not reply.request.speak:
            return
        if self.config.stream_speech:
            self._speak_sentence(reply, sentence)
        else:
            reply.held_sentences.append(sentence)

    # ------------------------------------------------------------------ speech
    def _speak_sentence(self, reply: ActiveReply, sentence: str) -> None:
        text = clean_for_speech(sentence)
        if not text:
            return
        with self._lock:
            if reply.flushed:
                return
            if math.isnan(reply.first_sentence_at):
                reply.first_sentence_at = self._now()
            done = threading.Event()   # on_done may come before speak() returns
            holder: list = []

            def on_done() -> None:
                with self._lock:
                    done.set()
                    if holder and holder[0] in reply.speech:
                        reply.speech.remove(holder[0])
                    self._maybe_finish(reply)

            speech = self.effects.speak(text, str(reply.turn_id), lambda: self._on_audio(reply), on_done,
                                        reply.request.language)
            if speech is None:
                if not reply.unvoiced:  # once per reply, not per sentence
                    self.effects.log('warning', 'no tts "speak" action server: the reply is not voiced')
                reply.unvoiced = True
                return
            if not done.is_set():
                holder.append(speech)
                reply.speech.append(speech)

    def _on_audio(self, reply: ActiveReply) -> None:
        self._last_progress = time.monotonic()
        self._audio_started(reply, self._now())

    def _audio_started(self, reply: ActiveReply, at: float) -> None:
        with self._lock:
            if reply.audio_started or reply is not self.active:
                return
            reply.audio_started = True
            reply.first_audio_at = at
        self.dispatch(Event.SPEECH_STARTED, reply=reply)

    def _maybe_finish(self, reply: ActiveReply) -> None:
        """The reply is over when its generation ended and all its speech played (lock held)."""
        if not reply.generation_done or reply.speech or reply is not self.active:
            return
        self._publish_metrics(reply)
        event = Event.SPEECH_FINISHED if reply.audio_started else Event.LLM_COMPLETE
        self.dispatch(event, reply=reply)
        if self.active is reply:
            self.active = None
        self._end(reply)

    def _end(self, reply: ActiveReply) -> None:
        """Set reply.done if it is over: generation ended, no longer active (lock held).

        Called where either becomes true, after the state it ends in has been published, so a
        goal's result leaves after that state (LLM_COMPLETE's or SPEECH_FINISHED's IDLE, ERROR,
        GOAL_CANCELLED's IDLE) and, for a spoken reply, after its speech.
        """
        if reply.generation_ended and reply is not self.active:
            reply.done.set()

    def _flush_speech(self) -> None:
        if self.active is not None:
            self._flush_reply_speech(self.active)
        apologies, self._apologies = self._apologies, []
        for speech in apologies:
            speech.cancel()

    @staticmethod
    def _flush_reply_speech(reply: ActiveReply) -> None:
        reply.flushed = True
        for speech in list(reply.speech):
            speech.cancel()

    def _speak_apology(self, language: str) -> bool:
        """Send the apology in language to tts; False when there is no tts to say it (lock held)."""
        turn = self.turn_id
        holder: list = []
        ended_at_once = []

        def on_done() -> None:
            with self._lock:
                if not holder:   # refused before speak() returned: no apology after all
                    ended_at_once.append(True)
                    return
                if holder[0] not in self._apologies:
                    return       # flushed: its end closes nothing
                self._apologies.remove(holder[0])
                if self.state is State.ERROR and self.turn_id == turn:
                    self.dispatch(Event.SPEECH_FINISHED)

        speech = self.effects.speak(self.config.apology or phrase('apology', language), f'{turn}-apology',
                                    lambda: None, on_done, language)
        if speech is None or ended_at_once:
            return False
        holder.append(speech)
        self._apologies.append(speech)
        return True

    def _publish_metrics(self, reply: ActiveReply) -> None:
        voice_to_voice = reply.latency()['voice_to_voice']
        if not math.isnan(voice_to_voice):
            self.stats['last_voice_to_voice'] = voice_to_voice
        self.effects.publish_metrics(reply)

    def apply_config(self, config: BrainConfig) -> None:
        """New values of the live parameters; the next reply uses them."""
        self.config = config
