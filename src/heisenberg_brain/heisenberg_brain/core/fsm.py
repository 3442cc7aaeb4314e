"""The assistant's state machine as a pure function: ``step(state, event) -> (state, actions)``.

IDLE -> LISTENING -> THINKING -> SPEAKING -> IDLE, with ERROR for a failed reply (an apology
is spoken, then IDLE). A reply heard to its end (SPEAKING -> IDLE by SPEECH_FINISHED) opens
the follow-up window: FOLLOW_UP takes IDLE to LISTENING without a wake word, and stt's nothing
heard closes it again when nobody speaks. Every state x event pair has an outcome (see
``TABLE``); a pair that does not apply keeps the state and does nothing, so a late or
duplicated event can never wedge the graph. The node turns the returned actions into side effects.

Policy: the newest request wins. A wake word or barge-in during a reply interrupts it;
a new transcript or Respond goal during a reply cancels that reply and starts its own.

The node sends the reply-end events with this meaning:
- LLM_COMPLETE: generation ended and no reply audio is outstanding (nothing to speak).
- SPEECH_STARTED: the first audio of this turn's reply started playing.
- SPEECH_FINISHED: generation ended and all this turn's audio has played (or, in ERROR,
  the apology has).
"""

from __future__ import annotations

import enum


class State(enum.IntEnum):
    """Values equal heisenberg_interfaces/AssistantState constants."""

    IDLE = 0
    LISTENING = 1
    THINKING = 2
    SPEAKING = 3
    ERROR = 4


class Event(enum.Enum):
    WAKEWORD_DETECTED = enum.auto()
    TRANSCRIPTION_FINAL = enum.auto()
    NOTHING_HEARD = enum.auto()
    RESPOND_GOAL = enum.auto()
    LLM_TOKEN = enum.auto()
    LLM_COMPLETE = enum.auto()
    LLM_ERROR = enum.auto()
    SPEECH_STARTED = enum.auto()
    SPEECH_FINISHED = enum.auto()
    BARGE_IN = enum.auto()
    GOAL_CANCELLED = enum.auto()
    STATE_TIMEOUT = enum.auto()
    ANNOUNCEMENT = enum.auto()   # speech nobody asked for just then (a timer rang, a goal ended)
    FOLLOW_UP = enum.auto()      # the follow-up window opens (the coordinator, on OPEN_FOLLOW_UP)
    SKILL = enum.auto()          # a skill took the request (not the LLM): shown, the state stays


class Action(enum.Enum):
    START_TURN = enum.auto()          # new turn id (metrics, utterance ids)
    START_GENERATION = enum.auto()    # run the pending request through the LLM
    CANCEL_GENERATION = enum.auto()   # close the stream; the running goal ends (cancelled/preempted)
    FLUSH_SPEECH = enum.auto()        # cancel every outstanding Speak goal: silence now
    SPEAK_APOLOGY = enum.auto()       # a short spoken error message
    OPEN_FOLLOW_UP = enum.auto()      # listen on for a follow-up (FOLLOW_UP next, if the window is on)


S, E, A = State, Event, Action
_INTERRUPT = (A.CANCEL_GENERATION, A.FLUSH_SPEECH)
_NEW_REQUEST = (A.START_TURN, A.START_GENERATION)

