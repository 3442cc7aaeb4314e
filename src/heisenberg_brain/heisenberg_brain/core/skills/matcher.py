"""Text -> the skill it asks for, with hassil's sentence templates (deterministic, well under 1 ms).

A sentence matches only as a whole: "stop" is a command, "why do people stop smoking?" is a
question for the LLM. What the transcript may carry around a command is tolerated:
- punctuation and case ("Set a timer for 5 minutes."), by hassil;
- number words and digits alike ("five" / "5" / "twenty-five"), by hassil's range lists (its
  number words come from unicode-rbnf); a digit comes back as a float, so numbers are made
  int here when whole;
- filler anywhere: the wake word ("Hey Jarvis, ..."), "please", "can you"... (hassil's skip
  words; it also tries the text with them all left in, so "what can you do" still matches).
  It is all or nothing, so a word a template may contain ("the") is no filler: write [the];
- what Whisper writes that hassil would not take: "3-second" (a hyphen between words),
  "one hundred and twenty", "whats", and bracketed non-speech like "[BLANK_AUDIO]".
When several skills match, "stop" wins (it must always work), then hassil's ranking.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, Mapping

from hassil import Intents, recognize_ranked

from heisenberg_brain.core.skills.spec import SkillsSpec

FILLER = ('hey jarvis', 'jarvis', 'hey', 'okay', 'ok', 'please', 'um', 'uh', 'so', 'just', 'right now', 'now',
          'can you', 'could you', 'would you', 'will you', 'thanks', 'thank you')

_DURATION = ('({hours} (hour|hours) [[and] {minutes} (minute|minutes|min|mins)] [[and] {seconds} '
             '(second|seconds|sec|secs)] '
             '| {minutes} (minute|minutes|min|mins) [[and] {seconds} (second|seconds|sec|secs)] '
             '| {seconds} (second|seconds|sec|secs))')
_LENGTH = '({hours} hour [{minutes} minute] | {minutes} minute [{seconds} second] | {seconds} second)'

# The built-ins' sentences: builtin name -> (hassil intent, its sentences, fixed slots).
BUILTIN_INTENTS: dict[str, list[tuple[str, list[str], dict]]] = {
    'time': [('time', [
        "(what's|what is) [the] [current] time",
        'what time is it',
        'what time do you have',
        'do you (know|have) the time',
        'do you know what time it is',
        'tell me the time',
        '(what|which) hour is it',
    ], {})],
    'date': [('date', [
        "(what's|what is) [the] date [today]",
        "(what's|what is) today's date",
        "(what's|what is) today",
        '(what|which) day is (it|today) [today]',
        'what day of the week is it [today]',
        'tell me the date',
        'what is the date today',
    ], {})],
    'timer': [
        ('timer.set', [
            '(set|start|make) [a|the|my] timer (for|of) <duration>',
            '(set|start|make) [a|the|my] <length> timer',
            'timer (for|of) <duration>',
            '<length> timer',
        ], {}),
        ('timer.set', ['(set|start|make) [a|the|my] timer (for|of) (a|one) minute', '(a|one) minute timer'],
         {'minutes': 1}),
        ('timer.set', ['(set|start|make) [a|the|my] timer (for|of) (an|one) hour', '(an|one) hour timer'],
         {'hours': 1}),
        ('timer.set', ['(set|start|make) [a|the|my] timer (for|of) half (an|a) hour'], {'minutes': 30}),
        ('timer.left', [
            'how (long|much time) is (left|remaining) [on [the|my] timer|on [the|my] timers]',
            'how (long|much time) [do i have] left [on [the|my] timer|on [the|my] timers]',
            "how much longer [is (left|there) ][on [the|my] timer]",
            'how long until [the|my] timer (rings|goes off|is done|ends)',
            "(what's|what is) left on [the|my] (timer|timers)",
            '(how are|check) [the|my] timers',
            'time (left|remaining)',
        ], {}),
        ('timer.cancel', [
            '(cancel|stop|delete|remove|turn off|end) [all] [the|my] (timer|timers)',
            '(cancel|stop|delete|remove|turn off|end) [the|my] <length> timer',
        ], {}),
    ],
    'stop': [('stop', [
        '(stop|halt|abort) [it|that|this|everything|now|moving|talking|please] [stop|halt]',
        '(cancel|cancel it|cancel that)',
        '(never mind|nevermind|forget it|forget about it)',
        '[be|keep|stay] quiet',
        '(shut up|silence|enough|that is enough|that\'s enough|hush)',
    ], {})],
    'help': [('help', [
        'what can you do [for me]',
        'what are you able to do',
        'what (skills|commands) do you (have|know)',
        'what are your (skills|commands)',
        'what can i (say|ask [you])',
        '[i need] help',
    ], {})],
}

_NUMBERS = {'hours': 24, 'minutes': 999, 'seconds': 999}
_BRACKETED = re.compile(r'\[[^\]]*\]|\([^)]*\)|\*[^*]*\*')
_WORD_HYPHEN = re.compile(r'(?<=\w)-(?=\w)')
_HUNDRED_AND = re.compile(r'\b(hundred|thousand) and\b', re.IGNORECASE)
_CONTRACTIONS = {re.compile(r'\bwhats\b', re.IGNORECASE): "what's",
                 re.compile(r'\btodays\b', re.IGNORECASE): "today's",
                 re.compile(r'\bthats\b', re.IGNORECASE): "that's"}


class MatchKind(enum.Enum):
    """What a match asks of the brain: STOP ends whatever runs and never reaches the LLM."""

    STOP = 'stop'
    BUILTIN = 'builtin'
    ROS = 'ros'


@dataclasses.dataclass(frozen=True)
class Match:
    """A request a skill takes: which skill (and which of its requests), the slots, the text heard."""

    skill: str
    kind: MatchKind
    slots: Mapping[str, Any]
    text: str
    intent: str = ''   # timer: 'set' | 'left' | 'cancel'; empty for single-request skills


def normalize(text: str) -> str:
    """The transcript as hassil should see it (module docstring)."""
    text = _BRACKETED.sub(' ', text)
    text = _WORD_HYPHEN.sub(' ', text)
    text = _HUNDRED_AND.sub(r'\1', text)
    for pattern, replacement in _CONTRACTIONS.items():
        text = pattern.sub(replacement, text)
    return ' '.join(text.split())


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Matcher:
    """The hassil intents of the enabled built-ins and the YAML skills."""

    def __init__(self, spec: SkillsSpec):
        intents: dict[str, dict] = {}
        self._owner: dict[str, tuple[str, str]] = {}   # hassil intent -> (skill, request)
        for builtin in spec.builtins:
            for intent, sentences, slots in BUILTIN_INTENTS[builtin]:
                block = {'sentences': sentences, 'slots': dict(slots)}
                intents.setdefault(intent, {'data': []})['data'].append(block)
                self._owner[intent] = (builtin, intent.partition('.')[2])
        for skill in spec.skills:
            lists: dict[str, dict] = {}
            for slot in skill.slots:
                if slot.range is not None:
                    lists[slot.name] = {'range': {'from': slot.range[0], 'to': slot.range[1]}}
                else:
                    values = [{'in': spoken, 'out': spoken} for spoken, _ in slot.values]
                    lists[slot.name] = {'values': values}
            intents[skill.name] = {'data': [{'sentences': list(skill.sentences), 'lists': lists}]}
            self._owner[skill.name] = (skill.name, '')
        self._intents = Intents.from_dict({
            'language': 'en',
            'intents': intents,
            'expansion_rules': {'duration': _DURATION, 'length': _LENGTH},
            'lists': {name: {'range': {'from': 1, 'to': top}} for name, top in _NUMBERS.items()},
            'skip_words': list(dict.fromkeys(FILLER + spec.filler)),
        })

    def match(self, text: str) -> Match | None:
        """The skill the whole text asks for, or None (it is the LLM's)."""
        normalized = normalize(text)
        if not normalized:
            return None
        results = recognize_ranked(normalized, self._intents)
        if not results:
            return None
        result = next((r for r in results if r.intent.name == 'stop'), results[0])
        skill, request = self._owner[result.intent.name]
        slots = {name: _number(entity.value) for name, entity in result.entities.items()}
        if skill == 'timer':
            slots = self._timer_slots(slots)
        kind = MatchKind.STOP if skill == 'stop' else MatchKind.BUILTIN if skill in BUILTIN_INTENTS \
            else MatchKind.ROS
        return Match(skill, kind, slots, text.strip(), request)

    @staticmethod
    def _timer_slots(slots: dict) -> dict:
        """Hours, minutes and seconds as said -> one duration in seconds."""
        if not slots:
            return {}
        hours, minutes, seconds = (slots.get(unit, 0) for unit in ('hours', 'minutes', 'seconds'))
        return {'duration': hours * 3600 + minutes * 60 + seconds}
