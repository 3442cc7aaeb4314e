"""Health of an audio stream, as a node reports it on /diagnostics (capture and wake_word).

Pure bookkeeping: the node counts frames and errors here and turns report() into a
DiagnosticStatus. Levels use diagnostic_msgs' numbers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

OK, WARN, ERROR = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class HealthReport:
    level: int
    message: str
    values: dict[str, str]


class StreamHealth:
    """Frames and errors of one audio stream -> a level and a one-line message.

    A standing problem (device missing, unusable format) is an ERROR until cleared; a
    passing error (one bad payload) is a WARN for `stale_after` seconds; audio seen within
    `stale_after` seconds is OK; no audio yet, or none lately, is a WARN (unless an idle
    reason says why that is expected, e.g. the end of a file).
    """

    def __init__(self, stale_after: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.stale_after = stale_after
        self._clock = clock
        self.frames = 0
        self.errors = 0
        self.last_error = ''
        self.problem: str | None = None
        self.idle_reason: str | None = None
        self._last_frame: float | None = None
        self._last_error_at: float | None = None
        self._rate_mark = (clock(), 0)

    def frame(self, count: int = 1) -> None:
        self.frames += count
        self._last_frame = self._clock()

    def error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self._last_error_at = self._clock()

    def set_problem(self, message: str | None) -> bool:
        """Set (or clear with None) the standing problem; True if it changed."""
        changed = message != self.problem
        if message is not None and changed:
            self.errors += 1  # counted and remembered; its level is the problem's own ERROR
            self.last_error = message
        self.problem = message
        return changed

    def flowing(self) -> bool:
        return self._last_frame is not None and self._clock() - self._last_frame < self.stale_after

    def frame_rate(self) -> float:
        """Frames per second since the previous call."""
        now, frames = self._clock(), self.frames
        then, frames_then = self._rate_mark
        self._rate_mark = (now, frames)
        return (frames - frames_then) / (now - then) if now > then else 0.0

    def report(self, **values) -> HealthReport:
        values = {'audio flowing': self.flowing(), 'frames': self.frames, 'errors': self.errors,
                  'last error': self.last_error, **values}
        return HealthReport(*self._level_and_message(), {k: str(v) for k, v in values.items()})

    def _level_and_message(self) -> tuple[int, str]:
        if self.problem:
            return ERROR, self.problem
        recent_error = (self._last_error_at is not None
                        and self._clock() - self._last_error_at < self.stale_after)
        if self.flowing():
            return (WARN, f'audio flowing; {self.last_error}') if recent_error else (OK, 'audio flowing')
        if recent_error:
            return WARN, self.last_error
        if self.idle_reason:
            return OK, self.idle_reason
        if self._last_frame is None:
            return WARN, 'no audio yet'
        return WARN, f'no audio for {self._clock() - self._last_frame:.1f} s'
