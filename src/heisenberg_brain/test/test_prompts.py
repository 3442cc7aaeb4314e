"""PromptBuilder: the exact prompt text per format, messages, personalities and stops."""

import pytest

from heisenberg_brain.core.config import LANGUAGES, PERSONALITIES, PROMPT_FORMATS
from heisenberg_brain.core.prompts import PERSONALITY_PROMPTS, PromptBuilder, Turn

HISTORY = [Turn('Hi.', 'Hello!'), Turn('My name is Ada.', 'Nice to meet you, Ada.')]
ONE_TURN = [Turn('Hi.', 'Hello!')]
SUMMARY = 'Earlier: The user said "I live in Oslo." and you replied "Oslo is lovely."'

RENDER_TABLE = [
    # (format, turns, summary, expected prompt) — system prompt is 'Be brief.', question 'What is my name?'
    ('plain', [], '',
     'System: Be brief.\nUser: What is my name?\nAssistant:'),
    ('plain', HISTORY, '',
     'System: Be brief.\nUser: Hi.\nAssistant: Hello!\nUser: My name is Ada.\n'
     'Assistant: Nice to meet you, Ada.\nUser: What is my name?\nAssistant:'),
    ('plain', ONE_TURN, SUMMARY,
     f'System: Be brief.\n\n{SUMMARY}\nUser: Hi.\nAssistant: Hello!\nUser: What is my name?\nAssistant:'),
    ('plain', [], SUMMARY,
     f'System: Be brief.\n\n{SUMMARY}\nUser: What is my name?\nAssistant:'),
    ('chatml', [], '',
     '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is my name?<|im_end|>\n'
     '<|im_start|>assistant\n'),
    ('chatml', HISTORY, '',
     '<|im_start|>system\nBe brief.<|im_end|>\n'
     '<|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n'
     '<|im_start|>user\nMy name is Ada.<|im_end|>\n<|im_start|>assistant\nNice to meet you, Ada.<|im_end|>\n'
     '<|im_start|>user\nWhat is my name?<|im_end|>\n<|im_start|>assistant\n'),
    ('chatml', ONE_TURN, SUMMARY,
     f'<|im_start|>system\nBe brief.\n\n{SUMMARY}<|im_end|>\n'
     '<|im_start|>user\nHi.<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n'
     '<|im_start|>user\nWhat is my name?<|im_end|>\n<|im_start|>assistant\n'),
    ('chatml', [], SUMMARY,
     f'<|im_start|>system\nBe brief.\n\n{SUMMARY}<|im_end|>\n'
     '<|im_start|>user\nWhat is my name?<|im_end|>\n<|im_start|>assistant\n'),
    ('llama2', [], '',
     '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhat is my name? [/INST]'),
    ('llama2', HISTORY, '',
     '<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi. [/INST] Hello! </s>'
     '<s>[INST] My name is Ada. [/INST] Nice to meet you, Ada. </s>'
     '<s>[INST] What is my name? [/INST]'),
    ('llama2', ONE_TURN, SUMMARY,
     f'<s>[INST] <<SYS>>\nBe brief.\n\n{SUMMARY}\n<</SYS>>\n\nHi. [/INST] Hello! </s>'
     '<s>[INST] What is my name? [/INST]'),
    ('llama2', [], SUMMARY,
     f'<s>[INST] <<SYS>>\nBe brief.\n\n{SUMMARY}\n<</SYS>>\n\nWhat is my name? [/INST]'),
]


@pytest.mark.parametrize('prompt_format, turns, summary, expected', RENDER_TABLE)
def test_render_exact_text(prompt_format, turns, summary, expected):
    builder = PromptBuilder(prompt_format, system_prompt='Be brief.')
    assert builder.render(turns, 'What is my name?', 'concise', summary) == expected


@pytest.mark.parametrize('prompt_format', ['plain', 'chatml', 'llama2'])
def test_cancelled_turn_with_empty_answer_renders(prompt_format):
    builder = PromptBuilder(prompt_format, system_prompt='S.')
    prompt = builder.render([Turn('Tell me a story.', '')], 'Never mind.', 'concise')
    assert prompt.count('Tell me a story.') == 1
    assert 'Never mind.' in prompt


def test_messages_carry_summary_in_system_and_turns_in_order():
    builder = PromptBuilder('server', system_prompt='Be brief.')
    assert builder.messages(HISTORY, '  What is my name? ', 'concise', SUMMARY) == [
        {'role': 'system', 'content': f'Be brief.\n\n{SUMMARY}'},
        {'role': 'user', 'content': 'Hi.'},
        {'role': 'assistant', 'content': 'Hello!'},
        {'role': 'user', 'content': 'My name is Ada.'},
        {'role': 'assistant', 'content': 'Nice to meet you, Ada.'},
        {'role': 'user', 'content': 'What is my name?'},
    ]


