"""The state machine, as a table: every state x event pair has the outcome written here."""

import itertools

import pytest

from heisenberg_brain.core.fsm import Action as A, Event as E, SHOWN_WITHOUT_CHANGE, State as S, step, TABLE

INTERRUPT = (A.CANCEL_GENERATION, A.FLUSH_SPEECH)
NEW = (A.START_TURN, A.START_GENERATION)
SAME = None  # stays in the state it was in, no actions

# Rows: event; columns: IDLE, LISTENING, THINKING, SPEAKING, ERROR.
EXPECTED = {
    E.WAKEWORD_DETECTED: [(S.LISTENING, (A.START_TURN,)), SAME,
                          (S.LISTENING, INTERRUPT + (A.START_TURN,)),
                          (S.LISTENING, INTERRUPT + (A.START_TURN,)),
                          (S.LISTENING, (A.FLUSH_SPEECH, A.START_TURN))],
    E.TRANSCRIPTION_FINAL: [(S.THINKING, NEW), (S.THINKING, (A.START_GENERATION,)),
                            (S.THINKING, INTERRUPT + NEW), (S.THINKING, INTERRUPT + NEW),
                            (S.THINKING, (A.FLUSH_SPEECH,) + NEW)],
    E.NOTHING_HEARD: [SAME, (S.IDLE, ()), SAME, SAME, SAME],
    E.RESPOND_GOAL: [(S.THINKING, NEW), (S.THINKING, NEW), (S.THINKING, INTERRUPT + NEW),
                     (S.THINKING, INTERRUPT + NEW), (S.THINKING, (A.FLUSH_SPEECH,) + NEW)],
    E.LLM_TOKEN: [SAME, SAME, SAME, SAME, SAME],
    E.LLM_COMPLETE: [SAME, SAME, (S.IDLE, ()), (S.IDLE, ()), SAME],
    E.LLM_ERROR: [SAME, SAME, (S.ERROR, (A.FLUSH_SPEECH, A.SPEAK_APOLOGY)),
                  (S.ERROR, (A.FLUSH_SPEECH, A.SPEAK_APOLOGY)), SAME],
    E.SPEECH_STARTED: [SAME, SAME, (S.SPEAKING, ()), SAME, SAME],
    # only a reply heard to its end opens the follow-up window (not an apology, not THINKING's end)
    E.SPEECH_FINISHED: [SAME, SAME, (S.IDLE, ()), (S.IDLE, (A.OPEN_FOLLOW_UP,)), (S.IDLE, ())],
    E.BARGE_IN: [SAME, SAME, (S.LISTENING, INTERRUPT + (A.START_TURN,)),
                 (S.LISTENING, INTERRUPT + (A.START_TURN,)), SAME],
    E.GOAL_CANCELLED: [SAME, SAME, (S.IDLE, INTERRUPT), (S.IDLE, INTERRUPT), SAME],
    E.STATE_TIMEOUT: [SAME, (S.IDLE, ()), (S.ERROR, INTERRUPT + (A.SPEAK_APOLOGY,)),
                      (S.IDLE, INTERRUPT), (S.IDLE, (A.FLUSH_SPEECH,))],
    # speech nobody asked for just then: only from IDLE, it never interrupts anyone
    E.ANNOUNCEMENT: [(S.THINKING, NEW), SAME, SAME, SAME, SAME],
    # the window opens only from IDLE: a request that came first keeps its state
    E.FOLLOW_UP: [(S.LISTENING, (A.START_TURN,)), SAME, SAME, SAME, SAME],
    # a skill took the request: nothing changes, but the state topic shows it (below)
    E.SKILL: [SAME, SAME, SAME, SAME, SAME],
}
STATES = [S.IDLE, S.LISTENING, S.THINKING, S.SPEAKING, S.ERROR]


def test_the_table_covers_every_event():
    assert set(EXPECTED) == set(E)


@pytest.mark.parametrize('state, event', list(itertools.product(STATES, E)))
def test_every_state_event_pair(state, event):
    expected = EXPECTED[event][STATES.index(state)]
    assert step(state, event) == (expected if expected is not SAME else (state, ()))


def test_only_a_skill_taking_the_request_is_shown_without_a_change_of_state():
    assert SHOWN_WITHOUT_CHANGE == {E.SKILL}


def test_no_transition_is_listed_that_the_expectations_do_not_know():
    for (state, event), outcome in TABLE.items():
        assert EXPECTED[event][STATES.index(state)] == outcome


@pytest.mark.parametrize('events, states', [
    # a voice turn, spoken
    ([E.WAKEWORD_DETECTED, E.TRANSCRIPTION_FINAL, E.LLM_TOKEN, E.SPEECH_STARTED, E.SPEECH_FINISHED],
     [S.LISTENING, S.THINKING, S.THINKING, S.SPEAKING, S.IDLE]),
    # barge-in while speaking, then the next question
    ([E.WAKEWORD_DETECTED, E.TRANSCRIPTION_FINAL, E.SPEECH_STARTED, E.WAKEWORD_DETECTED,
      E.TRANSCRIPTION_FINAL, E.SPEECH_STARTED, E.SPEECH_FINISHED],
     [S.LISTENING, S.THINKING, S.SPEAKING, S.LISTENING, S.THINKING, S.SPEAKING, S.IDLE]),
    # the server fails: apology, then idle
    ([E.WAKEWORD_DETECTED, E.TRANSCRIPTION_FINAL, E.LLM_ERROR, E.SPEECH_FINISHED],
     [S.LISTENING, S.THINKING, S.ERROR, S.IDLE]),
    # nothing heard after the wake word
    ([E.WAKEWORD_DETECTED, E.NOTHING_HEARD], [S.LISTENING, S.IDLE]),
    # an answer, a follow-up question without the wake word, its answer, then a window nobody used
    ([E.WAKEWORD_DETECTED, E.TRANSCRIPTION_FINAL, E.SPEECH_STARTED, E.SPEECH_FINISHED, E.FOLLOW_UP,
      E.TRANSCRIPTION_FINAL, E.SPEECH_STARTED, E.SPEECH_FINISHED, E.FOLLOW_UP, E.NOTHING_HEARD],
     [S.LISTENING, S.THINKING, S.SPEAKING, S.IDLE, S.LISTENING, S.THINKING, S.SPEAKING, S.IDLE,
      S.LISTENING, S.IDLE]),
    # a Respond goal while the window is open takes over
    ([E.RESPOND_GOAL, E.SPEECH_STARTED, E.SPEECH_FINISHED, E.FOLLOW_UP, E.RESPOND_GOAL],
     [S.THINKING, S.SPEAKING, S.IDLE, S.LISTENING, S.THINKING]),
    # a Respond goal without speech, then a cancelled one
    ([E.RESPOND_GOAL, E.LLM_TOKEN, E.LLM_COMPLETE, E.RESPOND_GOAL, E.GOAL_CANCELLED],
     [S.THINKING, S.THINKING, S.IDLE, S.THINKING, S.IDLE]),
])
def test_scenarios(events, states):
    state, seen = S.IDLE, []
    for event in events:
        state, _ = step(state, event)
        seen.append(state)
    assert seen == states


def test_no_state_is_a_trap():
    """From every state some event sequence leads back to IDLE."""
    for state in STATES:
        reachable, frontier = {state}, [state]
        while frontier:
            current = frontier.pop()
            for event in E:
                nxt, _ = step(current, event)
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
        assert S.IDLE in reachable
        assert step(state, E.STATE_TIMEOUT)[0] in (S.IDLE, S.ERROR) or state == S.IDLE
