"""Endpointer case tables on synthetic VAD probability sequences.

A pattern string is a stream of 32 ms windows: '#' voiced (p=0.9), '.' silent (p=0.05),
' ' missing (lost upstream: never pushed).
Each window's samples hold its own index, so an utterance's audio tells which windows
it kept. Times below are in windows (W = 0.032 s) from T0.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from heisenberg_audio.core.stt.endpointing import (
    EndOfSpeech, Endpointer, NoSpeech, Phase, Speculation, SpeechDropped, SpeechStarted, TurnReopened,
    TurnStarted)
from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.stt.vad import WINDOW, VadFrame

W = WINDOW / 16000
T0 = 1000.0
# vad 0.5, end of speech 0.5 s (16 W), speculative 0.2 s (7 W), judge asked at 0.2 s (7 W), pad 0.2 s (6 W)
CONFIG = SttConfig(end_of_speech_silence=0.5, speculative_after=0.2, smart_turn_after=0.2)


def frame(index: int, voiced: bool) -> VadFrame:
    return VadFrame(np.full(WINDOW, index, dtype=np.int16), T0 + index * W, 0.9 if voiced else 0.05)


def at(index: float) -> float:
    return T0 + index * W


def window_of(stamp: float) -> int:
    return int(round((stamp - T0) / W))


def run(pattern: str, wake_at: float | None = None, arrives_after: int | None = None, judge=None,
        **overrides):
    """Feed the pattern and return the events, each with the window index it came at.

    The wake word (stamp = window wake_at) is handled after window arrives_after (-1: first).
    """
    endpointer = Endpointer(dataclasses.replace(CONFIG, **overrides), judge)
    if arrives_after is None and wake_at is not None:
        arrives_after = -1
    events = []
    if arrives_after == -1:
        events += [(-1, e) for e in endpointer.start_turn(at(wake_at))]
    for index, char in enumerate(pattern):
        if char != ' ':
            events += [(index, e) for e in endpointer.push(frame(index, char == '#'))]
        if index == arrives_after:
            events += [(index, e) for e in endpointer.start_turn(at(wake_at))]
    return endpointer, events


def kinds(events) -> list[str]:
    return [type(e).__name__ for _, e in events]


def windows(utterance) -> tuple[int, int]:
    """First and last window index in the utterance's audio."""
    return int(utterance.audio[0]), int(utterance.audio[-1])


def finals(events):
    return [e.utterance for _, e in events if isinstance(e, EndOfSpeech)]


# name, pattern, wake_at, arrives_after, overrides, expected event kinds, expected final audio windows
CASES = [
    ('question in the same breath as the wake phrase: kept from its onset (pre-roll)',
     '.' * 10 + '#' * 30 + '.' * 20, 25, 28, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (4, 46)),
    ('pause after the wake phrase: the phrase is dropped, the question kept',
     '.' * 10 + '#' * 20 + '.' * 25 + '#' * 20 + '.' * 20, 32, 34, {},
     ['TurnStarted', 'SpeechStarted', 'SpeechDropped', 'SpeechStarted', 'Speculation', 'EndOfSpeech'],
     (49, 81)),
    ('anchor in the gap: the question starts at its own onset, padded',
     '.' * 10 + '#' * 20 + '.' * 10 + '#' * 30 + '.' * 20, 36, 37, {'wake_margin': 0.1},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (34, 76)),
    ('the pad never reaches back into earlier voiced audio',
     '.' * 10 + '#' * 20 + '.' * 4 + '#' * 30 + '.' * 20, 31, 31, {'wake_margin': 0.0},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (30, 70)),
    ('wake word first, then a question: end of speech after 0.5 s of silence',
     '.' * 20 + '#' * 40 + '.' * 30, 5, None, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (14, 66)),
    ('speech resumes during the trailing silence: speculation again, one final',
     '.' * 10 + '#' * 20 + '.' * 10 + '#' * 20 + '.' * 20, 2, None, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'Speculation', 'EndOfSpeech'], (4, 66)),
    ('speculative off: no speculation',
     '.' * 20 + '#' * 40 + '.' * 30, 5, None, {'speculative': False},
     ['TurnStarted', 'SpeechStarted', 'EndOfSpeech'], (14, 66)),
    ('max utterance: cut while still speaking',
     '.' * 10 + '#' * 100, 2, None, {'max_utterance': 2.0},
     ['TurnStarted', 'SpeechStarted', 'EndOfSpeech'], (4, 72)),
    ('a blip shorter than min_speech is ignored, then the question is heard',
     '.' * 10 + '#' + '.' * 30 + '#' * 20 + '.' * 20, 2, None, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'SpeechDropped', 'SpeechStarted', 'Speculation',
      'EndOfSpeech'], (35, 67)),
    ('no speech within the timeout: nothing heard',
     '.' * 200, 5, None, {'no_speech_timeout': 5.0},
     ['TurnStarted', 'NoSpeech'], None),
    ('only the wake phrase, then silence: nothing heard after the timeout',
     '.' * 10 + '#' * 20 + '.' * 200, 31, 32, {},
     ['TurnStarted', 'SpeechStarted', 'SpeechDropped', 'NoSpeech'], None),
    ('speech without a wake word: no events',
     '.' * 10 + '#' * 30 + '.' * 30, None, None, {},
     [], None),
    ('audio lost in the middle of speech is not silence: one utterance',
     '.' * 10 + '#' * 20 + ' ' * 30 + '#' * 20 + '.' * 20, 2, None, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (4, 86)),
    ('the wake message arrives before its audio',
     '.' * 20 + '#' * 30 + '.' * 20, 15, -1, {},
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (14, 56)),
]


