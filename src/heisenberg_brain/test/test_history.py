"""SessionStore, the extractive summary, and fit_prompt's never-over-budget strategy.

fit_prompt is tested with a word-count tokenizer: pure logic standing in for the
token count, so every budget can be swept and the guarantee proved exhaustively.
"""

import asyncio
import threading

import pytest

from heisenberg_brain.core.history import (
    FitResult, PromptTooLong, SessionStore, fit_prompt, fold_into_summary, history_key, summarize_turns)
from heisenberg_brain.core.prompts import PromptBuilder, Turn


def test_window_keeps_the_newest_turns_and_folds_the_rest_into_the_summary():
    store = SessionStore(max_turns=2)
    store.add('kitchen', 'My name is Ada.', 'Nice to meet you, Ada. How can I help?')
    store.add('kitchen', 'What is two plus two?', 'Four.')
    assert store.summary('kitchen') == ''
    store.add('kitchen', 'And three plus three?', 'Six.')
    assert store.turns('kitchen') == [Turn('And three plus three?', 'Six.')]
    folded = ('Earlier: The user said "My name is Ada." and you replied "Nice to meet you, Ada." '
              'The user said "What is two plus two?" and you replied "Four."')
    assert store.summary('kitchen') == folded
    store.add('kitchen', 'Thanks.', 'You are welcome.')
    assert store.turns('kitchen') == [Turn('And three plus three?', 'Six.'),
                                      Turn('Thanks.', 'You are welcome.')]
    assert store.summary('kitchen') == folded   # the prompt's start is unchanged: llama-server's cache holds


@pytest.mark.parametrize('max_turns, sizes', [
    # turns in the window after each of 8 adds: full, then back to half (rounded up) in one step
    (1, [1, 1, 1, 1, 1, 1, 1, 1]),
    (2, [1, 2, 1, 2, 1, 2, 1, 2]),
    (3, [1, 2, 3, 2, 3, 2, 3, 2]),
    (5, [1, 2, 3, 4, 5, 3, 4, 5]),
])
def test_turns_slide_out_in_steps_of_half_the_window(max_turns, sizes):
    store = SessionStore(max_turns=max_turns)
    seen, summaries = [], []
    for i in range(len(sizes)):
        store.add('s', f'Question {i}.', f'Answer {i}.')
        seen.append(len(store.turns('s')))
        summaries.append(store.summary('s'))
    assert seen == sizes
    assert [t.user for t in store.turns('s')] == [f'Question {i}.' for i in range(8 - sizes[-1], 8)]
    # the summary changes only on the adds that folded turns into it
    changed = [i for i in range(1, 8) if summaries[i] != summaries[i - 1]]
    assert changed == [i for i in range(1, 8) if sizes[i] <= sizes[i - 1]]


def test_sessions_are_separate_and_empty_id_means_default():
    store = SessionStore(max_turns=3)
    store.add('', 'Hi.', 'Hello.')
    store.add('arm', 'Lift.', 'Lifting.')
    assert store.turns('default') == [Turn('Hi.', 'Hello.')]
    assert store.turns('') == store.turns('default')
    assert store.turns('arm') == [Turn('Lift.', 'Lifting.')]
    assert store.session_ids() == ['default', 'arm']
    assert store.turns('unknown') == [] and store.summary('unknown') == ''


def test_zero_turns_keeps_no_history():
    store = SessionStore(max_turns=0)
    store.add('s', 'Hi.', 'Hello.')
    assert store.turns('s') == [] and store.summary('s') == '' and store.session_ids() == []


def test_cancelled_answers_are_stored_as_said():
    store = SessionStore(max_turns=1)
    store.add('s', 'Tell me a story.', '')
    assert store.turns('s') == [Turn('Tell me a story.', '')]
    store.add('s', 'Tell me another one.', 'Once upon a time there ')
    assert store.turns('s') == [Turn('Tell me another one.', 'Once upon a time there')]
    store.add('s', 'Stop.', 'Ok.')
    assert store.summary('s') == (
        'Earlier: The user said "Tell me a story." and you did not answer. '
        'The user said "Tell me another one." and you replied "Once upon a time there".')


def test_clear_and_set_summary():
    store = SessionStore(max_turns=2)
    store.add('s', 'Hi.', 'Hello.')
    store.set_summary('s', ' The user likes tea. ')
    assert store.summary('s') == 'The user likes tea.'
    store.clear('s')
    assert store.turns('s') == [] and store.summary('s') == '' and store.session_ids() == []
    store.set_summary('t', 'Known.')
    assert store.session_ids() == ['t']


def test_clear_forgets_the_session_in_every_language_and_no_other_session():
    store = SessionStore(max_turns=4)
    for session in ('s', 'sa', ''):
        store.add(history_key(session, 'en'), 'Hi.', 'Hello.')
        store.add(history_key(session, 'fr'), 'Salut.', 'Bonjour.')
        store.remember(history_key(session, 'en'), 'name', 'Alice')
    store.clear('s')
    assert store.turns(history_key('s', 'en')) == [] and store.turns(history_key('s', 'fr')) == []
    assert store.recall(history_key('s', 'en'), 'name') == ''
    assert store.turns(history_key('sa', 'fr')) == [Turn('Salut.', 'Bonjour.')]   # a key starting alike
    store.clear('')
    assert store.turns(history_key('', 'fr')) == [] and store.turns('default') == []
    assert sorted(store.session_ids()) == ['sa', 'sa#fr']


