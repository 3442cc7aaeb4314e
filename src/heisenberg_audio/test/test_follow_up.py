"""When stt opens or closes a follow-up turn from the brain's state (core/stt/follow_up.py)."""

import pytest

from heisenberg_audio.core.stt.follow_up import StateSeen, Verdict, follow_up_verdict

NOW = 1000.0

# name, (state, cause, stamp, window), a follow-up turn waits, verdict
CASES = [
    ('the window opens', ('LISTENING', 'FOLLOW_UP', NOW - 0.01, 5.0), False, Verdict.OPEN),
    ('it opens over a turn that waits (replaced)', ('LISTENING', 'FOLLOW_UP', NOW, 5.0), True,
     Verdict.OPEN),
    ('a late joiner: the window is already over', ('LISTENING', 'FOLLOW_UP', NOW - 6.0, 5.0), False,
     Verdict.NOTHING),
    ('a FOLLOW_UP without seconds opens nothing', ('LISTENING', 'FOLLOW_UP', NOW, 0.0), False,
     Verdict.NOTHING),
    ('a wake word turn is no window', ('LISTENING', 'WAKEWORD_DETECTED', NOW, 0.0), False, Verdict.NOTHING),
    ('a Respond goal takes over the waiting window', ('THINKING', 'RESPOND_GOAL', NOW, 0.0), True,
     Verdict.CLOSE),
    ('an announcement cannot, but any state but LISTENING closes it', ('IDLE', 'NOTHING_HEARD', NOW, 0.0),
     True, Verdict.CLOSE),
    ('the user already speaks in it: it runs on', ('THINKING', 'RESPOND_GOAL', NOW, 0.0), False,
     Verdict.NOTHING),
    ('the reply to the follow-up', ('THINKING', 'TRANSCRIPTION_FINAL', NOW, 0.0), False, Verdict.NOTHING),
    ('speaking, no window', ('SPEAKING', 'SPEECH_STARTED', NOW, 0.0), False, Verdict.NOTHING),
]


@pytest.mark.parametrize('name, seen, waiting, verdict', CASES, ids=[c[0] for c in CASES])
def test_follow_up_verdicts(name, seen, waiting, verdict):
    assert follow_up_verdict(StateSeen(*seen), NOW, waiting) is verdict