@pytest.mark.parametrize('name, pattern, wake_at, arrives_after, overrides, expected, audio',
                         CASES, ids=[c[0] for c in CASES])
def test_endpointer_cases(name, pattern, wake_at, arrives_after, overrides, expected, audio):
    endpointer, events = run(pattern, wake_at, arrives_after, **overrides)
    assert kinds(events) == expected
    if audio is not None:
        (utterance,) = finals(events)
        assert windows(utterance) == audio
        present = [i for i in range(audio[0], audio[1] + 1) if pattern[i] != ' ']
        assert np.array_equal(np.unique(utterance.audio), present)
    assert endpointer.phase is Phase.IDLE or not expected


def test_end_of_speech_timing_and_times():
    _, events = run('.' * 20 + '#' * 40 + '.' * 30, wake_at=5)
    (utterance,) = finals(events)
    (at_index, _), = [(i, e) for i, e in events if isinstance(e, EndOfSpeech)]
    assert utterance.speech_start == pytest.approx(at(20)) and utterance.speech_end == pytest.approx(at(60))
    assert 0.5 <= utterance.endpoint_delay < 0.5 + W
    assert at_index == 60 + 15  # the 16th silent window ends the utterance
    assert utterance.reason == 'end_of_speech' and utterance.turn_id == 1


def test_speculation_matches_the_final_only_when_the_audio_is_unchanged():
    _, events = run('.' * 10 + '#' * 20 + '.' * 10 + '#' * 20 + '.' * 20, wake_at=2)
    first, second = [e.utterance for _, e in events if isinstance(e, Speculation)]
    (final,) = finals(events)
    assert first.key != final.key
    assert second.key == final.key and np.array_equal(second.audio, final.audio)


def test_max_utterance_reason_and_length():
    _, events = run('.' * 10 + '#' * 100, wake_at=2, max_utterance=2.0)
    (utterance,) = finals(events)
    assert utterance.reason == 'max_utterance'
    assert 2.0 <= utterance.decided_at - utterance.speech_start < 2.0 + W


def test_no_speech_timeout_fires_at_the_deadline():
    _, events = run('.' * 200, wake_at=5, no_speech_timeout=3.0)
    (index, event), = [(i, e) for i, e in events if isinstance(e, NoSpeech)]
    assert event.stamp >= at(5) + 3.0 > event.stamp - W
    assert 'no speech within 3.0 s' in event.reason


def test_pre_roll_bounds_how_far_back_a_late_wake_reaches():
    # Speech runs for 5 s before the wake message arrives; only pre_roll (3 s) was kept.
    _, events = run('.' * 10 + '#' * 200 + '.' * 30, wake_at=160, arrives_after=170, max_utterance=15.0)
    (utterance,) = finals(events)
    assert utterance.audio_start >= at(170) - CONFIG.pre_roll - W
    assert utterance.speech_end == pytest.approx(at(210))


