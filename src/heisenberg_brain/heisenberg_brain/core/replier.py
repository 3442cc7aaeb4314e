"""One reply, from a request to streamed tokens and closed sentences (no ROS here).

The brain node runs ``Replier.reply`` as an asyncio task for a voice turn or a Respond
goal; cancelling the task closes the HTTP stream (llama-server stops generating).

What a turn leaves in the session's history: the question and the answer when there is an
answer; for a cancelled or preempted turn, the partial answer marked as cut off (" …"), as
what was actually said; nothing at all for a turn that failed or produced no word, so the
model is never shown a question answered with nothing (it would learn to answer nothing).
An empty completion is an error (EmptyAnswerError), never a successful empty reply.
A reply that starts repeating itself (core/loops.py) is cut where the loop began: the stream is
closed, only the part before the loop is spoken and returned (finish_reason 'loop'), and the
turn is not stored at all, so the model is never shown its own loop as an example to follow.

Each language has its own history in a session (the English one under the session's id, the
others under '<id>#<language>'): a session may switch language between turns, and each turn sees
the earlier turns (and the summary) of its own language only. A small model answers in the
language of the dialogue it is shown: with the French turn before it in the prompt, even as a
fact of the summary, SmolLM2-135M answered "What is the capital of Italy?" in French.

The next turn is prepared while the user thinks: once a reply ends (and at start), ``prime``
has llama-server read that session's next prompt up to where the question will go, so the
next turn pays only for its question. This matters most when turns fold into the summary:
the prompt then changes near its start and is read again almost whole, which is now done
off the user's clock. A new reply cancels a prime still running (what it read stays cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from typing import AsyncIterator, Callable

from heisenberg_brain.core.config import LANGUAGES, PERSONALITIES, LLMConfig
from heisenberg_brain.core.history import PromptTooLong, SessionStore, fit_prompt, history_key
from heisenberg_brain.core.llm_client import Done, LlamaClient, Token, ToolCall
from heisenberg_brain.core.llm_errors import EmptyAnswerError
from heisenberg_brain.core.loops import LoopDetector
from heisenberg_brain.core.prompts import PromptBuilder, Turn
from heisenberg_brain.core.sentences import SentenceSplitter

MAX_PROMPT_CHARS = 20000  # longer prompts are refused before any tokenization
CONTEXT_MARGIN_TOKENS = 16
QUESTION_ROOM_TOKENS = 64  # a prime leaves room for a question of about this length
NEXT_QUESTION = 'HEISENBERG_NEXT_QUESTION'  # where the question goes in a primed prompt
CUT_OFF_MARK = ' …'  # ends a cancelled turn's partial answer in the history


@dataclasses.dataclass(frozen=True)
class ReplyRequest:
    """What to answer, as a voice turn or a Respond goal asks it."""

    prompt: str
    session_id: str = ''
    personality: str = ''
    max_tokens: int = 0
    speak: bool = False
    source: str = 'action'  # 'voice' | 'action' | 'announcement' (speech nobody asked for just then)
    language: str = 'en'    # of the reply (prompts, sentences, voice): one of config.LANGUAGES


def request_error(request: ReplyRequest) -> str | None:
    """Why a request cannot be answered (a clear message for the caller), or None."""
    if not request.prompt.strip():
        return 'the prompt is empty: ask something'
    if request.personality and request.personality not in PERSONALITIES:
        return (f"unknown personality '{request.personality}': use one of {', '.join(PERSONALITIES)} "
                '(or empty for the default)')
    if request.language not in LANGUAGES:
        return (f"unknown language '{request.language}': use one of {', '.join(LANGUAGES)} "
                '(or empty for the default)')
    if request.max_tokens < 0:
        return f'max_tokens must be >= 0 (0 = default), got {request.max_tokens}'
    return None


@dataclasses.dataclass
class ReplyOutcome:
    """Filled in while the reply runs, so a cancelled reply still has its partial state."""

    text: str = ''
    finish_reason: str = ''       # stop | length | loop | cancelled | error
    token_count: int = 0
    time_to_first_token: float = -1.0
    error: str = ''
    timings: dict = dataclasses.field(default_factory=dict)
    dropped_turns: int = 0
    skill: str = ''               # the skill that answered ('timer.set', 'go_to'); '' = the LLM


def say(text: str, outcome: ReplyOutcome, on_token: Callable[[Token], None],
        on_sentence: Callable[[str], None]) -> ReplyOutcome:
    """A reply whose words are known already (a skill's, an announcement): one token, its sentences."""
    text = text.strip()
    if text:
        outcome.time_to_first_token = max(outcome.time_to_first_token, 0.0)
        outcome.text = text
        outcome.token_count = 1
        on_token(Token(text, 0))
        splitter = SentenceSplitter()
        for sentence in splitter.push(text):
            on_sentence(sentence)
        if (rest := splitter.flush()) is not None:
            on_sentence(rest)
    outcome.finish_reason = 'stop'
    return outcome


class Replier:
    """Builds the prompt within the context, streams the reply, splits it for speech."""

    def __init__(self, config: LLMConfig, client: LlamaClient, sessions: SessionStore,
                 max_clause_chars: int = 160, first_clause_min_chars: int = 0,
                 first_chunk_max_chars: int = 0):
        self.config = config
        self.client = client
        self.sessions = sessions
        self.builder = PromptBuilder(config.prompt_format, config.system_prompt)
        self.stop = tuple(dict.fromkeys(self.builder.stop_strings() + tuple(config.stop)))
        self._splitter_args = (max_clause_chars, first_clause_min_chars, first_chunk_max_chars)
        self._context_size: int | None = None
        self._priming: asyncio.Task | None = None
        self.primes = 0   # primes that reached llama-server

    async def context_size(self) -> int:
        if self._context_size is None:
            self._context_size = await self.client.context_size()
        return self._context_size

    async def _build(self, turns: list[Turn], user_text: str, summary: str, personality: str,
                     language: str, tools: list[dict] | None = None) -> str:
        """The prompt llama-server will read; with tools, the chat template's, tool schemas included."""
        if tools is not None or self.config.prompt_format == 'server':
            return await self.client.apply_template(
                self.builder.messages(turns, user_text, personality, summary, language), tools)
        return self.builder.render(turns, user_text, personality, summary, language)

    async def _count_tokens(self, text: str, budget: int) -> int:
        # A token is at least one byte, so a prompt of fewer bytes than the budget fits
        # without asking the server (saves a round trip on most turns).
        size = len(text.encode())
        return size if size <= budget else await self.client.count_tokens(text)

    async def _fit(self, session_id: str, user_text: str, personality: str, max_tokens: int,
                   room: int = 0, language: str = 'en', tools: list[dict] | None = None):
        """(max_tokens as bounded by the context, the richest prompt that leaves it and room tokens).

        tools: the prompt is the chat template's with these tools offered (reply_with_tools).
        """
        n_ctx = await self.context_size()
        max_tokens = max(1, min(max_tokens, n_ctx // 2))
        budget = n_ctx - max_tokens - CONTEXT_MARGIN_TOKENS - room
        key = history_key(session_id, language)
        fit = await fit_prompt(
            lambda turns, text, summary: self._build(turns, text, summary, personality, language, tools),
            lambda text: self._count_tokens(text, budget),
            self.sessions.turns(key), user_text, self.sessions.summary(key), budget)
        return max_tokens, fit

    async def reply(self, request: ReplyRequest, outcome: ReplyOutcome,
                    on_token: Callable[[Token], None] = lambda token: None,
                    on_sentence: Callable[[str], None] = lambda sentence: None) -> ReplyOutcome:
        """Answer request, filling outcome as it goes. Raises LLMError; cancellable."""
        self.cancel_prime()
        personality = request.personality or self.config.personality
        user_text = _user_text(request)
        max_tokens, fit = await self._fit(request.session_id, user_text, personality,
                                          request.max_tokens or self.config.max_tokens,
                                          language=request.language)
        outcome.dropped_turns = fit.dropped_turns
        tokens = _TokenLoop(self._splitter_args, on_token, on_sentence)
        try:
            await tokens.run(self.client.stream(
                fit.prompt, max_tokens=max_tokens, temperature=self.config.temperature,
                seed=self.config.seed if self.config.seed >= 0 else None, stop=self.stop), outcome)
        except (asyncio.CancelledError, Exception) as exc:
            _record_ending(outcome, exc)
            raise
        finally:
            self._remember(request, user_text, outcome)
            self.schedule_prime(request.session_id, personality, request.language)
        return outcome

    async def reply_with_tools(self, request: ReplyRequest, outcome: ReplyOutcome, tools: list[dict],
                               on_token: Callable[[Token], None] = lambda token: None,
                               on_sentence: Callable[[str], None] = lambda sentence: None
                               ) -> tuple[ToolCall, ...]:
        """Answer through /v1/chat/completions offering tools; the calls the model made, or () for an answer.

        The history is fitted into the context and the reply streamed as with reply() (the same
        token loop: a reply that loops is cut), and a plain answer is remembered as with reply().
        A tool call is the caller's to check and run; the turn is not remembered (its words are
        the skill's). The model may write a call as its whole reply, ``{"name": ..., "arguments":
        ...}``, instead of in the form llama-server parses (Qwen2.5-Coder-0.5B does): so a reply
        whose first character is '{' is held back until it ends, and is spoken only if it is not
        such a call. Nothing is primed after it: the next /completion prompt is not this one.
        """
        self.cancel_prime()
        personality = request.personality or self.config.personality
        user_text = _user_text(request)
        max_tokens, fit = await self._fit(request.session_id, user_text, personality,
                                          request.max_tokens or self.config.max_tokens,
                                          language=request.language, tools=tools)
        outcome.dropped_turns = fit.dropped_turns
        messages = self.builder.messages(fit.turns, user_text, personality, fit.summary, request.language)
        tokens = _TokenLoop(self._splitter_args, on_token, on_sentence, hold_calls=True)
        calls: tuple[ToolCall, ...] = ()
        try:
            calls = await tokens.run(self.client.chat_stream(
                messages, tools, max_tokens=max_tokens, temperature=self.config.temperature,
                seed=self.config.seed if self.config.seed >= 0 else None), outcome)
        except (asyncio.CancelledError, Exception) as exc:
            _record_ending(outcome, exc)
            raise
        finally:
            if not calls and not tokens.held:   # words held back were never said (a call, or part of one)
                self._remember(request, user_text, outcome)
        return calls

    def schedule_prime(self, session_id: str = '', personality: str = '', language: str = 'en') -> None:
        """Prime the session's next turn in the background (call on the replier's event loop).

        The next turn is taken to be in the language of the last one.
        """
        self.cancel_prime()
        self._priming = asyncio.ensure_future(self._prime_quietly(session_id, personality, language))

    async def primed(self) -> None:
        """Return once the prime scheduled last has ended (for tests and benches)."""
        if self._priming is not None:
            await asyncio.wait([self._priming])

    def cancel_prime(self) -> None:
        if self._priming is not None and not self._priming.done():
            self._priming.cancel()
        self._priming = None

    async def prime(self, session_id: str = '', personality: str = '', language: str = 'en') -> int:
        """Have llama-server read the session's next prompt up to its question; the tokens it read."""
        _, fit = await self._fit(session_id, NEXT_QUESTION, personality or self.config.personality,
                                 self.config.max_tokens, room=QUESTION_ROOM_TOKENS, language=language)
        read = await self.client.prefill(fit.prompt[:fit.prompt.index(NEXT_QUESTION)])
        self.primes += 1
        return read

    async def _prime_quietly(self, session_id: str, personality: str, language: str) -> None:
        try:
            await self.prime(session_id, personality, language)
        except Exception:   # noqa: BLE001 - only a head start: the turn itself reports what is wrong
            pass

    def _remember(self, request: ReplyRequest, user_text: str, outcome: ReplyOutcome) -> None:
        """Store the turn in the session's history when it has an answer (module docstring)."""
        answer = outcome.text.strip()
        if not answer or outcome.finish_reason in ('error', 'loop'):
            return
        if outcome.finish_reason == 'cancelled':
            answer += CUT_OFF_MARK
        key = history_key(request.session_id, request.language)
        self.sessions.add(key, user_text, answer, request.language)


def _record_ending(outcome: ReplyOutcome, exc: BaseException) -> None:
    """How a reply that raised ended: cancelled, or an error with its message."""
    if isinstance(exc, asyncio.CancelledError):
        outcome.finish_reason = 'cancelled'
    else:
        outcome.finish_reason = 'error'
        outcome.error = str(exc)


def _user_text(request: ReplyRequest) -> str:
    """The request's prompt as the model reads it; a prompt too long is refused before any tokenization."""
    user_text = request.prompt.strip()
    if len(user_text) > MAX_PROMPT_CHARS:
        raise PromptTooLong(f'the prompt is too long: {len(user_text)} characters, at most '
                            f'{MAX_PROMPT_CHARS} are accepted: shorten it')
    return user_text


class _TokenLoop:
    """The token loop both reply paths share, so every guard applies to both.

    Each token is counted into the outcome and given to on_token, then checked for a loop
    (core/loops.py) before the splitter sees it: a reply that repeats itself is cut where the
    loop began, the stream closed, and only the part before the loop spoken. An empty answer
    is an EmptyAnswerError.

    hold_calls (reply_with_tools): while the reply is blank or starts with '{' it may be a bare
    tool call, so its tokens are held, not given out, until the reply ends (or loops): a call
    is returned, anything else is given out then. ``held`` is what is still held.
    """

    def __init__(self, splitter_args: tuple[int, int, int], on_token: Callable[[Token], None],
                 on_sentence: Callable[[str], None], hold_calls: bool = False):
        self.splitter_args = splitter_args
        self.splitter = SentenceSplitter(*splitter_args)
        self.loops = LoopDetector()
        self.spoken = _SpokenChars(on_sentence)
        self.on_token = on_token
        self.held: list[Token] | None = [] if hold_calls else None

    async def run(self, stream: AsyncIterator[Token | Done], outcome: ReplyOutcome) -> tuple[ToolCall, ...]:
        """Consume stream into outcome; the tool calls the model made (in Done or as a bare reply)."""
        calls: tuple[ToolCall, ...] = ()
        started = time.monotonic()
        # aclosing: leaving the loop early (a loop found) closes the HTTP stream at once.
        async with contextlib.aclosing(stream) as items:
            async for item in items:
                if isinstance(item, Done):
                    outcome.finish_reason = item.finish_reason
                    outcome.token_count = item.token_count or outcome.token_count
                    outcome.timings = item.timings
                    calls = item.tool_calls
                    break
                if outcome.time_to_first_token < 0:
                    outcome.time_to_first_token = time.monotonic() - started
                outcome.text += item.text
                outcome.token_count = item.index + 1
                if self.held is None:
                    self.on_token(item)
                else:
                    self.held.append(item)
                # Before the splitter sees the token: a copy the loop check catches is never spoken.
                if (loop := self.loops.push(item.text)) is not None:
                    outcome.text = outcome.text[:loop.cut].rstrip()
                    outcome.finish_reason = 'loop'
                    if self.held and (bare := _bare_call(outcome.text)) is not None:
                        return (bare,)   # a call written again and again: the first copy is the call
                    self._give_held(split=False)
                    # What is left to say ends at the cut (the old splitter holds the loop's start).
                    self.splitter = SentenceSplitter(self.splitter_args[0])
                    self._split(self.spoken.unspoken(outcome.text))
                    break
                if self.held is None:
                    self._split(item.text)
                elif outcome.text.strip() and not outcome.text.lstrip().startswith('{'):
                    self._give_held()
        if not calls and self.held:
            bare = _bare_call(outcome.text)
            if bare is not None:
                calls = (bare,)
            else:
                self._give_held()
        if calls:
            return calls
        if (rest := self.splitter.flush()) is not None:
            self.spoken(rest)
        if not outcome.text.strip():
            raise EmptyAnswerError(outcome.finish_reason, outcome.token_count)
        return ()

    def _give_held(self, split: bool = True) -> None:
        """Give out the held tokens, and from now on every token as it comes."""
        held, self.held = self.held or [], None
        for token in held:
            self.on_token(token)
            if split:
                self._split(token.text)

    def _split(self, text: str) -> None:
        for sentence in self.splitter.push(text):
            self.spoken(sentence)


class _SpokenChars:
    """Passes sentences on, counting their visible characters, to tell what of a text is unspoken."""

    def __init__(self, on_sentence: Callable[[str], None]):
        self.on_sentence = on_sentence
        self.visible = 0

    def __call__(self, sentence: str) -> None:
        self.visible += sum(not c.isspace() for c in sentence)
        self.on_sentence(sentence)

    def unspoken(self, text: str) -> str:
        """The end of text after as many visible characters as were spoken (the splitter moves spaces)."""
        seen = 0
        for index, char in enumerate(text):
            if seen == self.visible:
                return text[index:]
            seen += not char.isspace()
        return ''


def _bare_call(text: str) -> ToolCall | None:
    """A reply that is only {"name": <str>, "arguments": <object or JSON text>}, as a call; else None."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict) and set(body) == {'name', 'arguments'} and isinstance(body['name'], str):
        return ToolCall(body['name'], body['arguments'])
    return None
