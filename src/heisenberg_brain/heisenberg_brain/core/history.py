"""Conversation history per session, and fitting a prompt into the model's context.

Turns slide out of a window of N and are folded into a short extractive summary (no LLM
call: it must be instant and deterministic). They slide out in steps, half the window at a
time: the summary sits at the start of the prompt, so every change to it makes llama-server
evaluate the whole prompt again (~1.5 s for a full window of a 135M model on 2 cores, seen in
the soak), where an unchanged start lets its prompt cache serve all but the newest turn.
``fit_prompt`` makes a prompt fit a token budget, counting tokens with the caller's
tokenizer (llama-server's /tokenize), so the server never sees a prompt longer than its context.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from typing import Awaitable, Callable, Sequence

from heisenberg_brain.core.prompts import SUMMARY_LABELS, Turn
from heisenberg_brain.core.sentences import SentenceSplitter

DEFAULT_SESSION = 'default'
LANGUAGE_MARK = '#'   # session key + mark + language: the session's history in that language
SUMMARY_PREFIX = SUMMARY_LABELS['en']   # shown in the reply's language by the PromptBuilder
_QUOTE_CHARS = 100  # one side of a turn in the summary; longer first sentences are cut
# A turn's fact, in the language it was said in: (said, said nothing, replied, did not answer).
_FACTS: dict[str, tuple[str, str, str, str]] = {
    'en': ('The user said "{}"', 'The user said nothing', ' and you replied "{}"',
           ' and you did not answer.'),
    'fr': ("L'utilisateur a dit « {} »", "L'utilisateur n'a rien dit", ' et tu as répondu « {} »',
           " et tu n'as pas répondu."),
}
_INNER_QUOTES = re.compile(r'"|«\s*|\s*»')
_FACT_START = re.compile(r"(?<=\s)(?:The user said |L'utilisateur a dit |L'utilisateur n'a rien dit)")


class SessionStore:
    """Per-session window of at most max_turns turns plus a summary of the turns that slid out.

    When a turn overflows the window, the oldest turns fold into the summary until
    (max_turns + 1) // 2 remain, so the prompt's start changes once every few turns.

    At most max_sessions are kept: a robot that talks to many clients over days forgets the
    session used least recently. Thread-safe: the node's callbacks run on a multi-threaded executor.

    A session also keeps facts a skill was told (the person's name: ``remember``/``recall``).
    They belong to the session, not to one language's history, are kept even with max_turns 0,
    and go with the session: ``clear`` or its eviction forgets them.
    """

    def __init__(self, max_turns: int, *, max_sessions: int = 100, summary_chars: int = 400):
        if max_turns < 0:
            raise ValueError(f'max_turns must be >= 0, got {max_turns}')
        if max_sessions < 1:
            raise ValueError(f'max_sessions must be >= 1, got {max_sessions}')
        self.max_turns = max_turns
        self.max_sessions = max_sessions
        self.summary_chars = summary_chars
        self._turns: dict[str, list[Turn]] = {}
        self._summaries: dict[str, str] = {}
        self._facts: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def turns(self, session_id: str) -> list[Turn]:
        with self._lock:
            return list(self._turns.get(_key(session_id), ()))

    def summary(self, session_id: str) -> str:
        with self._lock:
            return self._summaries.get(_key(session_id), '')

    def add(self, session_id: str, user: str, assistant: str, language: str = 'en') -> None:
        """Store a turn as it happened (assistant may be empty or cut short by a cancel)."""
        if self.max_turns == 0:
            return
        key = _key(session_id)
        with self._lock:
            turns = self._use(key)
            turns.append(Turn(user=user.strip(), assistant=assistant.strip(), language=language))
            if len(turns) > self.max_turns:
                keep = (self.max_turns + 1) // 2
                slid_out = turns[:-keep]
                del turns[:-keep]
                self._summaries[key] = fold_into_summary(
                    self._summaries.get(key, ''), slid_out, self.summary_chars)

    def remember(self, session_id: str, fact: str, value: str) -> None:
        """Keep a fact the session was told ('name' -> 'Alice')."""
        key = _key(session_id)
        with self._lock:
            self._use(key)
            self._facts.setdefault(key, {})[fact] = value

    def recall(self, session_id: str, fact: str) -> str:
        """A fact the session was told, or '' if it was not."""
        with self._lock:
            return self._facts.get(_key(session_id), {}).get(fact, '')

    def set_summary(self, session_id: str, summary: str) -> None:
        key = _key(session_id)
        with self._lock:
            self._use(key)
            self._summaries[key] = summary.strip()

    def clear(self, session_id: str) -> None:
        """Forget the session: its turns, summary and facts, in every language (history_key)."""
        key = _key(session_id)
        with self._lock:
            for store in (self._turns, self._summaries, self._facts):
                for stored in [k for k in store if k == key or k.startswith(key + LANGUAGE_MARK)]:
                    del store[stored]

    def session_ids(self) -> list[str]:
        """Known sessions, least recently used first."""
        with self._lock:
            return list(self._turns)

    def _use(self, key: str) -> list[Turn]:
        """The session's turns, now the most recently used; the least recent one beyond max_sessions goes."""
        turns = self._turns.pop(key, [])
        self._turns[key] = turns   # dicts keep insertion order: the end is the most recent
        while len(self._turns) > self.max_sessions:
            oldest = next(iter(self._turns))
            del self._turns[oldest]
            self._summaries.pop(oldest, None)
            self._facts.pop(oldest, None)
        return turns


def _key(session_id: str) -> str:
    return session_id or DEFAULT_SESSION


def history_key(session_id: str, language: str) -> str:
    """Where a session's history in a language is kept; English keeps the session's own key.

    Each language has its own, so a French answer is not prompted with English turns.
    """
    return session_id if language == 'en' else f'{_key(session_id)}{LANGUAGE_MARK}{language}'


def summarize_turns(turns: Sequence[Turn], max_chars: int = 400) -> str:
    """An extractive summary: the first sentence of each side of each turn, newest kept."""
    return fold_into_summary('', turns, max_chars)


def fold_into_summary(summary: str, turns: Sequence[Turn], max_chars: int = 400) -> str:
    """Append the turns' facts to an existing summary; cut its oldest facts to stay in max_chars."""
    body = summary.strip()
    if body.startswith(SUMMARY_PREFIX):
        body = body[len(SUMMARY_PREFIX):]
    facts = [_fact(turn) for turn in turns]
    body = ' '.join(part for part in [body, *facts] if part)
    kept = _keep_newest(body, max_chars - len(SUMMARY_PREFIX))
    return SUMMARY_PREFIX + kept if kept else ''


def _fact(turn: Turn) -> str:
    said, said_nothing, replied, no_answer = _FACTS.get(turn.language, _FACTS['en'])
    user = _first_sentence(turn.user)
    assistant = _first_sentence(turn.assistant)
    said = said.format(user) if user else said_nothing
    if not assistant:
        return said + no_answer
    stop = '' if assistant[-1] in '.!?…' else '.'
    return said + replied.format(assistant) + stop


def _first_sentence(text: str) -> str:
    splitter = SentenceSplitter(max_clause_chars=10_000)
    chunks = splitter.push(text)
    first = chunks[0] if chunks else (splitter.flush() or '')
    first = _INNER_QUOTES.sub("'", first)  # the fact quotes it
    if len(first) <= _QUOTE_CHARS:
        return first
    return first[:_QUOTE_CHARS].rsplit(' ', 1)[0] + '…'


def _keep_newest(body: str, budget: int) -> str:
    """The end of body within budget chars, starting at a fact (or word) boundary if it must cut."""
    if len(body) <= budget:
        return body
    if budget <= 0:
        return ''
    cut_from = len(body) - budget
    for start in _FACT_START.finditer(body):
        if start.start() >= cut_from:
            return body[start.start():]
    return _from_word_start(body, cut_from)


def _from_word_start(text: str, start: int) -> str:
    """text[start:], moved on to the next word if start is inside one (unless that leaves nothing)."""
    tail = text[start:]
    if start == 0 or text[start - 1].isspace():
        return tail.strip()
    space = tail.find(' ')
    return tail[space + 1:].strip() if 0 <= space < len(tail.rstrip()) - 1 else tail.strip()


@dataclasses.dataclass
class FitResult:
    """The prompt that fits, and what it took to make it fit."""

    prompt: str
    turns: list[Turn]
    summary: str
    dropped_turns: int


class PromptTooLong(ValueError):
    """The question does not fit the token budget even with no history: refused, never cut."""


BuildPrompt = Callable[[list[Turn], str, str], Awaitable[str]]
CountTokens = Callable[[str], Awaitable[int]]


@dataclasses.dataclass
class _Measured:
    prompt: str
    tokens: int
    turns: list[Turn]
    summary: str


async def fit_prompt(build: BuildPrompt, count_tokens: CountTokens, turns: Sequence[Turn],
                     user_text: str, summary: str, budget_tokens: int,
                     *, summary_chars: int = 400) -> FitResult:
    """Build the richest prompt that fits in budget_tokens; never return one over it.

    Tried in order: all turns + summary; the oldest turns folded into the summary one by
    one; no summary (and by then no turns). Each try costs a build and a count (HTTP round
    trips in the node), so the first try's tokens-per-character ratio is used to jump to the
    first plan estimated to fit; the estimate leans towards dropping more, so one more check
    usually ends the search.
    Raises PromptTooLong when the question does not fit even then: a question cut to fit would
    be another question, and evaluating a prompt that fills the context takes the server long
    enough to delay the next request too.
    """
    if budget_tokens < 1:
        raise ValueError(f'budget_tokens must be >= 1, got {budget_tokens}')
    turns = list(turns)

    async def measure(kept: list[Turn], text: str, summ: str) -> _Measured:
        prompt = await build(kept, text, summ)
        return _Measured(prompt, await count_tokens(prompt), kept, summ)

    def result(m: _Measured) -> FitResult:
        return FitResult(prompt=m.prompt, turns=m.turns, summary=m.summary,
                         dropped_turns=len(turns) - len(m.turns))

    first = await measure(turns, user_text, summary)
    if first.tokens <= budget_tokens:
        return result(first)

    plans = [plan for plan in _shrinking_plans(turns, summary, summary_chars) if plan != (turns, summary)]
    tokens_per_char = first.tokens / max(1, len(first.prompt))
    full_chars = _content_chars(turns, summary)

    def estimate(plan: tuple[list[Turn], str]) -> float:
        return first.tokens - tokens_per_char * (full_chars - _content_chars(*plan))

    # Every plan after the first one estimated to fit is tried; the last (bare) one always is.
    start = next((i for i, plan in enumerate(plans) if estimate(plan) <= budget_tokens), len(plans) - 1)
    bare_tokens = first.tokens
    for kept, summ in plans[max(0, start):]:
        tried = await measure(kept, user_text, summ)
        if tried.tokens <= budget_tokens:
            return result(tried)
        bare_tokens = tried.tokens
    raise PromptTooLong(f'the prompt is too long: {bare_tokens} tokens with the system prompt and no '
                        f'history, but the context leaves room for {budget_tokens} (its size minus the '
                        'reply\'s max_tokens): shorten it')


def _shrinking_plans(turns: list[Turn], summary: str, summary_chars: int) -> list[tuple[list[Turn], str]]:
    """(turns, summary) after folding 1..n oldest turns into the summary, then nothing at all."""
    plans = [(turns[folded:], fold_into_summary(summary, turns[:folded], summary_chars))
             for folded in range(1, len(turns) + 1)]
    plans.append(([], ''))
    return plans


def _content_chars(turns: Sequence[Turn], summary: str) -> int:
    return len(summary) + sum(len(t.user) + len(t.assistant) for t in turns)