def test_a_new_wake_word_replaces_an_unfinished_turn():
    endpointer = Endpointer(CONFIG)
    first = endpointer.start_turn(T0)
    for index in range(10):
        endpointer.push(frame(index, False))
    second = endpointer.start_turn(at(10))
    assert first == [TurnStarted(1, T0, 0)]
    assert second == [TurnStarted(2, at(10), 1)]
    assert endpointer.turn_id == 2


def test_expire_closes_turns_when_audio_stops():
    endpointer = Endpointer(CONFIG)
    endpointer.start_turn(T0)
    for index in range(30):
        endpointer.push(frame(index, index >= 10))
    assert endpointer.phase is Phase.SPEECH
    assert endpointer.expire(at(30) + 0.2) == []
    (event,) = endpointer.expire(at(30) + 1.0)
    assert isinstance(event, EndOfSpeech) and event.utterance.reason == 'audio_stopped'

    endpointer.start_turn(at(40))
    assert endpointer.expire(at(40) + 1.0) == []
    (event,) = endpointer.expire(at(40) + 5.5)
    assert isinstance(event, NoSpeech) and 'no audio' in event.reason


def test_events_carry_their_turn():
    _, events = run('.' * 10 + '#' + '.' * 30 + '#' * 20 + '.' * 20, wake_at=2)
    started = [e for _, e in events if isinstance(e, SpeechStarted)]
    dropped = [e for _, e in events if isinstance(e, SpeechDropped)]
    assert [window_of(e.speech_start) for e in started] == [10, 41]
    assert dropped[0].reason == 'too short'
    assert {e.turn_id for _, e in events if hasattr(e, 'turn_id')} == {1}


def test_reset_forgets_the_pre_roll():
    endpointer = Endpointer(CONFIG)
    for index in range(30):
        endpointer.push(frame(index, index >= 10))
    endpointer.reset()
    events = endpointer.start_turn(at(29))
    assert kinds([(0, e) for e in events]) == ['TurnStarted']
    assert endpointer.phase is Phase.WAITING


def test_resume_waits_again_for_the_question_after_only_the_wake_phrase():
    # "Hey Jarvis" (windows 10-29; the wake fires at 27, before its speech ends), a pause of
    # 30 windows (~1 s), then the question (70-99). The first endpoint holds only the phrase.
    pattern = '.' * 10 + '#' * 20 + '.' * 40 + '#' * 30 + '.' * 20
    endpointer = Endpointer(dataclasses.replace(CONFIG, speculative=False))
    endpointer.start_turn(at(27))
    events, resumed = [], []
    for index, char in enumerate(pattern):
        events += endpointer.push(frame(index, char == '#'))
        if index == 60:   # whisper said "Hey Jarvis." meanwhile: the node resumes the turn
            (phrase,) = [e.utterance for e in events if isinstance(e, EndOfSpeech)]
            assert endpointer.turn_id == 0 and window_of(phrase.speech_end) == 30
            resumed = endpointer.resume(phrase.turn_id, phrase.speech_end)
            assert endpointer.turn_id == phrase.turn_id and endpointer.phase is Phase.WAITING
            assert endpointer.resume(phrase.turn_id, phrase.speech_end) == []   # already listening
    assert resumed == []
    question = [e.utterance for e in events if isinstance(e, EndOfSpeech)][-1]
    assert question.turn_id == 1 and window_of(question.speech_start) == 70
    assert window_of(question.speech_end) == 100


def test_resume_does_nothing_once_another_turn_has_started():
    endpointer = Endpointer(CONFIG)
    endpointer.start_turn(at(5))
    events = []
    for index in range(40):
        events += endpointer.push(frame(index, 3 <= index < 10))
    (phrase,) = [e.utterance for e in events if isinstance(e, EndOfSpeech)]
    endpointer.start_turn(at(40))
    assert endpointer.resume(phrase.turn_id, phrase.speech_end) == []
    assert endpointer.turn_id == 2


# -- the turn judge (smart-turn; its real model is tested in test_transcriber.py) ----------

class Judge:
    """Answers with the given probabilities in turn and remembers the audio it was shown."""

    def __init__(self, *verdicts: float):
        self.verdicts = list(verdicts)
        self.shown: list[tuple[int, int]] = []

    def __call__(self, audio: np.ndarray) -> float:
        self.shown.append((int(audio[0]), int(audio[-1])))
        return self.verdicts.pop(0)


