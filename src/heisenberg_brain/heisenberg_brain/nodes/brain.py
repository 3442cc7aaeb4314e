"""The brain node: ROS around the reply coordinator (core/coordinator.py).

It turns wake words, barge-ins, transcripts, tts activity and Respond goals into the
coordinator's inputs, and the coordinator's effects into ROS: the latched ``state``, the
``reply`` text, ``metrics``, Respond feedback and results, and Speak goals to tts. The LLM
runs on an asyncio loop in its own thread (aiohttp); /health is probed on it for
/diagnostics, and the llama_server node's own report names the cause of a failed reply.
What a skill takes (core/skills: the time, timers, "stop", the robot's own skills from
skills_file) is answered without the LLM, through the same coordinator.

Policy (also in Respond.action): one reply at a time, the newest request wins. A new
Respond goal or a voice turn preempts a running goal (it ends ABORTED, finish_reason
"cancelled", error "preempted ..."); a cancelled goal ends CANCELED with the partial text.
A spoken goal's result leaves once its speech has been played (or flushed), not with its text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import sys
import threading
from typing import Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from heisenberg_brain.core.api_key import ApiKeyError, resolve_api_key
from heisenberg_brain.core.config import BrainConfig
from heisenberg_brain.core.coordinator import ActiveReply, ReplyCoordinator
from heisenberg_brain.core.fsm import State
from heisenberg_brain.core.history import SessionStore
from heisenberg_brain.core.llm_client import LlamaClient, LLMAuthError, Token
from heisenberg_brain.core.replier import Replier, ReplyRequest, request_error
from heisenberg_brain.core.skills import Skills, SkillSource, SkillSpecError, load_skills, skills_from_yaml
from heisenberg_brain.core.skills.check import check_types
from heisenberg_brain.core.skills.tools import decide_tools
from heisenberg_brain.nodes.skill_effects import RosSkillEffects
from heisenberg_common.actions import ActionClient
from heisenberg_common.diagnostics import ERROR, OK, DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config, watch_config
from heisenberg_common.qos import EVENTS, LATCHED, STATE
from heisenberg_common.runner import run_node
from heisenberg_common.stamps import seconds_of
from heisenberg_interfaces.action import Respond, Speak
from heisenberg_interfaces.msg import (AssistantState, BargeIn, SpeechActivity, Transcript, TurnMetrics,
                                       WakeWordDetection)

# Each running Respond goal holds an executor thread while it waits for its reply; the rest
# (cancel requests, voice events, tts feedback, the watchdog) must never wait for a free one.
EXECUTOR_THREADS = 6
HEALTH_TIMEOUT = 2.0  # seconds for one /health probe (a stalled server must not hold the check)
_GOAL_STATUS = {'succeeded': 'succeed', 'canceled': 'canceled', 'aborted': 'abort'}


def _ms(seconds: float) -> str:
    return 'n/a' if math.isnan(seconds) else f'{seconds * 1000:.0f} ms'


class SpeakGoal:
    """One sentence sent to tts as a Speak goal; cancel() works before tts has accepted it too."""

    def __init__(self, client: ActionClient, text: str, utterance_id: str, on_audio: Callable[[], None],
                 on_done: Callable[[], None], language: str = ''):
        self._on_audio = on_audio
        self._on_done = on_done
        self._lock = threading.Lock()
        self._handle = None
        self._cancelled = False
        self._finished = False
        future = client.send_goal_async(Speak.Goal(text=text, utterance_id=utterance_id, language=language),
                                        feedback_callback=self._feedback)
        future.add_done_callback(self._accepted)

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            handle = self._handle
        if handle is not None:
            handle.cancel_goal_async()

    def _feedback(self, message) -> None:
        if message.feedback.audio_emitted > 0:
            self._on_audio()

    def _accepted(self, future) -> None:
        handle = future.result()
        if not handle.accepted:
            self._finish()
            return
        with self._lock:
            self._handle = handle
            cancelled = self._cancelled
        if cancelled:  # flushed before tts accepted it
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(lambda _: self._finish())

    def _finish(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        self._on_done()


class BrainNode(Node):

    def __init__(self):
        super().__init__('brain')
        self.config = declare_config(self, BrainConfig)
        self.skills = self._load_skills()
        try:
            api_key = resolve_api_key(self.config.llm.api_key_file, self.config.llm.api_key_env)
        except ApiKeyError as exc:
            raise ConfigError(f'{self.get_name()}: llm.api_key_file: {exc}') from None
        self._llm_reachable = False
        self._llm_refusal = ''    # llama-server's refusal of our API key, until it takes it
        self._refusal_logged = ''
        self._health_probe = None
        self._tools_decided = not self.config.llm.tools

        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name='brain-asyncio',
                                             daemon=True)
        self._loop_thread.start()
        self._client = LlamaClient(self.config.llm, api_key)
        self._call(self._client.start())
        self.sessions = SessionStore(self.config.llm.max_history_turns,
                                     max_sessions=self.config.llm.max_sessions)
        self.replier = Replier(self.config.llm, self._client, self.sessions,
                               self.config.max_clause_chars, self.config.first_clause_min_chars,
                               self.config.first_chunk_max_chars)
        reentrant = ReentrantCallbackGroup()
        effects = self._skill_effects = RosSkillEffects(self, self._loop, reentrant,
                                                        namespace=self.config.skills_namespace)
        # Every skill's client now, not at its first goal: DDS discovery is long done by the first
        # command (nodes/skill_effects.py). Here, before the node spins.
        effects.prepare(self.skills.spec.skills)
        self.skill_source = SkillSource(
            self.skills, effects, fallback=self.replier, log=self.log,
            announce=lambda text, language: self.coordinator.announce(text, language),
            on_skill=lambda outcome, name: self.coordinator.on_skill(outcome, name), sessions=self.sessions)
        self.coordinator = ReplyCoordinator(
            self.config, self.skill_source, self,
            submit=lambda coroutine: asyncio.run_coroutine_threadsafe(coroutine, self._loop),
            now=self._now)

        self._state_pub = self.create_publisher(AssistantState, 'state', STATE)
        self._metrics_pub = self.create_publisher(TurnMetrics, 'metrics', EVENTS)
        # Every reply's text as it streams (voice turns too), for consoles and loggers.
        self._reply_pub = self.create_publisher(String, 'reply', EVENTS)
        # What the skills take, latched, as JSON (name, description, sentences, kind, llm): for a
        # console (`ros2 topic echo`) and for nodes that drive the same skills with Respond goals.
        self._skills_pub = self.create_publisher(String, 'skills', LATCHED)
        self._skills_pub.publish(String(data=json.dumps(
            [dataclasses.asdict(info) for info in self.skills.listing()], ensure_ascii=False)))
        self._diagnostics = DiagnosticsPublisher(self, 'brain', hardware_id='llama-server')
        coordinator = self.coordinator
        self.create_subscription(WakeWordDetection, 'wake_word',
                                 lambda msg: coordinator.on_wake_word(msg.keyword), EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(Transcript, 'transcript', self._on_transcript, EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(
            SpeechActivity, 'speech_activity', lambda msg: coordinator.on_speech_activity(
                msg.speaking, msg.utterance_id, seconds_of(msg.audio_start), msg.chunk_duration),
            EVENTS, callback_group=reentrant)
        self.create_subscription(BargeIn, 'barge_in', lambda msg: coordinator.on_barge_in(msg.source), EVENTS,
                                 callback_group=reentrant)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, EVENTS,
                                 callback_group=reentrant)
        self._speak = ActionClient(self, Speak, 'speak', callback_group=reentrant)
        self._respond = ActionServer(
            self, Respond, 'respond', execute_callback=self._execute,
            goal_callback=lambda _: GoalResponse.ACCEPT,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=reentrant)
        self.create_timer(0.1, coordinator.tick, callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(self.config.health_period, self._check_health,
                          callback_group=MutuallyExclusiveCallbackGroup())
        watch_config(self, self.config, self._apply_config)
        coordinator.start()
        self._check_health()
        self.get_logger().info(
            f'brain ready: {self.config.llm.endpoint} ({"with" if api_key else "without"} an API key), '
            f'format {self.config.llm.prompt_format}, '
            f'personality {self.config.llm.personality}, '
            + ('LLM tool calls: checking the served model once it answers' if self.config.llm.tools
               else 'LLM tool calls off (llm.tools is false)'))

    def _load_skills(self) -> Skills:
        """The skills file, checked against the ROS types installed here (core/skills/check.py)."""
        try:
            if not self.config.skills_file:
                return skills_from_yaml('', 'the built-in skills')
            skills = load_skills(self.config.skills_file)
            for warning in check_types(skills.spec.skills):
                self.get_logger().warning(warning)
            return skills
        except SkillSpecError as exc:
            raise ConfigError(f'{self.get_name()}: skills_file: {exc}') from exc

    def _apply_config(self, config: BrainConfig) -> None:
        """A live change of the dynamic parameters (personality, temperature, max_tokens, follow_up_seconds).

        The next reply uses it; a reply already running keeps what it started with.
        """
        self.config = config
        self.replier.config = config.llm
        self.coordinator.apply_config(config)
        llm = config.llm
        self.get_logger().info(f'now personality {llm.personality}, temperature {llm.temperature:g}, '
                               f'max_tokens {llm.max_tokens}, follow_up_seconds {config.follow_up_seconds:g}')

    def _call(self, coroutine, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def close(self):
        self.skill_source.close()
        self.coordinator.close()
        try:
            self._call(self._client.close(), timeout=3.0)
        except Exception:  # closing on the way out: nothing left to report to
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=3.0)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # ------------------------------------------------------------------ inputs
    def _on_transcript(self, msg: Transcript) -> None:
        if not msg.is_final:
            return
        if msg.nothing_heard:
            self.coordinator.on_nothing_heard(msg.reason)
        else:
            self.coordinator.on_transcript(msg.text, seconds_of(msg.speech_end), msg.endpoint_delay,
                                           msg.language)

    def _execute(self, goal_handle):
        goal = goal_handle.request
        request = ReplyRequest(prompt=goal.prompt, session_id=goal.session_id, personality=goal.personality,
                               max_tokens=goal.max_tokens, speak=goal.speak, source='action',
                               language=goal.language or self.config.reply_language())
        error = request_error(request)
        if error:
            goal_handle.abort()
            return Respond.Result(finish_reason=Respond.Result.FINISH_ERROR, error=error,
                                  time_to_first_token=-1.0)
        ending = self.coordinator.execute_goal(request, goal_handle, lambda: goal_handle.is_cancel_requested)
        getattr(goal_handle, _GOAL_STATUS[ending.status])()
        outcome = ending.outcome
        return Respond.Result(text=outcome.text, finish_reason=outcome.finish_reason,
                              token_count=outcome.token_count,
                              time_to_first_token=float(outcome.time_to_first_token), error=ending.error,
                              skill=outcome.skill)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        """Remember why the llama_server node of this namespace last said the server was down.

        Kept while it restarts the server (WARN), forgotten once it serves again (OK).
        """
        name = f"{self.get_namespace().rstrip('/')}/llama_server: llama-server"
        for status in msg.status:
            if status.name == name and status.level == OK:
                self.coordinator.server_down_report = ''
            elif status.name == name and status.level == ERROR:
                self.coordinator.server_down_report = status.message

    # ------------------------------------------------------------------ ReplyEffects
    def publish_state(self, state: State, previous: State, cause: str, detail: str, turn_id: int,
                      listen_window: float = 0.0) -> None:
        msg = AssistantState(state=int(state), previous_state=int(previous), state_name=state.name,
                             cause=cause, detail=detail[:500], turn_id=turn_id,
                             listen_window=float(listen_window))
        msg.header.stamp = self.get_clock().now().to_msg()
        self._state_pub.publish(msg)

    def publish_token(self, reply: ActiveReply, token: Token) -> None:
        self._reply_pub.publish(String(data=token.text))
        if reply.goal is not None:
            reply.goal.publish_feedback(Respond.Feedback(delta=token.text, token_index=token.index,
                                                         skill=reply.outcome.skill))

    def publish_sentence(self, reply: ActiveReply, sentence: str) -> None:
        if reply.goal is not None:
            reply.goal.publish_feedback(Respond.Feedback(
                delta='', token_index=max(0, reply.outcome.token_count - 1), sentence=sentence,
                skill=reply.outcome.skill))

    def publish_metrics(self, reply: ActiveReply) -> None:
        outcome = reply.outcome
        msg = TurnMetrics(turn_id=reply.turn_id, source=reply.request.source,
                          **{key: float(value) for key, value in reply.latency().items()},
                          tokens_per_second=float(outcome.timings.get('predicted_per_second', math.nan)),
                          token_count=max(0, outcome.token_count),
                          finish_reason=outcome.finish_reason or 'cancelled')
        msg.header.stamp = self.get_clock().now().to_msg()
        self._metrics_pub.publish(msg)
        self.get_logger().info(
            f'turn {reply.turn_id} ({reply.request.source}, {msg.finish_reason}): voice-to-voice '
            f'{_ms(msg.voice_to_voice)} = stt {_ms(msg.speech_end_to_transcript)} + first token '
            f'{_ms(msg.transcript_to_first_token)} + first sentence {_ms(msg.first_token_to_first_sentence)}'
            f' + first audio {_ms(msg.first_sentence_to_first_audio)}; {msg.token_count} tokens')

    def speak(self, text: str, utterance_id: str, on_audio, on_done, language: str = '') -> SpeakGoal | None:
        if not self._speak.server_is_ready():
            return None
        return SpeakGoal(self._speak, text, utterance_id, on_audio, on_done, language)

    def log(self, level: str, message: str) -> None:
        # One call per severity: rclpy refuses a call site that logs at several severities.
        logger = self.get_logger()
        if level == 'error':
            logger.error(message)
        elif level == 'warning':
            logger.warning(message)
        else:
            logger.info(message)

    # ------------------------------------------------------------------ health
    def _check_health(self):
        """Probe /health on the asyncio loop and report when it answers (no executor thread waits)."""
        if self._health_probe is not None and not self._health_probe.done():
            return  # the previous probe is still out
        self._health_probe = asyncio.run_coroutine_threadsafe(self._probe_health(), self._loop)
        self._health_probe.add_done_callback(self._on_health)

    async def _probe_health(self) -> bool:
        """True when llama-server is up and takes our key; a refused key is kept for the diagnostics."""
        try:
            async with asyncio.timeout(min(HEALTH_TIMEOUT, self.config.health_period)):
                if not await self._client.health():
                    return False
                # /health needs no key: /props does, so a wrong key shows here, not at the first turn.
                # Asked until the server takes the key, and again after it was down (it may have
                # come back with another key), not every period.
                if not self._llm_reachable:
                    await self._client.props()
        except LLMAuthError as exc:
            self._llm_refusal = str(exc)
            return False
        except Exception:  # timeout or anything else: not usable, which is what we report
            return False
        self._llm_refusal = ''
        return True

    def _on_health(self, probe):
        was_reachable = self._llm_reachable
        self._llm_reachable = not probe.cancelled() and probe.exception() is None and bool(probe.result())
        if self._llm_refusal != self._refusal_logged:   # said once, not every health period
            self._refusal_logged = self._llm_refusal
            if self._llm_refusal:
                self.log('error', self._llm_refusal)
        if self._llm_reachable and not was_reachable:
            # A server that just came up has an empty cache: the first spoken question should not
            # pay for the system prompt and its history, so they are read ahead.
            self._loop.call_soon_threadsafe(self.replier.schedule_prime, self.config.voice_session_id,
                                            '', self.config.reply_language())
            if not self._tools_decided:
                self._tools_decided = True
                asyncio.run_coroutine_threadsafe(self._decide_tools(), self._loop)
        self._publish_diagnostics()

    async def _decide_tools(self) -> None:
        """Turn the LLM tool path on when the served model can call tools; say so either way."""
        try:
            tools, message = await decide_tools(self._client, self.skills)
        except Exception as exc:   # the server went away between /health and /props: the path stays off
            tools, message = None, f'LLM tool calls off: could not ask llama-server ({exc})'
        self.skill_source.llm_tools = tools
        self.log('info' if tools else 'warning', message)

    def _publish_diagnostics(self):
        stats = dict(self.coordinator.stats)
        reachable = self._llm_reachable
        v2v = stats['last_voice_to_voice']
        if reachable:
            message = 'llama-server reachable'
        elif self._llm_refusal:
            message = self._llm_refusal
        else:
            message = f'llama-server unreachable at {self.config.llm.base_url}'
        self._diagnostics.publish(
            OK if reachable else ERROR, message,
            {'llm_endpoint': self.config.llm.endpoint, 'llm_reachable': str(reachable).lower(),
             'state': self.coordinator.state.name, 'turn_id': self.coordinator.turn_id,
             'turns': stats['turns'], 'errors': stats['errors'], 'cancelled': stats['cancelled'],
             'prompts_trimmed': stats['prompts_trimmed'], 'prompts_primed': self.replier.primes,
             'last_error': stats['last_error'] or 'none',
             'llama_server_report': self.coordinator.server_down_report or 'none',
             'last_voice_to_voice_s': 'n/a' if math.isnan(v2v) else f'{v2v:.3f}',
             # Each action or service skill's server as the brain's client sees it now.
             **{f'skill {name}: {what}': 'seen' if seen else 'not seen'
                for name, (what, seen) in self._skill_effects.servers().items()}})


def main(args=None):
    return run_node(BrainNode, args=args, num_threads=EXECUTOR_THREADS)


if __name__ == '__main__':
    sys.exit(main())
