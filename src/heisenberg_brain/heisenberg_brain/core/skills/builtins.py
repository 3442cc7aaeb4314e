"""The built-ins' answers: the time, the date, timers, and what the robot can do.

Time goes through an injected ``Clock`` (the wall time for "what time is it", a monotonic
time and ``call_later`` for timers), so tests move a fake clock instead of sleeping. A timer
that rings says so through ``announce(text, language)``, the same hook a finished goal uses:
it is speech nobody asked for just then, and the brain decides how to fit it between turns.

Every answer is in the language asked for (the turn's): the sentences are core/phrases.py's,
this module puts the numbers and names in. A timer rings in the language it was set in.

Wording rules, each a test case:
- a duration is said in at most two units, the larger first ("4 minutes and 12 seconds",
  « 1 heure et 5 minutes »); what is left is rounded up, so a timer never says "0 seconds";
- with several timers, "how long is left" names each by its length, soonest first, one
  sentence each (a list of durations joined by "and" is hard to follow by ear);
- "cancel the timer" cancels them all (there is no dialogue to ask which one); "cancel the
  five minute timer" cancels the one of that length that would ring first;
- the time is "It's 3:05 PM." / « Il est 15 h 05. » (« midi », « minuit » on the hour), the
  date "Today is Tuesday, March 4th, 2025." / « Nous sommes le mardi 4 mars 2025. » (« 1er »).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import math
import time
from typing import Callable, Iterable, Protocol

from heisenberg_brain.core.phrases import MONTHS, UNITS, WEEKDAYS, phrase

# The built-in skills; "what can you do?" reads out their 'does.<name>' phrases.
BUILTINS = ('time', 'date', 'timer', 'name', 'stop', 'help')
MAX_TIMERS = 10
MAX_TIMER_SECONDS = 24 * 3600


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time for the built-ins: wall time, monotonic seconds, and a callback later."""

    def now(self) -> datetime.datetime: ...

    def monotonic(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


class SystemClock:
    """The real clock; call_later uses the running asyncio loop (skills run on the brain's loop)."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay, callback)


# ---------------------------------------------------------------------- wording
def _unit(count: int, unit: str, language: str) -> str:
    singular, plural = UNITS[language][unit]
    return f'{count} {singular if count == 1 else plural}'


def join_words(items: Iterable[str], last: str = 'and') -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return f'{", ".join(items[:-1])} {last} {items[-1]}'


def _split(seconds: int) -> list[tuple[int, str]]:
    """(count, unit) of the hours, minutes and seconds that are not 0."""
    counts = zip((seconds // 3600, seconds % 3600 // 60, seconds % 60), ('hour', 'minute', 'second'))
    return [(count, unit) for count, unit in counts if count]


def duration_words(seconds: float, language: str = 'en') -> str:
    """'5 minutes', '4 minutes and 12 seconds', '1 hour and 5 minutes': rounded up, two units at most."""
    seconds = max(1, math.ceil(seconds - 1e-9))
    if seconds >= 3600:
        seconds = math.ceil(seconds / 60) * 60   # past an hour, seconds are noise
    return join_words([_unit(count, unit, language) for count, unit in _split(seconds)][:2],
                      phrase('and', language))


def timer_label(seconds: int, language: str = 'en') -> str:
    """The name a timer goes by: '5 minute', '1 minute 30 second'; « 5 minutes », « 1 minute 30 secondes »."""
    if language == 'en':   # an adjective: "your 5 minute timer"
        return ' '.join(f'{count} {unit}' for count, unit in _split(seconds))
    return ' '.join(_unit(count, unit, language) for count, unit in _split(seconds))


def time_sentence(now: datetime.datetime, language: str = 'en') -> str:
    if language == 'fr':
        if now.minute == 0:
            return {0: 'Il est minuit.', 12: 'Il est midi.'}.get(now.hour, f'Il est {now.hour} h.')
        return f'Il est {now.hour} h {now.minute:02d}.'
    hour = now.hour % 12 or 12
    half = 'AM' if now.hour < 12 else 'PM'
    return f"It's {hour} {half}." if now.minute == 0 else f"It's {hour}:{now.minute:02d} {half}."


def _ordinal(day: int) -> str:
    suffix = 'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')
    return f'{day}{suffix}'


def date_sentence(now: datetime.datetime, language: str = 'en') -> str:
    weekday, month = WEEKDAYS[language][now.weekday()], MONTHS[language][now.month - 1]
    if language == 'fr':
        return f"Nous sommes le {weekday} {'1er' if now.day == 1 else now.day} {month} {now.year}."
    return f'Today is {weekday}, {month} {_ordinal(now.day)}, {now.year}.'


def help_sentence(descriptions: Iterable[str], language: str = 'en') -> str:
    """What the robot can do, from the skills' own descriptions."""
    return phrase('help', language, skills=join_words(descriptions, phrase('and', language)))


# ---------------------------------------------------------------------- timers
@dataclasses.dataclass
class Timer:
    """A running timer: its length (what it is called by), when it rings, the language it was set in."""

    seconds: int
    ends_at: float
    language: str = 'en'
    handle: Cancellable | None = None


class Timers:
    """The running timers; each rings once through announce(text, language), then is gone."""

    def __init__(self, clock: Clock, announce: Callable[[str, str], None], max_timers: int = MAX_TIMERS):
        self._clock = clock
        self._announce = announce
        self._max = max_timers
        self._timers: list[Timer] = []

    @property
    def running(self) -> tuple[Timer, ...]:
        """Soonest first."""
        return tuple(sorted(self._timers, key=lambda timer: timer.ends_at))

    def set(self, seconds: int, language: str = 'en') -> str:
        """Start a timer; the sentence that confirms it (or says why not)."""
        if seconds < 1:
            return phrase('timer.too_short', language)
        if seconds > MAX_TIMER_SECONDS:
            return phrase('timer.too_long', language)
        if len(self._timers) >= self._max:
            return phrase('timer.too_many', language, count=self._max)
        timer = Timer(seconds, self._clock.monotonic() + seconds, language)
        timer.handle = self._clock.call_later(seconds, lambda: self._ring(timer))
        self._timers.append(timer)
        return phrase('timer.set', language, duration=duration_words(seconds, language))

    def left(self, language: str = 'en') -> str:
        """How long each timer has left, soonest first."""
        timers = self.running
        now = self._clock.monotonic()
        if not timers:
            return phrase('timer.none', language)
        parts = [phrase('timer.left' if len(timers) == 1 else 'timer.left_each', language,
                        left=duration_words(timer.ends_at - now, language),
                        label=timer_label(timer.seconds, language))
                 for timer in timers]
        if len(timers) > 1:
            parts.insert(0, phrase('timer.several', language, count=len(timers)))
        return ' '.join(parts)

    def cancel(self, seconds: int | None = None, language: str = 'en') -> str:
        """Cancel every timer, or the soonest one of this length."""
        if not self._timers:
            return phrase('timer.none_to_cancel', language)
        if seconds is None:
            count = len(self._timers)
            self.close()
            return phrase('timer.cancelled', language) if count == 1 \
                else phrase('timer.cancelled_all', language, count=count)
        same = [timer for timer in self.running if timer.seconds == seconds]
        if not same:
            return phrase('timer.no_such', language, label=timer_label(seconds, language))
        self._drop(same[0])
        return phrase('timer.cancelled_one', language, label=timer_label(seconds, language))

    def close(self) -> None:
        """Cancel all timers without a word (the brain is shutting down, or all were cancelled)."""
        for timer in list(self._timers):
            self._drop(timer)

    def _drop(self, timer: Timer) -> None:
        self._timers.remove(timer)
        if timer.handle is not None:
            timer.handle.cancel()

    def _ring(self, timer: Timer) -> None:
        if timer not in self._timers:
            return   # cancelled as it came due
        self._timers.remove(timer)
        self._announce(phrase('timer.rang', timer.language, label=timer_label(timer.seconds, timer.language)),
                       timer.language)
