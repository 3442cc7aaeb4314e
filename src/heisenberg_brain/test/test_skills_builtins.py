"""The built-ins' answers on a fake clock: the time, the date, timers ringing, what is left, cancels."""

from __future__ import annotations

import datetime

import pytest

from heisenberg_brain.core.skills.builtins import Timers, date_sentence, duration_words, help_sentence, \
    time_sentence, timer_label
from skills_support import FakeClock


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def said():
    return []


@pytest.fixture
def timers(clock, said):
    return Timers(clock, lambda text, language: said.append(text))


def test_a_timer_rings_once_when_it_is_due(clock, timers, said):
    assert timers.set(300) == 'Timer set for 5 minutes.'
    clock.advance(299.5)
    assert said == []
    clock.advance(0.5)
    assert said == ["Time's up! Your 5 minute timer is done."]
    clock.advance(600)
    assert said == ["Time's up! Your 5 minute timer is done."]
    assert timers.left() == 'There is no timer running.'


def test_how_long_is_left_on_one_timer(clock, timers):
    assert timers.left() == 'There is no timer running.'
    timers.set(300)
    clock.advance(48)
    assert timers.left() == '4 minutes and 12 seconds left on your 5 minute timer.'
    clock.advance(251.6)
    assert timers.left() == '1 second left on your 5 minute timer.'   # rounded up, never "0 seconds"


def test_how_long_is_left_on_several_timers_soonest_first(clock, timers, said):
    timers.set(300)
    timers.set(5400)
    timers.set(10)
    clock.advance(2.5)
    assert timers.left() == ('You have 3 timers. The 10 second timer has 8 seconds left. '
                             'The 5 minute timer has 4 minutes and 58 seconds left. '
                             'The 1 hour 30 minute timer has 1 hour and 30 minutes left.')
    clock.advance(8)
    assert said == ["Time's up! Your 10 second timer is done."]
    assert timers.left() == ('You have 2 timers. The 5 minute timer has 4 minutes and 50 seconds left. '
                             'The 1 hour 30 minute timer has 1 hour and 30 minutes left.')


def test_cancel_every_timer(clock, timers, said):
    assert timers.cancel() == 'There is no timer to cancel.'
    timers.set(60)
    assert timers.cancel() == 'Timer cancelled.'
    timers.set(60)
    timers.set(120)
    timers.set(180)
    assert timers.cancel() == 'All 3 timers cancelled.'
    clock.advance(1000)
    assert said == []


def test_cancel_the_timer_of_a_length(clock, timers, said):
    timers.set(300)
    timers.set(10)
    clock.advance(1)
    timers.set(300)   # the first 5 minute timer rings first: that one goes
    assert timers.cancel(120) == 'There is no 2 minute timer.'
    assert timers.cancel(300) == '5 minute timer cancelled.'
    assert [timer.ends_at for timer in timers.running] == [10, 301]
    clock.advance(400)
    assert said == ["Time's up! Your 10 second timer is done.", "Time's up! Your 5 minute timer is done."]


def test_the_limits_of_a_timer(timers):
    assert timers.set(0) == 'A timer needs at least one second.'
    assert timers.set(25 * 3600) == 'I can only set timers of up to 24 hours.'
    for _ in range(10):
        timers.set(60)
    assert timers.set(60) == 'I already have 10 timers running; cancel one first.'
    assert len(timers.running) == 10


def test_close_drops_the_timers_without_a_word(clock, timers, said):
    timers.set(5)
    timers.close()
    clock.advance(10)
    assert said == [] and timers.running == ()


@pytest.mark.parametrize('seconds, words', [
    (1, '1 second'), (0.2, '1 second'), (42, '42 seconds'), (59.2, '1 minute'), (60, '1 minute'),
    (61, '1 minute and 1 second'), (150, '2 minutes and 30 seconds'), (3600, '1 hour'),
    (3725, '1 hour and 3 minutes'), (7200, '2 hours'), (5400, '1 hour and 30 minutes'),
])
def test_duration_words(seconds, words):
    assert duration_words(seconds) == words


@pytest.mark.parametrize('seconds, label', [(300, '5 minute'), (90, '1 minute 30 second'), (3600, '1 hour'),
                                            (3, '3 second')])
def test_timer_label(seconds, label):
    assert timer_label(seconds) == label


@pytest.mark.parametrize('hour, minute, sentence', [
    (15, 5, "It's 3:05 PM."), (0, 0, "It's 12 AM."), (12, 30, "It's 12:30 PM."), (9, 0, "It's 9 AM."),
    (23, 59, "It's 11:59 PM."),
])
def test_the_time(hour, minute, sentence):
    assert time_sentence(datetime.datetime(2025, 3, 4, hour, minute)) == sentence


@pytest.mark.parametrize('day, sentence', [
    (datetime.date(2025, 3, 4), 'Today is Tuesday, March 4th, 2025.'),
    (datetime.date(2025, 3, 1), 'Today is Saturday, March 1st, 2025.'),
    (datetime.date(2025, 3, 12), 'Today is Wednesday, March 12th, 2025.'),
    (datetime.date(2025, 3, 22), 'Today is Saturday, March 22nd, 2025.'),
    (datetime.date(2025, 3, 23), 'Today is Sunday, March 23rd, 2025.'),
])
def test_the_date(day, sentence):
    assert date_sentence(datetime.datetime.combine(day, datetime.time(8))) == sentence


def test_help_reads_the_descriptions():
    assert help_sentence(['tell the time', 'run timers', 'go to a named place']) == \
        "I can tell the time, run timers and go to a named place. Anything else, I'll try to answer."
