"""Skills as a ReplySource: a matched request answered without the LLM, in the same lifecycle.

``SkillSource.reply`` has the Replier's signature, so the coordinator runs it unchanged: the
request is matched; what no skill takes goes to the fallback source (the LLM: with ``llm_tools``
set, offered the ``llm: true`` skills as tools, and a call it makes runs like a matched
sentence, or is refused with ToolCallRefused, an LLMError: nothing runs); a match is
reported at once through ``on_skill(outcome, name)`` (the state topic shows it); a skill's
spoken reply goes out through on_token / on_sentence and fills the outcome like an LLM
answer (finish_reason 'stop', also when the skill says it failed: the person has been told).

ROS effects go through an injected ``SkillEffects``. Rules, each a case in test_skills_source:
- nothing waits without a bound: finding an action server and the goal's acceptance, a
  service call and reading a topic each have a timeout (with a little grace over what the
  effects were given), and a missing server becomes a spoken failure naming it;
- a goal belongs to this source, not to the turn that started it: the turn says the
  ``accepted`` reply and ends, so the assistant is free while the robot drives; the goal's
  end is said through ``announce`` (succeeded / failed / cancelled), and ``feedback`` at most
  once per feedback_period; a goal that outlives its timeout is cancelled and said failed;
- a new goal of the same skill replaces the running one, which ends without a word;
- STOP (``stop_all``) cancels every goal, also one still waiting for acceptance; the stop
  turn says each goal's ``cancelled`` reply, so their cancellation is not announced again
  (a goal that ends otherwise in spite of the cancel is: that is what happened);
- a turn cancelled while its goal is being sent does not cancel the goal; a failure to send
  it is then announced, since no turn is left to say it.

The ``name`` built-in keeps the person's name per session (the voice session, a Respond goal's
session_id) in the ``sessions`` store, the Replier's: it is forgotten with the session. Its
turns are also stored in that session's history as ordinary turns (what was said, the skill's
answer), so the LLM's later answers see "My name is Alice." → "Nice to meet you, Alice.". No
other skill's turn is stored: a timer set or a goal sent is no conversation for the model.

Threads: reply, the goals and timers run on the brain's asyncio loop; stop_all, running and
close may be called from any thread (they hand the cancels to the loop). The effects call
on_feedback on the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from typing import Any, Awaitable, Callable, Mapping, Protocol

from heisenberg_brain.core.history import SessionStore, history_key
from heisenberg_brain.core.llm_client import Token
from heisenberg_brain.core.phrases import phrase, seconds_words
from heisenberg_brain.core.replier import ReplyOutcome, ReplyRequest, say
from heisenberg_brain.core.skills.builtins import Clock, SystemClock, Timers, date_sentence, help_sentence, \
    time_sentence
from heisenberg_brain.core.skills.catalog import Skills
from heisenberg_brain.core.skills.matcher import Match, MatchKind
from heisenberg_brain.core.skills.spec import SkillSpec
from heisenberg_brain.core.skills.tools import ToolCallRefused, match_tool_call
from heisenberg_brain.core.skills.template import Named, Template, TemplateError, field_value, nest

# Said when a reply template cannot be filled (a result without the field it names): logged too.
FALLBACK_REPLIES = ('accepted', 'succeeded', 'failed', 'cancelled')   # core/phrases.py's 'skill.<key>'


class SkillEffectError(Exception):
    """An effect that could not be done; its message is a reason a person can hear.

    Raised as ``SkillEffectError(key='goal_rejected', name=...)``, it names core/phrases.py's
    sentence 'reason.<key>' and is said in the turn's language (``reason(language)``; its message,
    for logs, is the English one); a value named seconds is a number said in that language's
    words. Raised with a plain message, that message is said as it is.
    """

    def __init__(self, message: str = '', *, key: str = '', **values: Any):
        self.key, self.values = key, values
        super().__init__(message or self.reason('en'))

    def reason(self, language: str = 'en') -> str:
        if not self.key:
            return str(self)
        values = {name: seconds_words(value, language) if name == 'seconds' else value
                  for name, value in self.values.items()}
        return phrase(f'reason.{self.key}', language, **values)


@dataclasses.dataclass(frozen=True)
class GoalResult:
    """How a goal ended: 'succeeded', 'aborted' or 'canceled', and its result (message or dict)."""

    status: str
    result: Any = None


class GoalHandle(Protocol):
    """An accepted goal."""

    def result(self) -> Awaitable[GoalResult]: ...

    def cancel(self) -> None:
        """Ask the server to cancel; returns at once, and the result then ends 'canceled'."""


class SkillEffects(Protocol):
    """What skills do to ROS (the brain node implements it; types are resolved there by name).

    Each raises SkillEffectError with a speakable reason for a clear failure (no server
    within timeout, goal rejected, no message on the topic); fields are nested dicts.
    """

    async def send_goal(self, action_type: str, action_name: str, goal: dict,
                        on_feedback: Callable[[Any], None], timeout: float) -> GoalHandle:
        """Send the goal once the server is there; return when it is accepted."""

    async def call_service(self, service_type: str, service_name: str, request: dict, timeout: float) -> Any:
        """The response (message or dict)."""

    def publish(self, message_type: str, topic: str, message: dict) -> None: ...

    async def read_field(self, message_type: str, topic: str, field: str, timeout: float) -> Any:
        """The field (dotted) of the latest message on topic, waiting up to timeout for one."""


@dataclasses.dataclass(frozen=True)
class GoalInfo:
    """A goal as stop_all and running report it: the skill, its slots, what the person said."""

    skill: str
    slots: Mapping[str, Any]
    text: str


@dataclasses.dataclass(eq=False)
class _Goal:
    """A goal this source owns, from sending to its end."""

    skill: SkillSpec
    match: Match
    values: dict
    language: str = 'en'           # of the turn that sent it: its replies and announcements are in it
    handle: GoalHandle | None = None
    stop_requested: bool = False   # by stop_all: its cancelled reply was said by the stop turn
    replaced: bool = False         # by a newer goal of the same skill: it ends without a word
    turn_gone: bool = False        # the turn that sent it was cancelled before it was accepted
    last_feedback: float = 0.0

    def info(self) -> GoalInfo:
        return GoalInfo(self.skill.name, self.match.slots, self.match.text)


def speakable(ros_name: str) -> str:
    """'/robot/navigate_to_pose' -> 'robot navigate to pose' (Piper would spell the marks)."""
    return ' '.join(ros_name.replace('/', ' ').replace('_', ' ').replace('~', ' ').split())


def _grace(timeout: float) -> float:
    """The core's own bound over a timeout the effects were given, so their clearer error comes first."""
    return timeout + min(0.5, timeout)