def test_negative_window_is_refused():
    with pytest.raises(ValueError):
        SessionStore(max_turns=-1)


def test_the_least_recently_used_session_is_forgotten_beyond_max_sessions():
    store = SessionStore(max_turns=2, max_sessions=2)
    store.add('kitchen', 'q1', 'a1')
    store.add('arm', 'q2', 'a2')
    store.add('kitchen', 'q3', 'a3')       # kitchen is now the most recent
    store.set_summary('door', 'Earlier: a visitor.')
    assert store.session_ids() == ['kitchen', 'door']
    assert store.turns('arm') == [] and store.summary('arm') == ''
    assert [t.user for t in store.turns('kitchen')] == ['q1', 'q3']
    with pytest.raises(ValueError):
        SessionStore(max_turns=1, max_sessions=0)


def test_concurrent_adds_lose_nothing():
    store = SessionStore(max_turns=1000)

    def worker(n):
        for i in range(100):
            store.add('s', f'q{n}-{i}', 'a')
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.turns('s')) == 400


SUMMARY_TABLE = [
    ([], ''),
    ([Turn('What is the capital of France? And Spain?', "Paris is the capital. Madrid is Spain's.")],
     'Earlier: The user said "What is the capital of France?" and you replied "Paris is the capital."'),
    ([Turn('Tell me a story.', '')], 'Earlier: The user said "Tell me a story." and you did not answer.'),
    ([Turn('', 'Hello.')], 'Earlier: The user said nothing and you replied "Hello."'),
    ([Turn('He said "hi" to me.', 'Nice.')],
     'Earlier: The user said "He said \'hi\' to me." and you replied "Nice."'),
    ([Turn('Dr. Smith called. He left.', 'Ok.')],
     'Earlier: The user said "Dr. Smith called." and you replied "Ok."'),
    ([Turn('Steps:\n1. Go.', 'Fine')], 'Earlier: The user said "Steps:" and you replied "Fine".'),
    ([Turn('a', 'b'), Turn('c', 'd')],
     'Earlier: The user said "a" and you replied "b". The user said "c" and you replied "d".'),
    # A turn's fact is in the language it was said in; a session may switch between turns.
    ([Turn('Quelle est la capitale de la France ? Et de l\'Espagne ?', 'Paris. Madrid.', 'fr')],
     "Earlier: L'utilisateur a dit « Quelle est la capitale de la France ? » et tu as répondu « Paris. »"),
    ([Turn('Raconte une histoire.', '', 'fr')],
     "Earlier: L'utilisateur a dit « Raconte une histoire. » et tu n'as pas répondu."),
    ([Turn('', 'Bonjour !', 'fr')], "Earlier: L'utilisateur n'a rien dit et tu as répondu « Bonjour ! »"),
    ([Turn('Il a dit « salut » à M. Martin.', 'Bien', 'fr')],
     "Earlier: L'utilisateur a dit « Il a dit 'salut' à M. Martin. » et tu as répondu « Bien »."),
    ([Turn('Hello.', 'Hi.'), Turn('Bonjour.', 'Salut.', 'fr')],
     'Earlier: The user said "Hello." and you replied "Hi." '
     "L'utilisateur a dit « Bonjour. » et tu as répondu « Salut. »"),
]


@pytest.mark.parametrize('turns, expected', SUMMARY_TABLE)
def test_summarize_turns(turns, expected):
    assert summarize_turns(turns) == expected


def test_summary_is_bounded_and_keeps_the_newest_facts():
    turns = [Turn(f'Question number {i}?', f'Answer number {i}.') for i in range(20)]
    summary = summarize_turns(turns, max_chars=200)
    assert len(summary) <= 200
    assert summary.startswith('Earlier: The user said "Question number ')
    assert summary.endswith('"Question number 19?" and you replied "Answer number 19."')
    assert 'number 0?' not in summary


def test_a_bounded_summary_of_both_languages_cuts_at_a_fact_of_either():
    turns = [Turn(f'Question {i} ?', f'Réponse {i}.', 'fr') if i % 2
             else Turn(f'Question {i}?', f'Answer {i}.') for i in range(12)]
    summary = summarize_turns(turns, max_chars=160)
    assert len(summary) <= 160
    body = summary[len('Earlier: '):]
    assert body.startswith(('The user said "Question ', "L'utilisateur a dit « Question "))
    assert body.endswith("« Question 11 ? » et tu as répondu « Réponse 11. »")


def test_a_session_keeps_each_turns_language():
    store = SessionStore(4)
    store.add('s', 'Hello.', 'Hi.')
    store.add('s', 'Bonjour.', 'Salut.', 'fr')
    assert [turn.language for turn in store.turns('s')] == ['en', 'fr']


