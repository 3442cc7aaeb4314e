"""The built-in skills' answers: the time, the date, timers, and what the robot can do.

Time goes through an injected ``Clock`` (the wall time for "what time is it", a monotonic
time and ``call_later`` for timers), so tests move a fake clock instead of sleeping. A timer
that rings says so through ``announce``, the same hook a finished goal uses: it is speech
nobody asked for just then, and the brain decides how to fit it between turns.

Wording rules, each a test case:
- a duration is said in at most two units, the larger first ("4 minutes and 12 seconds",
  "1 hour and 5 minutes"); what is left is rounded up, so a timer never says "0 seconds";
- with several timers, "how long is left" names each by its length, soonest first, one
  sentence each (a list of durations joined by "and" is hard to follow by ear);
- "cancel the timer" cancels them all (there is no dialogue to ask which one); "cancel the
  five minute timer" cancels the one of that length that would ring first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import math
import time
from typing import Callable, Iterable, Protocol

# name -> the description "what can you do?" reads out (so a description is a verb phrase).
BUILTINS = {
    'time': 'tell the time',
    'date': 'tell the date',
    'timer': 'run timers',
    'stop': "stop what I'm doing",
    'help': 'say what I can do',
}
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
def _unit(count: int, word: str) -> str:
    return f'{count} {word}' if count == 1 else f'{count} {word}s'


def join_words(items: Iterable[str], last: str = 'and') -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    if len(items) <= 1:
        return ''.join(items)
    return f'{", ".join(items[:-1])} {last} {items[-1]}'


def _split(seconds: int) -> tuple[int, int, int]:
    return seconds // 3600, seconds % 3600 // 60, seconds % 60


def duration_words(seconds: float) -> str:
    """'5 minutes', '4 minutes and 12 seconds', '1 hour and 5 minutes': rounded up, two units at most."""
    seconds = max(1, math.ceil(seconds - 1e-9))
    if seconds >= 3600:
        seconds = math.ceil(seconds / 60) * 60   # past an hour, seconds are noise
    hours, minutes, secs = _split(seconds)
    units = [_unit(hours, 'hour') if hours else '', _unit(minutes, 'minute') if minutes else '',
             _unit(secs, 'second') if secs else '']
    return join_words([unit for unit in units if unit][:2])


def timer_label(seconds: int) -> str:
    """The name a timer goes by: '5 minute', '1 minute 30 second', '2 hour'."""
    hours, minutes, secs = _split(seconds)
    parts = [f'{count} {word}' for count, word in ((hours, 'hour'), (minutes, 'minute'), (secs, 'second'))
             if count]
    return ' '.join(parts)


def time_sentence(now: datetime.datetime) -> str:
    hour = now.hour % 12 or 12
    half = 'AM' if now.hour < 12 else 'PM'
    return f"It's {hour} {half}." if now.minute == 0 else f"It's {hour}:{now.minute:02d} {half}."


def _ordinal(day: int) -> str:
    suffix = 'th' if 10 <= day % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(day % 10, 'th')
    return f'{day}{suffix}'


def date_sentence(now: datetime.datetime) -> str:
    return f"Today is {now.strftime('%A')}, {now.strftime('%B')} {_ordinal(now.day)}, {now.year}."


def help_sentence(descriptions: Iterable[str]) -> str:
    """What the robot can do, from the skills' own descriptions."""
    return f"I can {join_words(descriptions)}. Anything else, I'll try to answer."


# ---------------------------------------------------------------------- timers
@dataclasses.dataclass
class Timer:
    """A running timer: its length (what it is called by) and when it rings."""

    seconds: int
    ends_at: float
    handle: Cancellable | None = None

    @property
    def label(self) -> str:
        return timer_label(self.seconds)


class Timers:
    """The running timers; each rings once through announce, then is gone."""

    def __init__(self, clock: Clock, announce: Callable[[str], None], max_timers: int = MAX_TIMERS):
        self._clock = clock
        self._announce = announce
        self._max = max_timers
        self._timers: list[Timer] = []

    @property
    def running(self) -> tuple[Timer, ...]:
        """Soonest first."""
        return tuple(sorted(self._timers, key=lambda timer: timer.ends_at))

    def set(self, seconds: int) -> str:
        """Start a timer; the sentence that confirms it (or says why not)."""
        if seconds < 1:
            return 'A timer needs at least one second.'
        if seconds > MAX_TIMER_SECONDS:
            return 'I can only set timers of up to 24 hours.'
        if len(self._timers) >= self._max:
            return f'I already have {self._max} timers running; cancel one first.'
        timer = Timer(seconds, self._clock.monotonic() + seconds)
        timer.handle = self._clock.call_later(seconds, lambda: self._ring(timer))
        self._timers.append(timer)
        return f'Timer set for {duration_words(seconds)}.'

    def left(self) -> str:
        """How long each timer has left, soonest first."""
        timers = self.running
        now = self._clock.monotonic()
        if not timers:
            return 'There is no timer running.'
        if len(timers) == 1:
            return f'{duration_words(timers[0].ends_at - now)} left on your {timers[0].label} timer.'
        parts = [f'The {timer.label} timer has {duration_words(timer.ends_at - now)} left.'
                 for timer in timers]
        return ' '.join([f'You have {len(timers)} timers.', *parts])

    def cancel(self, seconds: int | None = None) -> str:
        """Cancel every timer, or the soonest one of this length."""
        if not self._timers:
            return 'There is no timer to cancel.'
        if seconds is None:
            count = len(self._timers)
            self.close()
            return 'Timer cancelled.' if count == 1 else f'All {count} timers cancelled.'
        same = [timer for timer in self.running if timer.seconds == seconds]
        if not same:
            return f'There is no {timer_label(seconds)} timer.'
        self._drop(same[0])
        return f'{timer_label(seconds).capitalize()} timer cancelled.'

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
        self._announce(f"Time's up! Your {timer.label} timer is done.")