# name, pattern, verdicts, expected final reason, window of the endpoint, windows the judge saw
JUDGE_CASES = [
    ('done: the turn ends 0.2 s into the silence, not 0.5 s',
     '.' * 20 + '#' * 40 + '.' * 30, [0.9], 'turn_complete', 66, [(14, 66)]),
    ('not done: the turn waits for the long silence',
     '.' * 20 + '#' * 40 + '.' * 30, [0.1], 'end_of_speech', 75, [(14, 66)]),
    ('a pause mid-question judged not done, then the rest of it judged done',
     '.' * 20 + '#' * 20 + '.' * 12 + '#' * 20 + '.' * 30, [0.1, 0.8], 'turn_complete', 78,
     [(14, 46), (14, 78)]),
    ('the threshold is inclusive', '.' * 20 + '#' * 40 + '.' * 30, [0.5], 'turn_complete', 66, [(14, 66)]),
]


@pytest.mark.parametrize('name, pattern, verdicts, reason, endpoint_at, shown', JUDGE_CASES,
                         ids=[c[0] for c in JUDGE_CASES])
def test_turn_judge_cases(name, pattern, verdicts, reason, endpoint_at, shown):
    judge = Judge(*verdicts)
    _, events = run(pattern, wake_at=5, judge=judge)
    ((index, end),) = [(i, e) for i, e in events if isinstance(e, EndOfSpeech)]
    assert (end.utterance.reason, index) == (reason, endpoint_at)
    assert end.utterance.turn_probability == verdicts[-1]
    assert judge.shown == shown and judge.verdicts == []


def test_an_early_end_uses_the_speculated_audio():
    _, events = run('.' * 20 + '#' * 40 + '.' * 30, wake_at=5, judge=Judge(0.9))
    (speculation,) = [e.utterance for _, e in events if isinstance(e, Speculation)]
    (final,) = finals(events)
    assert speculation.key == final.key


def test_the_wake_phrase_alone_is_not_judged():
    judge = Judge(0.9)
    _, events = run('.' * 10 + '#' * 20 + '.' * 25 + '#' * 20 + '.' * 20, 32, 34, judge=judge)
    assert kinds(events) == ['TurnStarted', 'SpeechStarted', 'SpeechDropped', 'SpeechStarted', 'Speculation',
                             'EndOfSpeech']
    assert judge.shown == [(49, 81)]


def test_speech_soon_after_a_judged_end_reopens_the_turn():
    """A "Stop." judged done, 0.2 s later "What is the capital of France?": one turn, a second end."""
    judge = Judge(0.9, 0.95)
    pattern = '.' * 20 + '#' * 10 + '.' * 13 + '#' * 30 + '.' * 30
    _, events = run(pattern, wake_at=5, judge=judge)
    assert kinds(events) == ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech', 'TurnReopened',
                             'Speculation', 'EndOfSpeech']
    first, second = finals(events)
    (reopened,) = [(i, e) for i, e in events if isinstance(e, TurnReopened)]
    assert reopened[0] == 43 and reopened[1].turn_id == first.turn_id == second.turn_id == 1
    assert windows(first) == (14, 36) and windows(second) == (14, 79)   # all of it, the pause included
    assert np.array_equal(np.unique(second.audio), np.arange(14, 80))
    assert second.reason == 'turn_complete'


@pytest.mark.parametrize('name, pattern, verdicts', [
    ('speech after the long silence is a new request, not this turn',
     '.' * 20 + '#' * 10 + '.' * 40 + '#' * 30 + '.' * 30, [0.9]),
    ('an end of the long silence is not revised',
     '.' * 20 + '#' * 10 + '.' * 20 + '#' * 30 + '.' * 30, [0.1]),
])
def test_a_turn_is_not_reopened(name, pattern, verdicts):
    _, events = run(pattern, wake_at=5, judge=Judge(*verdicts))
    assert len(finals(events)) == 1 and not any(isinstance(e, TurnReopened) for _, e in events)


def test_a_new_wake_word_ends_the_chance_to_reopen():
    endpointer = Endpointer(CONFIG, Judge(0.9))
    endpointer.start_turn(at(5))
    events = []
    for index, char in enumerate('.' * 20 + '#' * 10 + '.' * 8):
        events += endpointer.push(frame(index, char == '#'))
    assert len(finals([(0, e) for e in events])) == 1
    endpointer.start_turn(at(38))
    assert not any(isinstance(e, TurnReopened) for e in endpointer.push(frame(38, True)))
    assert endpointer.turn_id == 2


