"""Loop detection in a reply's text (core/loops.py), as case tables.

Each looping text is also streamed as llama-style tokens: the loop must be found while it
streams, and the text kept must be the same as when the whole text is checked at once.
"""

import pytest

from heisenberg_brain.core.loops import LoopDetector, find_loop
from test_sentences import llama_tokens

LOOPING = [
    # (text, what is kept)
    ('La femme de la France, la femme de la France, la femme de la France, la femme de la France,',
     'La femme de la France,'),
    ('La femme de la France est la femme de la femme de la femme de la femme de la femme de la femme',
     'La femme de la France est la femme de'),
    ("The stars. They're a celestial wonder. I'm counting them. I'm counting them. I'm counting them. "
     "I'm counting them.", "The stars. They're a celestial wonder. I'm counting them."),
    ('The language spoken in Spain is Spanish. The language spoken in Spain is Spanish.',
     'The language spoken in Spain is Spanish.'),
    ('Paris is the capital of France. Paris is the capital of France. Paris is',
     'Paris is the capital of France.'),
    ("I'm counting them. I'm counting them.", "I'm counting them."),
    ('Merci beaucoup ! Merci beaucoup !', 'Merci beaucoup !'),
    ('No, no, no, no, no, no, no, no, no, no, no, no', 'No,'),
    ('Yes. the cat sat. the cat sat. the cat sat. the cat sat. the cat', 'Yes. the cat sat.'),
    ('A. B is here. A. B is here. A. B is here. A. B is here. A. B is here.', 'A. B is here.'),
    ('La la la la la la la la la la la la la la la la', 'La'),
    ('Le nombre est 1,000,000,000,000,000,000,000,000,000,000,000,000', 'Le nombre est 1,000'),
    ('!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!', '!'),
]

NOT_LOOPING = [
    'The capital of France is Paris.',
    'Very, very good.',
    'New York, New York is a city that never sleeps.',
    'Ha ha ha, that is funny.',
    'Paris, Paris, Paris.',
    'I am here. I am here to help.',
    'Yes. Yes. Of course.',
    'Thank you. Thank you so much.',
    'One, two, three, four, five, six, seven, eight, nine, ten.',
    'The value of pi is 3.14159265358979323846.',
    '1. Preheat the oven. 2. Mix the flour. 3. Bake for twenty minutes.',
    'It is 10:10 and 10 seconds.',
    'La capitale de la France est Paris. La capitale de l\'Italie est Rome.',
    'Bonjour ! Bonjour à vous aussi.',
    '',
    '     ',
]


@pytest.mark.parametrize('text, kept', LOOPING)
def test_a_loop_is_cut_where_it_began(text, kept):
    loop = find_loop(text)
    assert loop is not None
    assert text[:loop.cut].rstrip() == kept
    assert find_loop(kept) is None


@pytest.mark.parametrize('text, kept', LOOPING)
def test_a_streamed_loop_is_found_while_it_streams_and_cut_at_the_same_place(text, kept):
    detector = LoopDetector()
    for token in llama_tokens(text):
        if (loop := detector.push(token)) is not None:
            assert detector.text[:loop.cut].rstrip() == kept
            return
    pytest.fail(f'no loop found in {text!r}')


@pytest.mark.parametrize('text', NOT_LOOPING)
def test_text_that_does_not_loop_is_left_alone(text):
    detector = LoopDetector()
    assert all(detector.push(token) is None for token in llama_tokens(text))
    assert find_loop(text) is None


def test_a_sentence_said_twice_is_caught_before_the_splitter_closes_the_second_copy():
    # The splitter closes a sentence only when the next word shows; the loop is found at its mark.
    detector = LoopDetector()
    first = 'The language spoken in Spain is Spanish.'
    assert detector.push(first + ' ' + first[:-1]) is None
    assert detector.push('.') is not None


def test_case_does_not_hide_a_loop():
    assert find_loop('Bonjour à tous. bonjour à tous. BONJOUR À TOUS. Bonjour à tous.') is not None


@pytest.mark.parametrize('args', [(1, 24, 400), (40, 1, 400), (40, 24, 10)])
def test_bad_limits_are_refused(args):
    with pytest.raises(ValueError):
        LoopDetector(*args)
