"""When stt listens without a wake word: the brain's follow-up window, read from its state topic.

After a reply has played to its end the brain publishes LISTENING with cause FOLLOW_UP and
``listen_window`` seconds (its ``follow_up_seconds``; the brain owns the value). stt then
opens a follow-up turn at the window's stamp: the utterance begins at the first voiced window
in it (the echo gate has already made the robot's own voice silence), and a window nobody
speaks in ends with nothing heard, which closes it on the brain too.

Rules, each a case in test_follow_up:
- a FOLLOW_UP window still open now opens a follow-up turn (replacing a turn that waits);
- one already over (a late joiner's latched history) is ignored: its nothing heard would
  close whatever the brain is doing now;
- any other state while the follow-up turn still waits for speech closes it without a word
  (a Respond goal or the wake word took over); a turn the user has begun speaking in runs on;
- anything else changes nothing.

Pure Python: the stt node passes each AssistantState and acts on the verdict.
"""

from __future__ import annotations

import dataclasses
import enum

FOLLOW_UP_CAUSE = 'FOLLOW_UP'


class Verdict(enum.Enum):
    NOTHING = 'nothing'
    OPEN = 'open'      # start a follow-up turn at the window's stamp, for its seconds
    CLOSE = 'close'    # abandon the waiting follow-up turn, quietly


@dataclasses.dataclass(frozen=True)
class StateSeen:
    """What stt needs of one AssistantState message."""

    state_name: str
    cause: str
    stamp: float           # s, the transition's time (the window opens here)
    listen_window: float   # s, > 0 only for LISTENING by FOLLOW_UP

    @property
    def opens_window(self) -> bool:
        return self.state_name == 'LISTENING' and self.cause == FOLLOW_UP_CAUSE and self.listen_window > 0


def follow_up_verdict(seen: StateSeen, now: float, waiting_for_follow_up: bool) -> Verdict:
    """What to do about seen (module docstring); now is the clock of the stamps."""
    if seen.opens_window:
        return Verdict.OPEN if seen.stamp + seen.listen_window > now else Verdict.NOTHING
    if waiting_for_follow_up and seen.state_name != 'LISTENING':
        return Verdict.CLOSE
    return Verdict.NOTHING