def test_the_judge_hears_the_request_without_the_wake_phrase():
    # "Hey Jarvis what is ..." in one breath (windows 10-59), the wake word fires at window 25.
    judge = Judge(0.9)
    _, events = run('.' * 10 + '#' * 50 + '.' * 20, wake_at=25, arrives_after=28, judge=judge)
    (final,) = finals(events)
    assert windows(final)[0] == 4                 # the transcript gets all of it, from the onset
    assert judge.shown == [(24, 66)]              # the judge, from the wake word on


def test_a_wake_phrase_running_past_the_wake_word_is_not_judged_alone():
    # The phrase's last 0.2 s (6 windows) come after the wake stamp, then a pause, then the question.
    judge = Judge(0.9)
    _, events = run('.' * 10 + '#' * 20 + '.' * 12 + '#' * 20 + '.' * 20, wake_at=24, arrives_after=26,
                    judge=judge, speculative=False)
    assert judge.shown == [(24, 68)]              # asked once, after the question
    assert [e.utterance.reason for _, e in events if isinstance(e, EndOfSpeech)] == ['turn_complete']


# ---------------------------------------------------------------- follow-up turns (no wake word)

def follow_up(pattern: str, opens_at: int, window: float, opened_after: int = -1):
    """Feed pattern; the follow-up window opens at window opens_at, its message after window opened_after."""
    endpointer = Endpointer(CONFIG)
    events = []
    waiting = []
    if opened_after == -1:
        events += endpointer.start_turn(at(opens_at), listen_for=window)
    for index, char in enumerate(pattern):
        events += endpointer.push(frame(index, char == '#'))
        if index == opened_after:
            events += endpointer.start_turn(at(opens_at), listen_for=window)
        waiting.append(endpointer.waiting_for_follow_up)
    return endpointer, events, waiting


# name, pattern, window opens at, seconds, message after, expected kinds, final audio windows
FOLLOW_UP_CASES = [
    ('a question in the window: kept from its onset (padded), nothing before the window',
     '.' * 40 + '#' * 30 + '.' * 20, 20, 3.0, -1,
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (34, 76)),
    ('nobody speaks: nothing heard when the window ends',
     '.' * 150, 10, 2.0, -1, ['TurnStarted', 'NoSpeech'], None),
    ('voice that ended before the window (the reply, not gated) neither opens nor joins the turn',
     '#' * 20 + '.' * 120, 25, 2.0, 30, ['TurnStarted', 'NoSpeech'], None),
    ('the message comes late: the question already begun in the window is kept',
     '.' * 20 + '#' * 30 + '.' * 20, 15, 3.0, 30,
     ['TurnStarted', 'SpeechStarted', 'Speculation', 'EndOfSpeech'], (15, 56)),
]


@pytest.mark.parametrize('name, pattern, opens_at, window, opened_after, expected, audio', FOLLOW_UP_CASES,
                         ids=[c[0] for c in FOLLOW_UP_CASES])
def test_follow_up_cases(name, pattern, opens_at, window, opened_after, expected, audio):
    endpointer, events, _ = follow_up(pattern, opens_at, window, opened_after)
    assert kinds([(0, e) for e in events]) == expected
    if audio is not None:
        (utterance,) = [e.utterance for e in events if isinstance(e, EndOfSpeech)]
        assert windows(utterance) == audio
    assert endpointer.phase is Phase.IDLE


def test_a_follow_up_window_ends_at_its_own_length_and_says_so():
    _, events, waiting = follow_up('.' * 150, 10, 2.0)
    (event,) = [e for e in events if isinstance(e, NoSpeech)]
    assert event.stamp >= at(10) + 2.0 > event.stamp - W
    assert event.reason == 'no follow-up within 2.0 s'
    assert all(waiting[:window_of(event.stamp) - 1]) and not waiting[-1]


def test_waiting_for_follow_up_only_until_the_user_speaks_and_never_for_a_wake_word_turn():
    _, _, waiting = follow_up('.' * 40 + '#' * 30 + '.' * 20, 20, 3.0)
    assert all(waiting[:40]) and not any(waiting[40:])
    endpointer = Endpointer(CONFIG)
    endpointer.start_turn(T0)
    assert not endpointer.waiting_for_follow_up
