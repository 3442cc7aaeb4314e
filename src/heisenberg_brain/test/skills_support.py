"""What the skills tests share: the shipped skills.yaml (and its example switched on), a fake clock.

The tests run on the example a robot's author copies, so it cannot drift out of date.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
from pathlib import Path

SKILLS_YAML = Path(__file__).resolve().parents[2] / 'heisenberg_bringup' / 'config' / 'skills.yaml'


def example_yaml() -> str:
    """skills.yaml with 'skills: []' dropped and the lines between the example markers uncommented."""
    lines, inside = [], False
    for line in SKILLS_YAML.read_text().splitlines():
        if line.startswith('# >>> example'):
            inside = True
        elif line.startswith('# <<< example'):
            inside = False
        elif inside:
            lines.append(line[2:] if line.startswith('# ') else line.lstrip('#'))
        elif not line.startswith('skills: []'):
            lines.append(line)
    assert not inside, 'skills.yaml: the example has no closing "# <<< example" line'
    return '\n'.join(lines) + '\n'


class _Call:
    def __init__(self):
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class FakeClock:
    """A Clock that moves only when told: advance() runs the callbacks that come due, in order."""

    def __init__(self, wall=datetime.datetime(2025, 3, 4, 15, 5, 0)):
        self.seconds = 0.0
        self._wall = wall
        self._due: list = []
        self._order = itertools.count()

    def now(self) -> datetime.datetime:
        return self._wall + datetime.timedelta(seconds=self.seconds)

    def monotonic(self) -> float:
        return self.seconds

    def call_later(self, delay, callback):
        call = _Call()
        heapq.heappush(self._due, (self.seconds + delay, next(self._order), callback, call))
        return call

    def advance(self, seconds: float) -> None:
        end = self.seconds + seconds
        while self._due and self._due[0][0] <= end:
            when, _, callback, call = heapq.heappop(self._due)
            self.seconds = when
            if not call.cancelled:
                callback()
        self.seconds = end