def test_messages_without_summary_have_the_personality_prompt():
    messages = PromptBuilder('server').messages([], 'Hello', 'robot')
    assert messages == [{'role': 'system', 'content': PERSONALITY_PROMPTS['en']['robot']},
                        {'role': 'user', 'content': 'Hello'}]


def test_server_format_is_not_rendered_locally():
    with pytest.raises(ValueError, match='apply-template'):
        PromptBuilder('server').render([], 'Hello', 'concise')


@pytest.mark.parametrize('prompt_format, stops', [
    ('plain', ('\nUser:', '\nSystem:')),
    ('chatml', ('<|im_end|>', '<|im_start|>')),
    ('llama2', ('</s>', '[INST]')),
    ('server', ()),
])
def test_stop_strings(prompt_format, stops):
    assert PromptBuilder(prompt_format).stop_strings() == stops


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match='chatml'):
        PromptBuilder('alpaca')


def test_unknown_personality_names_the_allowed_ones():
    with pytest.raises(ValueError) as error:
        PromptBuilder('chatml').system_text('pirate')
    assert all(name in str(error.value) for name in PERSONALITIES)


def test_custom_system_prompt_wins_over_personality():
    builder = PromptBuilder('chatml', system_prompt='  You are a kitchen robot.  ')
    assert builder.system_text('technical') == 'You are a kitchen robot.'


@pytest.mark.parametrize('personality', PERSONALITIES)
def test_each_personality_is_one_short_instruction_with_a_length(personality):
    text = PromptBuilder('chatml').system_text(personality)
    assert text == PERSONALITY_PROMPTS['en'][personality]
    assert text.startswith('You are Heisenberg') and len(text) <= 160
    assert 'short sentence' in text


@pytest.mark.parametrize('personality', PERSONALITIES)
def test_each_personality_in_french_says_to_answer_in_french_shortly(personality):
    text = PromptBuilder('chatml').system_text(personality, 'fr')
    assert text == PERSONALITY_PROMPTS['fr'][personality]
    assert text.startswith('Tu es Heisenberg') and len(text) <= 170
    assert 'en français' in text and 'phrase' in text


def test_personalities_match_config_and_differ():
    assert tuple(PERSONALITY_PROMPTS) == LANGUAGES
    for language in LANGUAGES:
        assert tuple(PERSONALITY_PROMPTS[language]) == PERSONALITIES
        assert len(set(PERSONALITY_PROMPTS[language].values())) == len(PERSONALITIES)
    assert 'one short sentence' in PERSONALITY_PROMPTS['en']['concise']
    assert 'never pretend' in PERSONALITY_PROMPTS['en']['robot']
    assert 'une phrase courte' in PERSONALITY_PROMPTS['fr']['concise']
    assert 'ne prétends jamais' in PERSONALITY_PROMPTS['fr']['robot']


FRENCH_TABLE = [
    # (turns, summary, expected chatml prompt) — concise personality in French, question in French.
    ([], '',
     '<|im_start|>system\nTu es Heisenberg, un assistant vocal serviable. Réponds en français, en une phrase '
     'courte.<|im_end|>\n<|im_start|>user\nQuelle est la capitale de la France ?<|im_end|>\n'
     '<|im_start|>assistant\n'),
    ([Turn('Je m\'appelle Ada.', 'Enchanté, Ada.', 'fr')],
     'Earlier: The user said "I live in Oslo." and you replied "Oslo is lovely."',
     '<|im_start|>system\nTu es Heisenberg, un assistant vocal serviable. Réponds en français, en une phrase '
     'courte.\n\nPlus tôt : The user said "I live in Oslo." and you replied "Oslo is lovely."<|im_end|>\n'
     '<|im_start|>user\nJe m\'appelle Ada.<|im_end|>\n<|im_start|>assistant\nEnchanté, Ada.<|im_end|>\n'
     '<|im_start|>user\nQuelle est la capitale de la France ?<|im_end|>\n<|im_start|>assistant\n'),
]


@pytest.mark.parametrize('turns, summary, expected', FRENCH_TABLE)
def test_a_french_prompt_has_the_french_personality_and_summary_label(turns, summary, expected):
    prompt = PromptBuilder('chatml').render(turns, 'Quelle est la capitale de la France ?', 'concise',
                                            summary, 'fr')
    assert prompt == expected


def test_the_same_history_is_shown_in_english_with_the_english_label():
    messages = PromptBuilder('server').messages([Turn('Salut.', 'Bonjour !', 'fr')], 'Hello', 'concise',
                                                SUMMARY, 'en')
    assert messages[0]['content'] == f"{PERSONALITY_PROMPTS['en']['concise']}\n\n{SUMMARY}"
    assert [m['content'] for m in messages[1:]] == ['Salut.', 'Bonjour !', 'Hello']


def test_an_unknown_language_names_the_allowed_ones():
    with pytest.raises(ValueError, match='en.*fr'):
        PromptBuilder('chatml').system_text('concise', 'de')


def test_every_config_format_is_known():
    for prompt_format in PROMPT_FORMATS:
        PromptBuilder(prompt_format)