# (state, event) -> (next state, actions). Pairs not listed keep the state, no actions.
TABLE: dict[tuple[State, Event], tuple[State, tuple[Action, ...]]] = {
    (S.IDLE, E.WAKEWORD_DETECTED): (S.LISTENING, (A.START_TURN,)),
    (S.IDLE, E.TRANSCRIPTION_FINAL): (S.THINKING, _NEW_REQUEST),
    (S.IDLE, E.RESPOND_GOAL): (S.THINKING, _NEW_REQUEST),
    # Only from IDLE: it never interrupts anyone (the coordinator keeps it until IDLE).
    (S.IDLE, E.ANNOUNCEMENT): (S.THINKING, _NEW_REQUEST),
    (S.IDLE, E.FOLLOW_UP): (S.LISTENING, (A.START_TURN,)),

    (S.LISTENING, E.TRANSCRIPTION_FINAL): (S.THINKING, (A.START_GENERATION,)),
    (S.LISTENING, E.NOTHING_HEARD): (S.IDLE, ()),
    (S.LISTENING, E.RESPOND_GOAL): (S.THINKING, _NEW_REQUEST),
    (S.LISTENING, E.STATE_TIMEOUT): (S.IDLE, ()),

    (S.THINKING, E.WAKEWORD_DETECTED): (S.LISTENING, _INTERRUPT + (A.START_TURN,)),
    (S.THINKING, E.BARGE_IN): (S.LISTENING, _INTERRUPT + (A.START_TURN,)),
    (S.THINKING, E.TRANSCRIPTION_FINAL): (S.THINKING, _INTERRUPT + _NEW_REQUEST),
    (S.THINKING, E.RESPOND_GOAL): (S.THINKING, _INTERRUPT + _NEW_REQUEST),
    (S.THINKING, E.SPEECH_STARTED): (S.SPEAKING, ()),
    (S.THINKING, E.LLM_COMPLETE): (S.IDLE, ()),
    (S.THINKING, E.SPEECH_FINISHED): (S.IDLE, ()),
    (S.THINKING, E.LLM_ERROR): (S.ERROR, (A.FLUSH_SPEECH, A.SPEAK_APOLOGY)),
    (S.THINKING, E.GOAL_CANCELLED): (S.IDLE, _INTERRUPT),
    (S.THINKING, E.STATE_TIMEOUT): (S.ERROR, _INTERRUPT + (A.SPEAK_APOLOGY,)),

    (S.SPEAKING, E.WAKEWORD_DETECTED): (S.LISTENING, _INTERRUPT + (A.START_TURN,)),
    (S.SPEAKING, E.BARGE_IN): (S.LISTENING, _INTERRUPT + (A.START_TURN,)),
    (S.SPEAKING, E.TRANSCRIPTION_FINAL): (S.THINKING, _INTERRUPT + _NEW_REQUEST),
    (S.SPEAKING, E.RESPOND_GOAL): (S.THINKING, _INTERRUPT + _NEW_REQUEST),
    (S.SPEAKING, E.LLM_COMPLETE): (S.IDLE, ()),
    (S.SPEAKING, E.SPEECH_FINISHED): (S.IDLE, (A.OPEN_FOLLOW_UP,)),
    (S.SPEAKING, E.LLM_ERROR): (S.ERROR, (A.FLUSH_SPEECH, A.SPEAK_APOLOGY)),
    (S.SPEAKING, E.GOAL_CANCELLED): (S.IDLE, _INTERRUPT),
    (S.SPEAKING, E.STATE_TIMEOUT): (S.IDLE, _INTERRUPT),

    (S.ERROR, E.WAKEWORD_DETECTED): (S.LISTENING, (A.FLUSH_SPEECH, A.START_TURN)),
    (S.ERROR, E.TRANSCRIPTION_FINAL): (S.THINKING, (A.FLUSH_SPEECH,) + _NEW_REQUEST),
    (S.ERROR, E.RESPOND_GOAL): (S.THINKING, (A.FLUSH_SPEECH,) + _NEW_REQUEST),
    (S.ERROR, E.SPEECH_FINISHED): (S.IDLE, ()),
    (S.ERROR, E.STATE_TIMEOUT): (S.IDLE, (A.FLUSH_SPEECH,)),
}


# Events the state topic shows although the state stays (a transition to the same state): what
# answers the request is worth seeing, and a skill's goal may take a while to be accepted.
SHOWN_WITHOUT_CHANGE = frozenset({Event.SKILL})


def step(state: State, event: Event) -> tuple[State, tuple[Action, ...]]:
    """Return the next state and the actions to take, for any state and event."""
    return TABLE.get((state, event), (state, ()))


# States in which a reply (generation and/or its speech) is running.
def is_reply_state(state: State) -> bool:
    return state in (State.THINKING, State.SPEAKING)