def test_long_first_sentences_are_shortened():
    summary = summarize_turns([Turn('word ' * 50, 'Short.')])
    assert len(summary) < 200 and '…"' in summary


def test_fold_into_an_existing_summary_and_cut_plain_text_at_a_word():
    assert fold_into_summary('Earlier: The user likes tea.', [Turn('Hi.', 'Hello.')]) == (
        'Earlier: The user likes tea. The user said "Hi." and you replied "Hello."')
    assert fold_into_summary('alpha beta gamma delta', [], max_chars=20) == 'Earlier: gamma delta'
    assert summarize_turns([Turn('Hi.', 'Hello.')] * 3, max_chars=5) == ''


# --- fit_prompt with a word-count tokenizer ----------------------------------------------------

BUILDER = PromptBuilder('plain', system_prompt='Answer briefly.')
TURNS = [Turn(f'Tell me fact number {i} about the moon.',
              f'Fact {i} is that the moon has no air. So there is no weather and no sound there at all.')
         for i in range(5)]
QUESTION = 'And how far away is the moon from the earth?'


class WordCounter:
    """Counts calls, and tokens as whitespace-separated words."""

    def __init__(self):
        self.calls = 0

    async def __call__(self, text: str) -> int:
        self.calls += 1
        return len(text.split())


async def build(turns, user_text, summary):
    return BUILDER.render(turns, user_text, 'concise', summary)


def fit(budget, turns=TURNS, user_text=QUESTION, summary=''):
    counter = WordCounter()
    result = asyncio.run(fit_prompt(build, counter, turns, user_text, summary, budget))
    return result, counter.calls


def words(text):
    return len(text.split())


FULL = words(BUILDER.render(TURNS, QUESTION, 'concise'))
BARE = words(BUILDER.render([], QUESTION, 'concise'))
EMPTY = words(BUILDER.render([], '', 'concise'))


def test_everything_fits_in_one_count():
    result, calls = fit(FULL)
    assert result == FitResult(prompt=BUILDER.render(TURNS, QUESTION, 'concise'), turns=TURNS, summary='',
                               dropped_turns=0)
    assert calls == 1


def test_just_over_budget_folds_the_oldest_turn_into_the_summary():
    result, calls = fit(FULL - 1)
    assert result.turns == TURNS[result.dropped_turns:]
    assert 1 <= result.dropped_turns <= 2
    assert result.summary.startswith('Earlier: The user said "Tell me fact number 0 about the moon."')
    assert result.prompt == BUILDER.render(result.turns, QUESTION, 'concise', result.summary)
    assert words(result.prompt) <= FULL - 1
    assert calls == 2


def test_room_for_the_question_only_drops_history_and_summary():
    result, calls = fit(BARE)
    assert result.turns == [] and result.summary == '' and result.dropped_turns == 5
    assert result.prompt == BUILDER.render([], QUESTION, 'concise')
    assert calls <= 3


def test_a_question_that_does_not_fit_alone_is_refused_never_cut():
    long_question = 'Some rambling context. ' * 30 + 'What is the moon made of?'
    with pytest.raises(PromptTooLong, match=r'too long: \d+ tokens .* room for \d+ .*shorten it'):
        fit(EMPTY + 12, user_text=long_question)


def test_not_even_the_system_prompt_fits():
    with pytest.raises(PromptTooLong, match='system prompt'):
        fit(EMPTY - 1, user_text='')


def test_budget_must_be_positive():
    with pytest.raises(ValueError):
        fit(0)


@pytest.mark.parametrize('summary', ['', 'Earlier: The user said "I live in Oslo." and you replied "Nice."'])
@pytest.mark.parametrize('user_text', [QUESTION, 'word ' * 200 + 'end?'])
def test_no_budget_ever_gives_a_prompt_over_it(summary, user_text):
    """Every budget from too small to plenty: in budget or refused, richest plan order kept, few counts."""
    full = words(BUILDER.render(TURNS, user_text, 'concise', summary))
    bare = words(BUILDER.render([], user_text, 'concise'))
    for budget in range(EMPTY, full + 3):
        if budget < bare:
            with pytest.raises(PromptTooLong):
                fit(budget, user_text=user_text, summary=summary)
            continue
        result, calls = fit(budget, user_text=user_text, summary=summary)
        assert words(result.prompt) <= budget, budget
        assert result.turns == TURNS[result.dropped_turns:]
        assert result.prompt == BUILDER.render(result.turns, user_text, 'concise', result.summary)
        assert calls <= 8, (budget, calls)
    assert fit(full, user_text=user_text, summary=summary)[0].dropped_turns == 0


def test_with_no_history_an_over_budget_prompt_is_refused_after_one_count():
    calls = []

    async def count(text):
        calls.append(text)
        return words(text)
    with pytest.raises(PromptTooLong):
        asyncio.run(fit_prompt(build, count, [], QUESTION, '', EMPTY + 5))
    assert len(calls) <= 2
