"""System prompts per personality, and the prompt text for each prompt format.

Every reply is spoken by Piper, yet the prompts do not say so: a small model (the default is
135M parameters) follows one short instruction and is thrown by a paragraph of them. With a
system prompt listing what speech cannot carry (markdown, lists, emoji, URLs), SmolLM2-135M
answered 12 of 20 everyday questions right when asked one at a time; with "Answer in one short
sentence." 15 (bench/bench_answers.py). What speech cannot carry is taken out of the reply
before it is spoken (sentences.clean_for_speech). The 'server' format is not
rendered here: the node sends ``messages()`` to llama-server's /apply-template so the model's
own chat template is used.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from heisenberg_brain.core.config import LANGUAGES, PERSONALITIES, PROMPT_FORMATS

# One table: the system prompt of each personality, in each language a reply can be in. The French
# ones say "in French" too: SmolLM2-135M otherwise drifts back to English after a turn or two.
PERSONALITY_PROMPTS: dict[str, dict[str, str]] = {
    'en': {
        'concise': 'You are Heisenberg, a helpful voice assistant. Answer in one short sentence.',
        'friendly': ('You are Heisenberg, a kind and cheerful voice assistant. Answer in one or two short '
                     'sentences.'),
        'professional': ('You are Heisenberg, a professional voice assistant. Answer precisely and politely '
                         'in one or two short sentences.'),
        'technical': ('You are Heisenberg, a technical voice assistant for engineers. Answer with exact '
                      'terms, numbers and units, in two or three short sentences.'),
        'robot': ('You are Heisenberg, a helpful robot. Answer plainly in one short sentence, and never '
                  'pretend to have done something.'),
    },
    'fr': {
        'concise': ('Tu es Heisenberg, un assistant vocal serviable. Réponds en français, en une phrase '
                    'courte.'),
        'friendly': ('Tu es Heisenberg, un assistant vocal gentil et joyeux. Réponds en français, en une ou '
                     'deux phrases courtes.'),
        'professional': ('Tu es Heisenberg, un assistant vocal professionnel. Réponds en français, avec '
                         'précision et politesse, en une ou deux phrases courtes.'),
        'technical': ('Tu es Heisenberg, un assistant vocal technique pour ingénieurs. Réponds en français '
                      'avec les termes exacts, les nombres et les unités, en deux ou trois phrases courtes.'),
        'robot': ('Tu es Heisenberg, un robot serviable. Réponds simplement en français, en une phrase '
                  'courte, et ne prétends jamais avoir fait quelque chose.'),
    },
}

# What introduces the summary of folded turns in the system prompt; a summary is stored with the
# English one and shown with the reply's (its facts stay in the language each turn was in).
SUMMARY_LABELS: dict[str, str] = {'en': 'Earlier: ', 'fr': 'Plus tôt : '}

_STOPS: dict[str, tuple[str, ...]] = {
    'plain': ('\nUser:', '\nSystem:'),
    'chatml': ('<|im_end|>', '<|im_start|>'),
    'llama2': ('</s>', '[INST]'),
    # llama-server stops at the model's own end-of-generation tokens for its template.
    'server': (),
}


@dataclasses.dataclass(frozen=True)
class Turn:
    """One exchange: what the user said and what the assistant actually said (maybe cut short)."""

    user: str
    assistant: str
    language: str = 'en'   # what the turn was said in (its summary fact is written in it)


class PromptBuilder:
    """Turns (system, summary, turns, user text) into messages or a prompt string."""

    def __init__(self, prompt_format: str, system_prompt: str = ''):
        if prompt_format not in PROMPT_FORMATS:
            raise ValueError(f'prompt format must be one of {PROMPT_FORMATS}, got {prompt_format!r}')
        self.prompt_format = prompt_format
        self.system_prompt = system_prompt.strip()

    def system_text(self, personality: str, language: str = 'en') -> str:
        """The system prompt: the custom one from config if set (any language), else the personality's."""
        if language not in LANGUAGES:
            raise ValueError(f'language must be one of {LANGUAGES}, got {language!r}')
        if personality not in PERSONALITIES:
            raise ValueError(f'personality must be one of {PERSONALITIES}, got {personality!r}')
        return self.system_prompt or PERSONALITY_PROMPTS[language][personality]

    def messages(self, turns: Sequence[Turn], user_text: str, personality: str,
                 summary: str = '', language: str = 'en') -> list[dict]:
        """OpenAI-style [{'role', 'content'}...]: system (+ summary), past turns, the new user text."""
        result = [{'role': 'system', 'content': self._system_with_summary(personality, summary, language)}]
        for turn in turns:
            result.append({'role': 'user', 'content': turn.user.strip()})
            result.append({'role': 'assistant', 'content': turn.assistant.strip()})
        result.append({'role': 'user', 'content': user_text.strip()})
        return result

    def render(self, turns: Sequence[Turn], user_text: str, personality: str, summary: str = '',
               language: str = 'en') -> str:
        """The prompt string for /completion in this builder's format (not for 'server')."""
        if self.prompt_format == 'server':
            raise ValueError("the 'server' format is rendered by llama-server's /apply-template "
                             'from messages(), not by render()')
        messages = self.messages(turns, user_text, personality, summary, language)
        return _RENDERERS[self.prompt_format](messages)

    def stop_strings(self) -> tuple[str, ...]:
        """The stop strings this format needs so the model does not write the next turn itself."""
        return _STOPS[self.prompt_format]

    def _system_with_summary(self, personality: str, summary: str, language: str) -> str:
        system = self.system_text(personality, language)
        summary = summary.strip()
        if summary.startswith(SUMMARY_LABELS['en']):
            summary = SUMMARY_LABELS[language] + summary[len(SUMMARY_LABELS['en']):]
        return f'{system}\n\n{summary}' if summary else system


def _render_plain(messages: list[dict]) -> str:
    labels = {'system': 'System', 'user': 'User', 'assistant': 'Assistant'}
    lines = [f"{labels[m['role']]}: {m['content']}" for m in messages]
    return '\n'.join(lines) + '\nAssistant:'


def _render_chatml(messages: list[dict]) -> str:
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return ''.join(parts) + '<|im_start|>assistant\n'


def _render_llama2(messages: list[dict]) -> str:
    system = messages[0]['content']
    dialogue = messages[1:]
    out = []
    # dialogue is user, assistant, user, assistant, ..., user: pair them up, last one open.
    for index in range(0, len(dialogue), 2):
        user = dialogue[index]['content']
        if index == 0 and system:
            user = f'<<SYS>>\n{system}\n<</SYS>>\n\n{user}'
        if index + 1 < len(dialogue):
            out.append(f"<s>[INST] {user} [/INST] {dialogue[index + 1]['content']} </s>")
        else:
            out.append(f'<s>[INST] {user} [/INST]')
    return ''.join(out)


_RENDERERS = {'plain': _render_plain, 'chatml': _render_chatml, 'llama2': _render_llama2}
