"""SentenceSplitter and clean_for_speech, as case tables.

Every splitter case is fed three ways — one character at a time, as llama-style tokens,
and as one delta — and must give the same chunks: only the moment they come out may
differ. The timing table then pins down exactly which push lets each chunk out.
"""

import random
import re

import pytest

from heisenberg_brain.core.sentences import SentenceSplitter, clean_for_speech


def llama_tokens(text: str) -> list[str]:
    """Split like a llama BPE vocabulary does: ' word', single digits, punctuation runs, newlines."""
    tokens = re.findall(r' ?[^\W\d_]+| ?\d|[^\w\s]+|\n+|[^\S\n]+', text)
    assert ''.join(tokens) == text
    return tokens


def random_pieces(text: str) -> list[str]:
    """Cuts at seeded random places, so a failure replays the same way."""
    rng = random.Random(text)
    cuts = sorted(rng.sample(range(1, len(text)), len(text) // 3)) if len(text) > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


FEEDERS = {
    'chars': list,
    'llama': llama_tokens,
    'random': random_pieces,
    'whole': lambda text: [text],
}


def split_all(pieces: list[str], **options) -> list[str]:
    splitter = SentenceSplitter(**options)
    chunks = []
    for piece in pieces:
        chunks += splitter.push(piece)
    rest = splitter.flush()
    return chunks + ([rest] if rest is not None else [])


FIRST_CLAUSE_20 = {'first_clause_min_chars': 20}

SPLIT_TABLE = [
    # (text, expected chunks, splitter options)
    ('Hello there. How are you? I am fine!', ['Hello there.', 'How are you?', 'I am fine!'], {}),
    ('No punctuation at the end', ['No punctuation at the end'], {}),
    ('Mr. Smith met Dr. Jones. They talked.', ['Mr. Smith met Dr. Jones.', 'They talked.'], {}),
    ('Mrs. Brown and Ms. Green live on Main St. Near the park. Nice.',
     ['Mrs. Brown and Ms. Green live on Main St. Near the park.', 'Nice.'], {}),
    ('It is cats vs. Dogs. Fun.', ['It is cats vs. Dogs.', 'Fun.'], {}),
    ('Bring apples, pears, etc. The rest is fine.', ['Bring apples, pears, etc. The rest is fine.'], {}),
    ('Use a tool, e.g. A hammer. Done.', ['Use a tool, e.g. A hammer.', 'Done.'], {}),
    ('Some fruit, i.e. Apples. Ok.', ['Some fruit, i.e. Apples.', 'Ok.'], {}),
    ('We meet at 9 a.m. Tomorrow. Lunch is at 1 p.m. Sharp.',
     ['We meet at 9 a.m. Tomorrow.', 'Lunch is at 1 p.m. Sharp.'], {}),
    ('The U.S. Army is large. The U.K. Navy too.', ['The U.S. Army is large.', 'The U.K. Navy too.'], {}),
    ('J. R. R. Tolkien wrote it. Read it.', ['J. R. R. Tolkien wrote it.', 'Read it.'], {}),
    ('Pi is about 3.14159. It never ends.', ['Pi is about 3.14159.', 'It never ends.'], {}),
    ('Update to v1.2.3 today. It is stable.', ['Update to v1.2.3 today.', 'It is stable.'], {}),
    ('Python 3.12. Released in 2023.', ['Python 3.12.', 'Released in 2023.'], {}),
    ('Well... maybe. I am not sure.', ['Well... maybe.', 'I am not sure.'], {}),
    ('Hmm… let me think. Yes.', ['Hmm… let me think.', 'Yes.'], {}),
    ('Wait... What happened?', ['Wait...', 'What happened?'], {}),
    ('Ellipsis at the end...', ['Ellipsis at the end...'], {}),
    ('Here is the plan:\n1. Wake up.\n2. Eat breakfast.\n3. Go.',
     ['Here is the plan:', '1. Wake up.', '2. Eat breakfast.', '3. Go.'], {}),
    ('Tips: 1. Drink water. 2. Sleep well.', ['Tips: 1. Drink water.', '2. Sleep well.'], {}),
    ('See https://example.com/docs/v1.2/index.html for more. Thanks.',
     ['See https://example.com/docs/v1.2/index.html for more.', 'Thanks.'], {}),
    ('Go to www.python.org. It has docs.', ['Go to www.python.org.', 'It has docs.'], {}),
    ('Is it? Yes! Really?! Sure.', ['Is it?', 'Yes!', 'Really?!', 'Sure.'], {}),
    ('He said "Stop!" Then he ran.', ['He said "Stop!"', 'Then he ran.'], {}),
    ('(This is an aside.) Next one.', ['(This is an aside.)', 'Next one.'], {}),
    ("She said 'fine.' And left.", ["She said 'fine.'", 'And left.'], {}),
    ('He said “Go.” We went.', ['He said “Go.”', 'We went.'], {}),
    ('Use a list [like this.] Then stop.', ['Use a list [like this.]', 'Then stop.'], {}),
    ('Really? yes, really.', ['Really? yes, really.'], {}),
    ('This is it. and more.', ['This is it. and more.'], {}),
    ('The answer is 42. Next question.', ['The answer is 42.', 'Next question.'], {}),
    ('It costs $5. 3 of them cost $15.', ['It costs $5.', '3 of them cost $15.'], {}),
    ('Great! 😊 See you.', ['Great!', '😊 See you.'], {}),
    ('Talk to Dr.', ['Talk to Dr.'], {}),
    ('First paragraph without a stop\n\nSecond paragraph.',
     ['First paragraph without a stop', 'Second paragraph.'], {}),
    ('- item one\n- item two\n', ['- item one', '- item two'], {}),
    ('## Title\nSome text.', ['## Title', 'Some text.'], {}),
    ('Spaces   are    collapsed.   Tabs\there.', ['Spaces are collapsed.', 'Tabs here.'], {}),
    ('Windows\r\nline ends.\r\nWork.', ['Windows', 'line ends.', 'Work.'], {}),
    ('   \n\n  ', [], {}),
    ('', [], {}),
    # The first chunk may end at a clause once it is long enough; later ones wait for the sentence.
    ('Sure, the capital of France is Paris, a lovely city. It is big, and old.',
     ['Sure, the capital of France is Paris,', 'a lovely city.', 'It is big, and old.'], FIRST_CLAUSE_20),
    ('Sure, here it is. Yes, ok.', ['Sure,', 'here it is.', 'Yes, ok.'], {'first_clause_min_chars': 3}),
    ('Hi! Well, then, ok.', ['Hi!', 'Well, then, ok.'], {'first_clause_min_chars': 3}),
    ('Note: this matters. Ok.', ['Note:', 'this matters.', 'Ok.'], {'first_clause_min_chars': 4}),
    ('At 3:00 we go, fine.', ['At 3:00 we go,', 'fine.'], {'first_clause_min_chars': 5}),
    ('Numbers like 1,000,000 stay whole, right.', ['Numbers like 1,000,000 stay whole,', 'right.'],
     {'first_clause_min_chars': 5}),
    ('Short. Then, a clause.', ['Short.', 'Then, a clause.'], {'first_clause_min_chars': 3}),
    # Clauses over max_clause_chars are cut at the last , ; : or dash, else at a space.
    ('This sentence is long, and it keeps going on; it never seems to stop at all.',
     ['This sentence is long,', 'and it keeps going on;', 'it never seems to stop at all.'],
     {'max_clause_chars': 40}),
    ('one two three four five six seven eight nine ten.',
     ['one two three four', 'five six seven eight', 'nine ten.'], {'max_clause_chars': 20}),
    ('abcdefghijklmnopqrstuvwxyz', ['abcdefghij', 'klmnopqrst', 'uvwxyz'], {'max_clause_chars': 10}),
    ('The robot moves forward — slowly and carefully — to the door.',
     ['The robot moves forward —', 'slowly and carefully —', 'to the door.'], {'max_clause_chars': 30}),
    ('Exactly twenty char. Next.', ['Exactly twenty char.', 'Next.'], {'max_clause_chars': 20}),
    # A long first sentence is cut within first_chunk_max_chars; the rest keep whole sentences.
    ('The boiling point of water is approximately 100 degrees Celsius. It boils at sea level.',
     ['The boiling point of water is approximately', '100 degrees Celsius.', 'It boils at sea level.'],
     {'first_chunk_max_chars': 45}),
    ('The sky is blue, because of a process called Rayleigh scattering. Yes.',
     ['The sky is blue,', 'because of a process called Rayleigh scattering.', 'Yes.'],
     {'first_chunk_max_chars': 40}),
    ('The capital of France is Paris. It is a big city with many old streets.',
     ['The capital of France is Paris.', 'It is a big city with many old streets.'],
     {'first_chunk_max_chars': 32}),
]

# French: « M. », « Mme », « etc. », guillemets (with their inner spaces), the space before ? and !
# (also a no-break or narrow no-break one), decimal commas.
FRENCH_SPLIT_TABLE = [
    ('Bonjour ! Comment allez-vous ? Très bien.', ['Bonjour !', 'Comment allez-vous ?', 'Très bien.'], {}),
    ('Vraiment\u202f? Oui\u00a0! Bien sûr.', ['Vraiment ?', 'Oui !', 'Bien sûr.'], {}),
    ('M. Dupont et Mme Durand sont là. Entrez.', ['M. Dupont et Mme Durand sont là.', 'Entrez.'], {}),
    ('Mme. Curie est née en 1867. Elle a eu deux prix Nobel.',
     ['Mme. Curie est née en 1867.', 'Elle a eu deux prix Nobel.'], {}),
    ('MM. Martin et Petit arrivent. Mlle. Roux aussi.',
     ['MM. Martin et Petit arrivent.', 'Mlle. Roux aussi.'], {}),
    ('Des pommes, des poires, etc. Le reste aussi.', ['Des pommes, des poires, etc. Le reste aussi.'], {}),
    ('Voir le chap. 3 et cf. la note. Fin.', ['Voir le chap. 3 et cf. la note.', 'Fin.'], {}),
    ('Il a dit « Bonjour. » Puis il est parti.', ['Il a dit « Bonjour. »', 'Puis il est parti.'], {}),
    ('« Paris est la capitale. » Oui.', ['« Paris est la capitale. »', 'Oui.'], {}),
    ('Il a crié « Stop ! » Puis il a couru.', ['Il a crié « Stop ! »', 'Puis il a couru.'], {}),
    ('Il a dit «Bonjour.» Puis il est parti.', ['Il a dit «Bonjour.»', 'Puis il est parti.'], {}),
    ('Pi vaut environ 3,14159. Il ne finit jamais.', ['Pi vaut environ 3,14159.', 'Il ne finit jamais.'], {}),
    ('Il fait 21,5 degrés, avec du soleil. Bien.', ['Il fait 21,5 degrés,', 'avec du soleil.', 'Bien.'],
     {'first_clause_min_chars': 5}),
    ('Cela coûte 1 234,50 euros. Merci.', ['Cela coûte 1 234,50 euros.', 'Merci.'],
     {'first_clause_min_chars': 5}),
    ('Attention : le sol est glissant. Merci.', ['Attention : le sol est glissant.', 'Merci.'], {}),
    ('Quelle heure est-il ? il est midi.', ['Quelle heure est-il ? il est midi.'], {}),
    ("La capitale de la France est Paris. C'est une grande ville.",
     ['La capitale de la France est Paris.', "C'est une grande ville."], {}),
    ('Eh bien… peut-être. Je ne sais pas.', ['Eh bien… peut-être.', 'Je ne sais pas.'], {}),
    ('À bientôt ! À demain.', ['À bientôt !', 'À demain.'], {}),
]


@pytest.mark.parametrize('feeder', FEEDERS)
@pytest.mark.parametrize('text, expected, options', SPLIT_TABLE + FRENCH_SPLIT_TABLE)
def test_split_table(text, expected, options, feeder):
    chunks = split_all(FEEDERS[feeder](text), **options)
    assert chunks == expected
    assert all(chunk and chunk == chunk.strip() and '  ' not in chunk for chunk in chunks)
    assert all(len(chunk) <= options.get('max_clause_chars', 160) for chunk in chunks)


def test_a_realistic_reply_streamed_as_tokens():
    reply = ('Sure! Here are three tips for better sleep:\n\n1. **Keep a schedule.** Go to bed at the same '
             'time, e.g. 10 p.m. every night.\n2. Avoid screens... they keep you awake.\n3. Keep the room '
             'cool (about 18.5 °C).\n\nSleep well! 😊')
    chunks = split_all(llama_tokens(reply), first_clause_min_chars=20)
    assert chunks == [
        'Sure!', 'Here are three tips for better sleep:', '1. **Keep a schedule.**',
        'Go to bed at the same time, e.g. 10 p.m. every night.', '2. Avoid screens... they keep you awake.',
        '3. Keep the room cool (about 18.5 °C).', 'Sleep well!', '😊']
    assert [clean_for_speech(chunk) for chunk in chunks] == [
        'Sure!', 'Here are three tips for better sleep:', '1. Keep a schedule.',
        'Go to bed at the same time, e.g. 10 p.m. every night.', '2. Avoid screens... they keep you awake.',
        '3. Keep the room cool (about 18.5 °C).', 'Sleep well!', '']


def test_table_is_big_enough():
    assert len(SPLIT_TABLE) >= 40


TIMING_TABLE = [
    # (tokens pushed one by one, what each push returns, what flush returns)
    (['Hello', ' there', '.', ' How', ' are', ' you', '?'],
     [[], [], [], ['Hello there.'], [], [], []], 'How are you?'),
    (['The', ' capital', ' is', ' Paris', '.\n', 'It'],
     [[], [], [], [], ['The capital is Paris.'], []], 'It'),
    (['Dr', '.', ' Smith', ' is', ' here', '.', ' '],
     [[], [], [], [], [], [], []], 'Dr. Smith is here.'),
    (['3', '.', '1', '4', ' is', ' pi', '.', ' Yes'],
     [[], [], [], [], [], [], [], ['3.14 is pi.']], 'Yes'),
    (['Well', '...', ' maybe', ' not', '.'], [[], [], [], [], []], 'Well... maybe not.'),
    (['Well', '...', ' Maybe', ' not', '.'], [[], [], ['Well...'], [], []], 'Maybe not.'),
    (['Hi. Bye. See', ' you'], [['Hi.', 'Bye.'], []], 'See you'),
    (['Yes', '!', ' ', ' ', 'ok', '.', ' Go'], [[], [], [], [], [], [], ['Yes! ok.']], 'Go'),
    (['Item', '\n', '\n', 'Next'], [[], ['Item'], [], []], 'Next'),
]


@pytest.mark.parametrize('tokens, outputs, rest', TIMING_TABLE)
def test_chunks_come_out_as_soon_as_they_close(tokens, outputs, rest):
    splitter = SentenceSplitter()
    assert [splitter.push(token) for token in tokens] == outputs
    assert splitter.flush() == rest


def test_first_clause_comes_out_when_the_space_after_the_comma_arrives():
    splitter = SentenceSplitter(first_clause_min_chars=4)
    assert [splitter.push(t) for t in ['Sure', ',', ' the', ' capital', ',', ' Paris', '.']] == [
        [], [], ['Sure,'], [], [], [], []]
    assert splitter.flush() == 'the capital, Paris.'


def test_flush_starts_a_new_reply_with_its_own_first_clause():
    splitter = SentenceSplitter(first_clause_min_chars=3)
    assert splitter.push('Yes, sure. Go, now. ') == ['Yes,', 'sure.']
    assert splitter.flush() == 'Go, now.'
    assert splitter.push('Ok, then. Bye') == ['Ok,', 'then.']


def test_reset_drops_pending_text():
    splitter = SentenceSplitter()
    assert splitter.push('Half a sent') == []
    splitter.reset()
    assert splitter.push('New one. ') == []
    assert splitter.flush() == 'New one.'


def test_flush_of_nothing_is_none():
    splitter = SentenceSplitter()
    assert splitter.flush() is None
    splitter.push('  ')
    assert splitter.flush() is None


@pytest.mark.parametrize('options', [{'max_clause_chars': 0}, {'first_clause_min_chars': -1}])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        SentenceSplitter(**options)


CLEAN_TABLE = [
    ('**Bold** and __strong__ text.', 'Bold and strong text.'),
    ('Use `pip install x` now.', 'Use pip install x now.'),
    ('*emphasis* and _italic_ here', 'emphasis and italic here'),
    ('~~old~~ new', 'old new'),
    ('# Heading', 'Heading'),
    ('### Smaller heading', 'Smaller heading'),
    ('- item one', 'item one'),
    ('* item', 'item'),
    ('• bullet point', 'bullet point'),
    ('> quoted line', 'quoted line'),
    ('1. First step.', '1. First step.'),
    ('Great job! 😊🎉', 'Great job!'),
    ('Thumbs up 👍🏽 ok.', 'Thumbs up ok.'),
    ('❤️ love it', 'love it'),
    ('See https://www.example.com/path?q=1. Then', 'See example.com. Then'),
    ('Docs: http://docs.ros.org/en/kilted/index.html, and more', 'Docs: docs.ros.org, and more'),
    ('[the docs](https://docs.ros.org/en/kilted/) say so.', 'the docs say so.'),
    ('```python\nprint(1)\n```', 'print(1)'),
    ('| a | b |', 'a b'),
    ('It is 25°C outside.', 'It is 25°C outside.'),
    ('snake_case_name stays', 'snake_case_name stays'),
    ('Plain text stays.', 'Plain text stays.'),
    ('🤖', ''),
]


@pytest.mark.parametrize('text, expected', CLEAN_TABLE)
def test_clean_for_speech(text, expected):
    assert clean_for_speech(text) == expected
