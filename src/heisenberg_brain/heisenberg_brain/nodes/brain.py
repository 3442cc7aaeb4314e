"""The brain node: state machine, Respond action server, voice turns, speech, metrics.

Threads: rclpy callbacks run on a MultiThreadedExecutor (reentrant group for the action
server, so cancel requests are served while a goal runs); LLM streaming runs on an asyncio
loop in its own thread (aiohttp), bridged with run_coroutine_threadsafe. Every FSM event
goes through ``dispatch`` under one lock, so transitions are serialized and each one is
published on the latched ``state`` topic.

Policy (also in Respond.action): one reply at a time, the newest request wins. A new
Respond goal or a voice turn preempts a running goal (it ends ABORTED, finish_reason
"cancelled", error "preempted ..."); a cancelled goal ends CANCELED with the partial text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from heisenberg_brain.core.config import BrainConfig
from heisenberg_brain.core.fsm import Action, Event, State, step
from heisenberg_brain.core.history import PromptTooLong, SessionStore
from heisenberg_brain.core.llm_client import LlamaClient, Token
from heisenberg_brain.core.llm_errors import LLMError, explain
from heisenberg_brain.core.replier import Replier, ReplyOutcome, ReplyRequest, request_error
from heisenberg_brain.core.sentences import clean_for_speech
from heisenberg_common.actions import ActionClient
from heisenberg_common.diagnostics import ERROR, OK, DiagnosticsPublisher
from heisenberg_common.params import declare_config, watch_config
from heisenberg_common.qos import EVENTS, STATE
from heisenberg_common.runner import run_node
from heisenberg_interfaces.action import Respond, Speak
from heisenberg_interfaces.msg import (AssistantState, BargeIn, SpeechActivity, Transcript, TurnMetrics,
                                       WakeWordDetection)

NAN = float('nan')
# Each running Respond goal holds an executor thread while it waits for its reply; the rest
# (cancel requests, voice events, tts feedback, the watchdog) must never wait for a free one.
EXECUTOR_THREADS = 6
HEALTH_TIMEOUT = 2.0  # seconds for one /health probe (a stalled server must not hold the check)


@dataclasses.dataclass
class ActiveReply:
    """One running reply (generation + its speech) and what the node knows about it."""

    request: ReplyRequest
    turn_id: int
    goal_handle: object = None
    outcome: ReplyOutcome = dataclasses.field(default_factory=ReplyOutcome)
    future: object = None
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    generation_done: bool = False
    preempted_by: str = ''
    speak_handles: list = dataclasses.field(default_factory=list)
    held_sentences: list = dataclasses.field(default_factory=list)
    pending_speech: int = 0
    audio_started: bool = False
    flushed: bool = False
    # metrics, seconds on the ROS clock (NaN = did not happen)
    speech_end: float = NAN
    endpoint_delay: float = NAN
    transcript_at: float = NAN
    started_at: float = NAN
    first_token_at: float = NAN
    first_sentence_at: float = NAN
    first_audio_at: float = NAN


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _ms(seconds: float) -> str:
    return 'n/a' if math.isnan(seconds) else f'{seconds * 1000:.0f} ms'


class BrainNode(Node):
    def __init__(self):
        super().__init__('brain')
        self.config = declare_config(self, BrainConfig)
        self._lock = threading.RLock()
        self._state = State.IDLE
        self._turn_id = 0
        self._active: ActiveReply | None = None
        self._entered_at = time.monotonic()
        self._last_progress = time.monotonic()
        self._apology_handles: list = []
        self._stats = {'turns': 0, 'errors': 0, 'cancelled': 0, 'prompts_trimmed': 0,
                       'last_voice_to_voice': NAN, 'llm_reachable': False, 'last_error': ''}
        self._health_probe = None
        self._server_down_report = ''  # what the llama_server node last said while it was down

        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name='brain-asyncio',
                                             daemon=True)
        self._loop_thread.start()
        self._client = LlamaClient(self.config.llm)
        self._call(self._client.start())
        self.sessions = SessionStore(self.config.llm.max_history_turns,
                                     max_sessions=self.config.llm.max_sessions)
        self.replier = Replier(self.config.llm, self._client, self.sessions,
                               self.config.max_clause_chars, self.config.first_clause_min_chars)

        reentrant = ReentrantCallbackGroup()
        self._state_pub = self.create_publisher(AssistantState, 'state', STATE)
        self._metrics_pub = self.create_publisher(TurnMetrics, 'metrics', EVENTS)
        # Every reply's text as it streams (voice turns too), for consoles and loggers.
        self._reply_pub = self.create_publisher(String, 'reply', EVENTS)
        self._diagnostics = DiagnosticsPublisher(self, 'brain', hardware_id='llama-server')
        self.create_subscription(WakeWordDetection, 'wake_word', self._on_wake_word, EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(Transcript, 'transcript', self._on_transcript, EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(SpeechActivity, 'speech_activity', self._on_speech_activity, EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(BargeIn, 'barge_in', self._on_barge_in, EVENTS, callback_group=reentrant)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, EVENTS,
                                 callback_group=reentrant)
        self._speak = ActionClient(self, Speak, 'speak', callback_group=reentrant)
        self._respond = ActionServer(
            self, Respond, 'respond', execute_callback=self._execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=reentrant)
        self.create_timer(0.1, self._watchdog, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(self.config.health_period, self._check_health,
                          callback_group=MutuallyExclusiveCallbackGroup())
        watch_config(self, self.config, self._apply_config)
        self._publish_state(State.IDLE, 'STARTUP', '')
        self._check_health()
        self.get_logger().info(
            f'brain ready: {self.config.llm.endpoint}, format {self.config.llm.prompt_format}, '
            f'personality {self.config.llm.personality}')

    def _apply_config(self, config: BrainConfig) -> None:
        """A live change of the dynamic parameters (personality, temperature, max_tokens), validated.

        The next reply uses it; a reply already running keeps what it started with.
        """
        self.config = config
        self.replier.config = config.llm
        llm = config.llm
        self.get_logger().info(f'now personality {llm.personality}, temperature {llm.temperature:g}, '
                               f'max_tokens {llm.max_tokens}')

    # ------------------------------------------------------------------ plumbing
    def _call(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self):
        with self._lock:
            reply, self._active = self._active, None
        if reply is not None and reply.future is not None:
            reply.future.cancel()
        try:
            self._call(self._client.close(), timeout=3.0)
        except Exception:  # closing on the way out: nothing left to report to
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=3.0)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish_state(self, state: State, cause: str, detail: str, previous: State | None = None):
        previous = state if previous is None else previous
        msg = AssistantState(state=int(state), previous_state=int(previous), state_name=state.name,
                             cause=cause, detail=detail[:500], turn_id=self._turn_id)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._state_pub.publish(msg)

    # ------------------------------------------------------------------ the FSM
    def dispatch(self, event: Event, request: ReplyRequest | None = None, reply: ActiveReply | None = None,
                 detail: str = '', goal_handle=None) -> ActiveReply | None:
        """Apply event; run the actions; publish the transition. Returns a reply it started.

        An event about a reply (``reply=``) that is no longer the active one is stale and ignored.
        """
        with self._lock:
            if reply is not None and reply is not self._active:
                return None
            previous = self._state
            nxt, actions = step(previous, event)
            started = None
            follow_up = None
            # Only a reply meant to be heard gets a spoken apology (a silent Respond goal does not).
            apologize = self._active is None or self._active.request.speak
            for action in actions:
                if action is Action.START_TURN:
                    self._turn_id += 1
                elif action is Action.CANCEL_GENERATION:
                    self._cancel_active(f'preempted by {event.name}')
                elif action is Action.FLUSH_SPEECH:
                    self._flush_speech()
                elif action is Action.START_GENERATION:
                    started = self._start_reply(request, goal_handle)
                elif action is Action.SPEAK_APOLOGY:
                    if not (apologize and self._speak_apology()):
                        follow_up = Event.SPEECH_FINISHED  # nothing to say: ERROR is shown, then IDLE
            self._state = nxt
            self._last_progress = time.monotonic()
            if nxt is not previous:
                self._entered_at = self._last_progress
                self._publish_state(nxt, event.name, detail, previous)
                self.get_logger().info(f'{previous.name} -> {nxt.name} ({event.name}) turn {self._turn_id}')
            if follow_up is not None:
                self.dispatch(follow_up, detail='no apology to speak')
            return started

    def _start_reply(self, request: ReplyRequest, goal_handle) -> ActiveReply:
        reply = ActiveReply(request=request, turn_id=self._turn_id, goal_handle=goal_handle)
        reply.started_at = self._now()
        self._active = reply
        self._stats['turns'] += 1
        reply.future = asyncio.run_coroutine_threadsafe(self._run_reply(reply), self._loop)
        return reply

    def _cancel_active(self, reason: str):
        reply, self._active = self._active, None
        if reply is None:
            return
        reply.preempted_by = reply.preempted_by or reason
        if reply.future is not None:
            reply.future.cancel()
        self._flush_reply_speech(reply)
        self._stats['cancelled'] += 1
        self._publish_metrics(reply)

    # ------------------------------------------------------------------ generation (asyncio thread)
    async def _run_reply(self, reply: ActiveReply):
        try:
            await self.replier.reply(reply.request, reply.outcome,
                                     on_token=lambda token: self._on_token(reply, token),
                                     on_sentence=lambda sentence: self._on_sentence(reply, sentence))
        except asyncio.CancelledError:
            reply.outcome.finish_reason = 'cancelled'
        except (LLMError, PromptTooLong) as exc:
            self._fail(reply, explain(exc, self._server_down_report))
        except Exception as exc:  # a bug must still end the goal and leave the FSM
            self._fail(reply, f'internal error: {exc!r}')
        finally:
            self._count_trimmed_prompt(reply)
            reply.done.set()
        if reply.outcome.finish_reason != 'error':
            if reply.held_sentences and reply is self._active:  # stream_speech off: speak it all now
                for sentence in reply.held_sentences:
                    self._speak_sentence(reply, sentence)
            with self._lock:
                reply.generation_done = True
                self._maybe_finish(reply)

    def _fail(self, reply: ActiveReply, message: str):
        reply.outcome.finish_reason = 'error'
        reply.outcome.error = message
        self._stats['errors'] += 1
        self._stats['last_error'] = message
        self.get_logger().error(f'turn {reply.turn_id}: {message}')
        with self._lock:
            if reply is self._active:
                self._publish_metrics(reply)
                # Still the active reply while the event runs, so FLUSH_SPEECH silences what it
                # already queued on tts and the apology knows whether it was a spoken reply.
                self.dispatch(Event.LLM_ERROR, reply=reply, detail=message)
                if self._active is reply:
                    self._active = None

    def _count_trimmed_prompt(self, reply: ActiveReply):
        outcome = reply.outcome
        if outcome.dropped_turns:
            self._stats['prompts_trimmed'] += 1
            self.get_logger().info(f'turn {reply.turn_id}: prompt trimmed to fit the context '
                                   f'({outcome.dropped_turns} history turn(s) folded into the summary)')

    def _on_token(self, reply: ActiveReply, token: Token):
        self._last_progress = time.monotonic()
        if math.isnan(reply.first_token_at):
            reply.first_token_at = self._now()
        if reply is not self._active:
            return
        self._reply_pub.publish(String(data=token.text))
        if reply.goal_handle is not None:
            reply.goal_handle.publish_feedback(Respond.Feedback(delta=token.text, token_index=token.index))

    def _on_sentence(self, reply: ActiveReply, sentence: str):
        if reply is not self._active:
            return
        if reply.goal_handle is not None:
            reply.goal_handle.publish_feedback(Respond.Feedback(
                delta='', token_index=max(0, reply.outcome.token_count - 1), sentence=sentence))
        if not reply.request.speak:
            return
        if self.config.stream_speech:
            self._speak_sentence(reply, sentence)
        else:
            reply.held_sentences.append(sentence)

    def _speak_sentence(self, reply: ActiveReply, sentence: str):
        text = clean_for_speech(sentence)
        if not text:
            return
        if not self._speak.server_is_ready():
            self.get_logger().warning('no tts "speak" action server: the reply is not voiced',
                                      throttle_duration_sec=10.0)
            return
        if math.isnan(reply.first_sentence_at):
            reply.first_sentence_at = self._now()
        with self._lock:
            reply.pending_speech += 1
        future = self._speak.send_goal_async(Speak.Goal(text=text, utterance_id=str(reply.turn_id)),
                                             feedback_callback=lambda fb: self._on_speak_feedback(reply, fb))
        future.add_done_callback(lambda f: self._on_speak_accepted(reply, f))

    # ------------------------------------------------------------------ speech (executor threads)
    def _on_speak_accepted(self, reply: ActiveReply, future):
        handle = future.result()
        with self._lock:
            if not handle.accepted:
                reply.pending_speech -= 1
                self._maybe_finish(reply)
                return
            reply.speak_handles.append(handle)
            if reply.flushed:
                handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(lambda f: self._on_speak_done(reply, handle))

    def _on_speak_feedback(self, reply: ActiveReply, feedback):
        self._last_progress = time.monotonic()
        if feedback.feedback.audio_emitted > 0:
            self._audio_started(reply, self._now())

    def _on_speak_done(self, reply: ActiveReply, handle):
        with self._lock:
            reply.pending_speech -= 1
            if handle in reply.speak_handles:
                reply.speak_handles.remove(handle)
            self._maybe_finish(reply)

    def _on_speech_activity(self, msg: SpeechActivity):
        self._last_progress = time.monotonic()
        reply = self._active
        if msg.speaking and reply is not None and msg.utterance_id == str(reply.turn_id):
            self._audio_started(reply, _seconds(msg.audio_start) or self._now())

    def _audio_started(self, reply: ActiveReply, at: float):
        with self._lock:
            if reply.audio_started or reply is not self._active:
                return
            reply.audio_started = True
            reply.first_audio_at = at
        self.dispatch(Event.SPEECH_STARTED, reply=reply)

    def _maybe_finish(self, reply: ActiveReply):
        """Reply over when generation ended and all its speech played (lock held)."""
        if not reply.generation_done or reply.pending_speech > 0 or reply is not self._active:
            return
        self._publish_metrics(reply)
        event = Event.SPEECH_FINISHED if reply.audio_started else Event.LLM_COMPLETE
        self.dispatch(event, reply=reply)
        if self._active is reply:
            self._active = None

    def _flush_speech(self):
        if self._active is not None:
            self._flush_reply_speech(self._active)
        for handle in self._apology_handles:
            handle.cancel_goal_async()
        self._apology_handles.clear()

    def _flush_reply_speech(self, reply: ActiveReply):
        reply.flushed = True
        for handle in reply.speak_handles:
            handle.cancel_goal_async()

    def _speak_apology(self) -> bool:
        """Send the apology to tts; False when there is no tts to say it."""
        if not self._speak.server_is_ready():
            return False
        goal = Speak.Goal(text=self.config.apology, utterance_id=f'{self._turn_id}-apology')
        turn = self._turn_id

        def accepted(future):
            handle = future.result()
            if not handle.accepted:
                self._apology_done(turn, None)
                return
            with self._lock:
                if not self._apology_wanted(turn):  # flushed before tts accepted it
                    handle.cancel_goal_async()
                    return
                self._apology_handles.append(handle)
            handle.get_result_async().add_done_callback(lambda _: self._apology_done(turn, handle))

        self._speak.send_goal_async(goal).add_done_callback(accepted)
        return True

    def _apology_wanted(self, turn: int) -> bool:
        return self._state is State.ERROR and self._turn_id == turn

    def _apology_done(self, turn: int, handle):
        with self._lock:
            if handle in self._apology_handles:
                self._apology_handles.remove(handle)
            if self._apology_wanted(turn):
                self.dispatch(Event.SPEECH_FINISHED)

    # ------------------------------------------------------------------ voice inputs
    def _on_wake_word(self, msg: WakeWordDetection):
        self.get_logger().info(f'wake word "{msg.keyword}" ({msg.score:.2f})')
        self.dispatch(Event.WAKEWORD_DETECTED, detail=msg.keyword)

    def _on_barge_in(self, msg: BargeIn):
        self.get_logger().info(f'barge-in ({msg.source}, {msg.score:.2f})')
        self.dispatch(Event.BARGE_IN, detail=msg.source)

    def _on_transcript(self, msg: Transcript):
        if not msg.is_final:
            return
        if msg.nothing_heard or not msg.text.strip():
            self.get_logger().info(f'nothing heard: {msg.reason}')
            self.dispatch(Event.NOTHING_HEARD, detail=msg.reason)
            return
        request = ReplyRequest(prompt=msg.text.strip(), session_id=self.config.voice_session_id,
                               speak=True, source='voice')
        self.get_logger().info(f'heard: "{request.prompt}"')
        reply = self.dispatch(Event.TRANSCRIPTION_FINAL, request=request, detail=request.prompt)
        if reply is not None:
            reply.speech_end = _seconds(msg.speech_end)
            reply.endpoint_delay = msg.endpoint_delay
            reply.transcript_at = self._now()

    # ------------------------------------------------------------------ Respond action
    def _execute(self, goal_handle):
        goal = goal_handle.request
        request = ReplyRequest(prompt=goal.prompt, session_id=goal.session_id, personality=goal.personality,
                               max_tokens=goal.max_tokens, speak=goal.speak, source='action')
        error = request_error(request)
        if error:
            goal_handle.abort()
            return Respond.Result(finish_reason=Respond.Result.FINISH_ERROR, error=error,
                                  time_to_first_token=-1.0)
        if goal_handle.is_cancel_requested:
            # Cancelled before it ran: it must not preempt the reply that is running.
            goal_handle.canceled()
            return Respond.Result(finish_reason=Respond.Result.FINISH_CANCELLED, time_to_first_token=-1.0)
        reply = self.dispatch(Event.RESPOND_GOAL, request=request, goal_handle=goal_handle,
                              detail=goal.prompt)
        if reply is None:  # cannot happen with the current table; never leave a goal hanging
            goal_handle.abort()
            return Respond.Result(finish_reason=Respond.Result.FINISH_ERROR, error='not started')
        cancel_sent = False
        while not reply.done.wait(0.02):
            if goal_handle.is_cancel_requested and not cancel_sent:
                cancel_sent = True
                reply.preempted_by = 'cancelled by the client'
                self.dispatch(Event.GOAL_CANCELLED, reply=reply)
                if reply.future is not None:
                    reply.future.cancel()  # also when the reply is no longer the active one
        outcome = reply.outcome
        result = Respond.Result(text=outcome.text, finish_reason=outcome.finish_reason or 'cancelled',
                                token_count=outcome.token_count,
                                time_to_first_token=float(outcome.time_to_first_token), error=outcome.error)
        if goal_handle.is_cancel_requested:
            result.finish_reason = Respond.Result.FINISH_CANCELLED
            goal_handle.canceled()
        elif outcome.finish_reason in ('stop', 'length'):
            goal_handle.succeed()
        else:
            if outcome.finish_reason == 'cancelled':
                result.error = reply.preempted_by or 'cancelled'
            goal_handle.abort()
        return result

    # ------------------------------------------------------------------ watchdog, metrics, health
    def _watchdog(self):
        limits = {State.LISTENING: self.config.listen_timeout, State.THINKING: self.config.think_timeout,
                  State.SPEAKING: self.config.speak_stall_timeout, State.ERROR: self.config.error_hold}
        with self._lock:
            limit = limits.get(self._state)
            since = self._entered_at if self._state in (State.LISTENING, State.ERROR) else self._last_progress
            if limit is not None and time.monotonic() - since > limit:
                self.get_logger().warning(f'{self._state.name} for over {limit:g} s: timing out')
                self.dispatch(Event.STATE_TIMEOUT, detail=f'{self._state.name} timeout ({limit:g} s)')

    def _publish_metrics(self, reply: ActiveReply):
        outcome = reply.outcome
        msg = TurnMetrics(turn_id=reply.turn_id, source=reply.request.source,
                          endpoint_delay=float(reply.endpoint_delay),
                          speech_end_to_transcript=reply.transcript_at - reply.speech_end,
                          transcript_to_first_token=reply.first_token_at - (
                              reply.transcript_at if reply.request.source == 'voice' else reply.started_at),
                          first_token_to_first_sentence=reply.first_sentence_at - reply.first_token_at,
                          first_sentence_to_first_audio=reply.first_audio_at - reply.first_sentence_at,
                          voice_to_voice=reply.first_audio_at - reply.speech_end,
                          tokens_per_second=float(outcome.timings.get('predicted_per_second', NAN)),
                          token_count=max(0, outcome.token_count),
                          finish_reason=outcome.finish_reason or 'cancelled')
        msg.header.stamp = self.get_clock().now().to_msg()
        self._metrics_pub.publish(msg)
        if not math.isnan(msg.voice_to_voice):
            self._stats['last_voice_to_voice'] = msg.voice_to_voice
        self.get_logger().info(
            f'turn {reply.turn_id} ({reply.request.source}, {msg.finish_reason}): voice-to-voice '
            f'{_ms(msg.voice_to_voice)} = stt {_ms(msg.speech_end_to_transcript)} + first token '
            f'{_ms(msg.transcript_to_first_token)} + first sentence {_ms(msg.first_token_to_first_sentence)}'
            f' + first audio {_ms(msg.first_sentence_to_first_audio)}; {msg.token_count} tokens')

    def _on_diagnostics(self, msg: DiagnosticArray):
        """Remember why the llama_server node of this namespace last said the server was down.

        Kept while it restarts the server (WARN), forgotten once it serves again (OK).
        """
        name = f"{self.get_namespace().rstrip('/')}/llama_server: llama-server"
        for status in msg.status:
            if status.name == name and status.level == OK:
                self._server_down_report = ''
            elif status.name == name and status.level == ERROR:
                self._server_down_report = status.message

    def _check_health(self):
        """Probe /health on the asyncio loop and report when it answers (no executor thread waits)."""
        if self._health_probe is not None and not self._health_probe.done():
            return  # the previous probe is still out
        self._health_probe = asyncio.run_coroutine_threadsafe(self._probe_health(), self._loop)
        self._health_probe.add_done_callback(self._on_health)

    async def _probe_health(self) -> bool:
        try:
            async with asyncio.timeout(min(HEALTH_TIMEOUT, self.config.health_period)):
                return await self._client.health()
        except Exception:  # timeout or anything else: not usable, which is what we report
            return False

    def _on_health(self, probe):
        reachable = not probe.cancelled() and probe.exception() is None and bool(probe.result())
        self._stats['llm_reachable'] = reachable
        self._publish_diagnostics()

    def _publish_diagnostics(self):
        stats = dict(self._stats)
        reachable = stats['llm_reachable']
        v2v = stats['last_voice_to_voice']
        message = ('llama-server reachable' if reachable
                   else f'llama-server unreachable at {self.config.llm.base_url}')
        self._diagnostics.publish(
            OK if reachable else ERROR, message,
            {'llm_endpoint': self.config.llm.endpoint, 'llm_reachable': str(reachable).lower(),
             'state': self._state.name, 'turn_id': self._turn_id, 'turns': stats['turns'],
             'errors': stats['errors'], 'cancelled': stats['cancelled'],
             'prompts_trimmed': stats['prompts_trimmed'], 'last_error': stats['last_error'] or 'none',
             'last_voice_to_voice_s': 'n/a' if math.isnan(v2v) else f'{v2v:.3f}'})


def main(args=None):
    return run_node(BrainNode, args=args, num_threads=EXECUTOR_THREADS)


if __name__ == '__main__':
    sys.exit(main())