def _reason(exc: Exception, language: str) -> str:
    """A failure's reason in language (a template's mistake is the skill author's: said as it is)."""
    return exc.reason(language) if isinstance(exc, SkillEffectError) else str(exc)


def _get(value: Any, key: str) -> Any:
    return value.get(key) if isinstance(value, Mapping) else getattr(value, key, None)


class SkillSource:
    """Answers what the skills take; hands the rest to fallback (module docstring)."""

    def __init__(self, skills: Skills, effects: SkillEffects | None, announce: Callable[[str, str], None],
                 fallback=None, clock: Clock | None = None,
                 log: Callable[[str, str], None] = lambda level, message: None,
                 on_skill: Callable[[ReplyOutcome, str], None] = lambda outcome, name: None,
                 sessions: SessionStore | None = None):
        self.skills = skills
        # The Replier's store (the brain passes it), else one of its own that keeps no turns.
        self.sessions = sessions if sessions is not None else SessionStore(0)
        self._on_skill = on_skill
        self.effects = effects
        self.fallback = fallback
        self._announce = announce
        self._clock = clock or SystemClock()
        self._log = log
        self.timers = Timers(self._clock, announce)
        self._goals: list[_Goal] = []
        self._tasks: set[asyncio.Task] = set()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # The ``llm: true`` skills as tools (tools.tool_schemas), set once the served model is known
        # to call them; None = what no skill takes goes to fallback.reply (the /completion path).
        self.llm_tools: list[dict] | None = None

    # ------------------------------------------------------------------ the ReplySource
    async def reply(self, request: ReplyRequest, outcome: ReplyOutcome,
                    on_token: Callable[[Token], None] = lambda token: None,
                    on_sentence: Callable[[str], None] = lambda sentence: None) -> ReplyOutcome:
        """Answer with a skill when one takes the prompt, else with the fallback source."""
        match = self.skills.match(request.prompt, request.language)
        if match is None:
            if self.fallback is None:
                raise LookupError(f'no skill takes {request.prompt!r} and there is no fallback source')
            if not self.llm_tools:
                return await self.fallback.reply(request, outcome, on_token, on_sentence)
            calls = await self.fallback.reply_with_tools(request, outcome, self.llm_tools, on_token,
                                                         on_sentence)
            if not calls:
                return outcome
            if len(calls) > 1:
                self._log('warning', f'the model made {len(calls)} tool calls; only the first runs')
            try:
                match = match_tool_call(self.skills, calls[0], request.prompt)
            except ToolCallRefused as exc:
                self._log('warning', f'tool call refused: {exc}')
                raise
            self._log('info', f'the LLM called {match.skill} {dict(match.slots)}')
        return await self.answer(match, outcome, on_token, on_sentence, request.language, request.session_id)

    async def answer(self, match: Match, outcome: ReplyOutcome,
                     on_token: Callable[[Token], None] = lambda token: None,
                     on_sentence: Callable[[str], None] = lambda sentence: None,
                     language: str = 'en', session_id: str = '') -> ReplyOutcome:
        """Run a match (from skills.match) and say its reply in language (the turn's), for session_id."""
        self._loop = asyncio.get_running_loop()
        started = time.monotonic()
        name = f'{match.skill}.{match.intent}' if match.intent else match.skill
        outcome.skill = name
        self._log('info', f'skill {name} {dict(match.slots)}')
        self._on_skill(outcome, name)
        try:
            text = await self._respond(match, language, session_id)
        except asyncio.CancelledError:
            outcome.finish_reason = 'cancelled'
            raise
        outcome.time_to_first_token = time.monotonic() - started
        say(text, outcome, on_token, on_sentence)
        if match.skill == 'name':   # a conversation turn the LLM should see (module docstring)
            self.sessions.add(history_key(session_id, language), match.text, outcome.text, language)
        return outcome

    # ------------------------------------------------------------------ control
    def stop_all(self) -> tuple[GoalInfo, ...]:
        """Cancel every goal (STOP); what was stopped. Any thread."""
        return tuple(goal.info() for goal in self._stop_goals())

    def _stop_goals(self) -> list[_Goal]:
        with self._lock:
            goals = [goal for goal in self._goals if not goal.stop_requested]
            for goal in goals:
                goal.stop_requested = True
        for goal in goals:
            if goal.handle is not None:   # one still being sent is cancelled once accepted
                self._on_loop(goal.handle.cancel)
        if goals:
            self._log('info', f'stopped {", ".join(goal.skill.name for goal in goals)}')
        return goals

    def running(self) -> tuple[GoalInfo, ...]:
        """The goals running now, oldest first. Any thread."""
        with self._lock:
            return tuple(goal.info() for goal in self._goals)

    def close(self) -> None:
        """Cancel the goals and timers without a word (the brain is shutting down). Any thread."""
        self._on_loop(self._close_now)

    def _close_now(self) -> None:
        self.timers.close()
        for task in list(self._tasks):
            task.cancel()

    def _on_loop(self, call: Callable[[], None]) -> None:
        loop = self._loop
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if loop is None or loop is current or not loop.is_running():
            call()
        else:
            loop.call_soon_threadsafe(call)

    # ------------------------------------------------------------------ the skills
    async def _respond(self, match: Match, language: str, session_id: str) -> str:
        if match.kind is MatchKind.STOP:
            return self._stop(language)
        if match.kind is MatchKind.BUILTIN:
            return self._builtin(match, language, session_id)
        skill = self.skills.get(match.skill)
        values = self._slot_values(skill, match)
        if self.effects is None:
            return self._say(skill, 'failed', values, language, reason=phrase('reason.no_robot', language))
        kind = skill.effect.kind
        if kind == 'action':
            return await self._action(skill, match, values, language)
        if kind == 'service':
            return await self._service(skill, values, language)
        if kind == 'publish':
            return self._publish(skill, values, language)
        return await self._read(skill, values, language)

    def _builtin(self, match: Match, language: str, session_id: str) -> str:
        if match.skill == 'name':
            return self._name(match, language, session_id)
        if match.skill == 'time':
            return time_sentence(self._clock.now(), language)
        if match.skill == 'date':
            return date_sentence(self._clock.now(), language)
        if match.skill == 'help':
            listed = [text for name, text in self.skills.descriptions(language) if name != 'help']
            return help_sentence(listed, language)
        duration = match.slots.get('duration')
        if match.intent == 'set':
            return self.timers.set(duration, language)
        if match.intent == 'left':
            return self.timers.left(language)
        return self.timers.cancel(duration, language)

    def _name(self, match: Match, language: str, session_id: str) -> str:
        """Remember the name told, or say the one remembered (the session's, in any language)."""
        if match.intent == 'tell':
            self.sessions.remember(session_id, 'name', match.slots['name'])
            return phrase('name.told', language, name=match.slots['name'])
        name = self.sessions.recall(session_id, 'name')
        return phrase('name.is', language, name=name) if name else phrase('name.unknown', language)

    def _stop(self, language: str) -> str:
        """STOP as a turn: the goals are cancelled and their cancelled replies said (silence if none).

        The replies are in the stop's language: that is the language the person speaks now.
        """
        return ' '.join(self._say(goal.skill, 'cancelled', goal.values, language)
                        for goal in self._stop_goals())

    @staticmethod
    def _slot_values(skill: SkillSpec, match: Match) -> dict:
        values = {}
        for slot in skill.slots:
            if slot.name in match.slots:
                spoken = match.slots[slot.name]
                values[slot.name] = spoken if slot.range is not None else Named(spoken, slot.lookup(spoken))
        return values

    def _say(self, skill: SkillSpec, key: str, values: Mapping[str, Any], language: str, **extra: Any) -> str:
        """The skill's reply key in language (its English one if it gives none there)."""
        template: Template | None = skill.reply(key, language)
        if template is None:
            return ''
        try:
            return template.render({**values, **extra})
        except TemplateError as exc:
            self._log('warning', f'skill {skill.name}: reply {key}: {exc}')
            return phrase(f'skill.{key}', language) if key in FALLBACK_REPLIES else ''

    def _fields(self, skill: SkillSpec, values: Mapping[str, Any]) -> dict:
        return nest({path: field_value(value, values) for path, value in skill.effect.fields})

    # ------------------------------------------------------------------ actions
    async def _action(self, skill: SkillSpec, match: Match, values: dict, language: str) -> str:
        try:
            goal_fields = self._fields(skill, values)
        except TemplateError as exc:
            return self._say(skill, 'failed', values, language,
                             reason=phrase('reason.goal_unfilled', language, error=exc))
        goal = _Goal(skill, match, values, language)
        with self._lock:
            for older in self._goals:
                if older.skill is skill and not older.replaced:
                    older.replaced = True
                    if older.handle is not None:
                        older.handle.cancel()
            self._goals.append(goal)
        first_words = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(self._run_goal(goal, goal_fields, first_words))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(first_words)
        except asyncio.CancelledError:
            goal.turn_gone = True
            raise

    async def _run_goal(self, goal: _Goal, goal_fields: dict, first_words: asyncio.Future) -> None:
        """The goal from sending to its end; its end said through announce (module docstring)."""
        try:
            handle, failure = await self._send(goal, goal_fields)
            if handle is None:
                self._first_words(goal, first_words, failure, failed=True)
                return
            goal.handle = handle
            goal.last_feedback = self._clock.monotonic()
            if goal.stop_requested or goal.replaced:   # stopped or replaced while it was being sent
                handle.cancel()
                self._first_words(goal, first_words, '')
            else:
                self._first_words(goal, first_words,
                                  self._say(goal.skill, 'accepted', goal.values, goal.language))
            text = await self._outcome(goal, handle)
            if text:
                self._announce(text, goal.language)
        finally:
            with self._lock:
                if goal in self._goals:
                    self._goals.remove(goal)
            if not first_words.done():
                first_words.cancel()

    async def _send(self, goal: _Goal, goal_fields: dict) -> tuple[GoalHandle | None, str]:
        """The accepted goal's handle, or None and the failed reply that says why."""
        skill, effect, language = goal.skill, goal.skill.effect, goal.language
        name = speakable(effect.name)
        try:
            handle = await asyncio.wait_for(
                self.effects.send_goal(effect.type, effect.name, goal_fields,
                                       lambda feedback: self._on_feedback(goal, feedback),
                                       effect.server_timeout),
                _grace(effect.server_timeout))
            return handle, ''
        except asyncio.TimeoutError:
            reason = phrase('reason.action_silent', language, name=name,
                            seconds=seconds_words(effect.server_timeout, language))
        except SkillEffectError as exc:
            reason = exc.reason(language)
        except Exception as exc:   # a bug in the effects must still be heard, and not hang the turn
            self._log('error', f'skill {skill.name}: send_goal: {exc!r}')
            reason = phrase('reason.send_failed', language, name=name)
        return None, self._say(skill, 'failed', goal.values, language, reason=reason)

    def _first_words(self, goal: _Goal, first_words: asyncio.Future, text: str, failed: bool = False) -> None:
        """The turn says it; if the turn is gone, a failure is announced (an acceptance is not)."""
        if not first_words.done() and not goal.turn_gone:
            first_words.set_result(text)
        elif failed and not (goal.stop_requested or goal.replaced):
            self._announce(text, goal.language)

    async def _outcome(self, goal: _Goal, handle: GoalHandle) -> str:
        """What to announce when the goal ends ('' for nothing)."""
        skill, effect, language = goal.skill, goal.skill.effect, goal.language
        name = speakable(effect.name)
        try:
            ending = await asyncio.wait_for(handle.result(), effect.timeout)
        except asyncio.TimeoutError:
            handle.cancel()
            reason = phrase('reason.too_long', language, seconds=seconds_words(effect.timeout, language))
            return self._say(skill, 'failed', goal.values, language, reason=reason)
        except asyncio.CancelledError:
            handle.cancel()   # the source is closing: the goal must not outlive its owner
            raise
        except Exception as exc:
            self._log('error', f'skill {skill.name}: goal result: {exc!r}')
            return self._say(skill, 'failed', goal.values, language,
                             reason=phrase('reason.goal_lost', language, name=name))
        if ending.status == 'succeeded':
            return self._say(skill, 'succeeded', goal.values, language, result=ending.result)
        if ending.status == 'canceled':
            return '' if goal.stop_requested or goal.replaced \
                else self._say(skill, 'cancelled', goal.values, language)
        if goal.replaced:
            return ''
        return self._say(skill, 'failed', goal.values, language, result=ending.result,
                         reason=phrase('reason.gave_up', language, name=name))

    def _on_feedback(self, goal: _Goal, feedback: Any) -> None:
        template = goal.skill.reply('feedback', goal.language)
        now = self._clock.monotonic()
        if template is None or goal.stop_requested or goal.replaced \
                or now - goal.last_feedback < goal.skill.effect.feedback_period:
            return
        try:
            text = template.render({**goal.values, 'feedback': feedback})
        except TemplateError as exc:
            self._log('warning', f'skill {goal.skill.name}: reply feedback: {exc}')
            return
        goal.last_feedback = now
        self._announce(text, goal.language)

    # ------------------------------------------------------------------ services, topics
    async def _service(self, skill: SkillSpec, values: dict, language: str) -> str:
        effect = skill.effect
        name = speakable(effect.name)
        try:
            request = self._fields(skill, values)
            response = await asyncio.wait_for(
                self.effects.call_service(effect.type, effect.name, request, effect.timeout),
                _grace(effect.timeout))
        except asyncio.TimeoutError:
            reason = phrase('reason.service_silent', language, name=name,
                            seconds=seconds_words(effect.timeout, language))
            return self._say(skill, 'failed', values, language, reason=reason)
        except (SkillEffectError, TemplateError) as exc:
            return self._say(skill, 'failed', values, language, reason=_reason(exc, language))
        except Exception as exc:
            self._log('error', f'skill {skill.name}: call_service: {exc!r}')
            reason = phrase('reason.service_failed', language, name=name)
            return self._say(skill, 'failed', values, language, reason=reason)
        if _get(response, 'success') is False:   # std_srvs/Trigger and SetBool say so in the response
            reason = _get(response, 'message') or phrase('reason.service_refused', language, name=name)
            return self._say(skill, 'failed', values, language, reason=reason, response=response)
        return self._say(skill, 'succeeded', values, language, response=response)

    def _publish(self, skill: SkillSpec, values: dict, language: str) -> str:
        effect = skill.effect
        try:
            self.effects.publish(effect.type, effect.name, self._fields(skill, values))
        except (SkillEffectError, TemplateError) as exc:
            return self._say(skill, 'failed', values, language, reason=_reason(exc, language))
        except Exception as exc:
            self._log('error', f'skill {skill.name}: publish: {exc!r}')
            return self._say(skill, 'failed', values, language,
                             reason=phrase('reason.publish_failed', language, name=speakable(effect.name)))
        return self._say(skill, 'succeeded', values, language)

    async def _read(self, skill: SkillSpec, values: dict, language: str) -> str:
        effect = skill.effect
        name = speakable(effect.name)
        try:
            value = await asyncio.wait_for(
                self.effects.read_field(effect.type, effect.name, effect.field, effect.timeout),
                _grace(effect.timeout))
        except asyncio.TimeoutError:
            reason = phrase('reason.no_message', language, name=name,
                            seconds=seconds_words(effect.timeout, language))
            return self._say(skill, 'failed', values, language, reason=reason)
        except SkillEffectError as exc:
            return self._say(skill, 'failed', values, language, reason=exc.reason(language))
        except Exception as exc:
            self._log('error', f'skill {skill.name}: read_field: {exc!r}')
            return self._say(skill, 'failed', values, language,
                             reason=phrase('reason.read_failed', language, name=name))
        return self._say(skill, 'succeeded', values, language, value=value)
