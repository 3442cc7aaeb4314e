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

A name ("My name is Alice.", « Je m'appelle Alice. ») is taken only where a matcher can tell it
is one: after "my name is", "call me", "I'm" (and their French forms), one or two words that
each begin with a capital letter, as Whisper writes a proper noun and not "hungry" or "back"
("I'm hungry." goes to the LLM); filler after it is dropped ("Alice, please"), and the few
capitalised words that follow "I'm" without being a name (languages and nationalities, "OK")
are refused. Anything else goes on to the next match, or to the LLM.

Each language has its own sentences (a YAML skill's ``fr:`` block gives its French ones) and
filler. The turn's language is tried first, then the others, so a French « Stop ! » in an
English conversation still stops; what is answered, and in which language, is the turn's.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from typing import Any, Mapping

from hassil import Intents, recognize_ranked

from heisenberg_brain.core.config import LANGUAGES
from heisenberg_brain.core.skills.builtins import BUILTINS
from heisenberg_brain.core.skills.spec import SkillsSpec

# Words around a command that are no part of it, per language (the file's own filler is added to each).
FILLER: dict[str, tuple[str, ...]] = {
    'en': ('hey jarvis', 'jarvis', 'hey', 'okay', 'ok', 'please', 'um', 'uh', 'so', 'just', 'right now',
           'now', 'can you', 'could you', 'would you', 'will you', 'thanks', 'thank you'),
    'fr': ('hey jarvis', 'dis jarvis', 'jarvis', 'hé', 'eh', 'ok', 'okay', "s'il te plaît", "s'il vous plaît",
           'euh', 'bon', 'alors', 'maintenant', 'est ce que tu peux', 'tu peux', 'peux tu', 'pourrais tu',
           'vous pouvez', 'pouvez vous', 'merci'),
}

# Expansion rules: <duration> as a timer's length is said ("5 minutes and 30 seconds"), <length> as
# an English timer is named ("a 5 minute timer"); French names a timer by its duration.
RULES: dict[str, dict[str, str]] = {
    'en': {
        'duration': ('({hours} (hour|hours) [[and] {minutes} (minute|minutes|min|mins)] [[and] {seconds} '
                     '(second|seconds|sec|secs)] '
                     '| {minutes} (minute|minutes|min|mins) [[and] {seconds} (second|seconds|sec|secs)] '
                     '| {seconds} (second|seconds|sec|secs))'),
        'length': ('({hours} hour [{minutes} minute] | {minutes} minute [{seconds} second] '
                   '| {seconds} second)'),
    },
    'fr': {
        'duration': ('({hours} (heure|heures) [[et] {minutes} [minute|minutes]] [[et] {seconds} '
                     '(seconde|secondes)] '
                     '| {minutes} (minute|minutes|min) [[et] {seconds} [seconde|secondes]] '
                     '| {seconds} (seconde|secondes|s))'),
        'set': ('(mets|mettez|mettre|lance|lancez|lancer|démarre|démarrez|règle|réglez|programme|programmez'
                '|crée|créez) [moi] [un|une|le|la|mon|ma]'),
        'timer': '(minuteur|minuterie)',
    },
}

# The built-ins' sentences: language -> builtin name -> (hassil intent, its sentences, fixed slots).
# The French ones are written as normalize() leaves the text: no hyphens ("quelle heure est il").
BUILTIN_INTENTS: dict[str, dict[str, list[tuple[str, list[str], dict]]]] = {'en': {
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
    'name': [
        ('name.tell', [
            'my name is {name}',
            "my name's {name}",
            '(call|you can call) me {name}',
            "(i'm|i am) {name}",
        ], {}),
        ('name.ask', [
            "(what's|what is) my name",
            'who am i',
            'do you (know|remember) my name',
            '(tell me|say) my name',
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
}, 'fr': {
    'time': [('time', [
        'quelle heure (est il|il est) [maintenant]',
        'il est quelle heure',
        "(tu as|as tu|vous avez|avez vous) l'heure",
        "(dis|donne|dites|donnez) moi l'heure",
        "(tu sais|sais tu|tu connais|connais tu) l'heure",
        'tu sais quelle heure il est',
        "(me|nous) (dire|donner) l'heure",
    ], {})],
    'date': [('date', [
        "quel jour (sommes nous|nous sommes|on est|est on|est ce|c'est|est il) [aujourd'hui]",
        "on est quel jour [aujourd'hui]",
        "quelle est la date [d'aujourd'hui|aujourd'hui]",
        "quelle date (sommes nous|nous sommes|on est|est on) [aujourd'hui]",
        "(on est|nous sommes) le combien [aujourd'hui]",
        '(dis|donne|dites|donnez) moi la date',
        "c'est quoi la date [d'aujourd'hui|aujourd'hui]",
        '(me|nous) (dire|donner) la date',
    ], {})],
    'timer': [
        ('timer.set', [
            "<set> <timer> (de|d'|pour) <duration>",
            "[un|une] <timer> (de|d'|pour) <duration>",
        ], {}),
        ('timer.set', ["<set> <timer> (d'une|pour une) demi heure", "[un|une] <timer> d'une demi heure"],
         {'minutes': 30}),
        ('timer.set', ["<set> <timer> (d'un|pour un) quart d'heure", "[un|une] <timer> d'un quart d'heure"],
         {'minutes': 15}),
        ('timer.set', ["<set> <timer> (d'une|pour une) heure et demie"], {'hours': 1, 'minutes': 30}),
        ('timer.left', [
            'combien de temps (reste t il|il reste|me reste t il|il me reste) '
            '[(sur|à|au|pour) [le|mon|la|ma] <timer>]',
            'il [me] reste combien de temps [(sur|à|au|pour) [le|mon|la|ma] <timer>]',
            '(où en est|où en sont) [le|mon|la|ma|les|mes] (minuteur|minuteurs|minuterie)',
            'temps restant',
            '(quand|dans combien de temps) (le minuteur sonne t il|sonne le minuteur|le minuteur va sonner)',
        ], {}),
        ('timer.cancel', [
            '(annule|annulez|arrête|arrêtez|stoppe|supprime|supprimez|coupe|coupez|éteins) [tous] '
            '[le|la|les|mon|ma|mes] (minuteur|minuteurs|minuterie)',
            "(annule|annulez|arrête|arrêtez|stoppe|supprime|supprimez|coupe|coupez|éteins) [le|la|mon|ma] "
            "<timer> (de|d') <duration>",
        ], {}),
    ],
    'name': [
        ('name.tell', [
            "je m'appelle {name}",
            '(mon nom|mon prénom) (est|c\'est) {name}',
            '(appelle|appelez) moi {name}',
            '(tu peux|vous pouvez) m\'appeler {name}',
        ], {}),
        ('name.ask', [
            "comment (je m'appelle|est ce que je m'appelle|m'appelle je)",
            "je m'appelle comment",
            'quel est mon (nom|prénom)',
            "c'est quoi mon (nom|prénom)",
            "(tu sais|sais tu|vous savez|savez vous) comment je m'appelle",
            '(tu te souviens|te souviens tu|vous vous souvenez) de mon (nom|prénom)',
            'qui suis je',
        ], {}),
    ],
    'stop': [('stop', [
        '(arrête|arrêtez|arrêter|stop|stoppe|stoppez|halte) [ça|tout|de parler|maintenant|là] [stop]',
        '(annule|annulez) [ça]',
        '(laisse tomber|laissez tomber|oublie ça|oublie|oubliez|peu importe)',
        '(tais toi|taisez vous|silence|chut|ça suffit|assez)',
    ], {})],
    'help': [('help', [
        "qu'est ce que tu (sais|peux) faire [pour moi]",
        'que (sais|peux) tu faire [pour moi]',
        'tu (sais|peux) faire quoi',
        'quelles sont tes (compétences|commandes|fonctions)',
        "qu'est ce que je peux (dire|te demander)",
        "(aide|aide moi|à l'aide|j'ai besoin d'aide)",
    ], {})],
}}

_NUMBERS = {'hours': 24, 'minutes': 999, 'seconds': 999}
# A word of a name: a capital, then letters (and the apostrophe of O'Brien; "Jean-Luc" comes as two words).
_NAME_WORD = re.compile(r"[^\W\d_][^\W\d_']*(?:'[^\W\d_]+)?")
# Capitalised words that follow "I'm" or "I am" and are no name (compared lower-cased).
NOT_NAMES = frozenset((
    'ok', 'okay', 'english', 'french', 'british', 'american', 'canadian', 'australian', 'irish', 'scottish',
    'welsh', 'german', 'spanish', 'italian', 'portuguese', 'dutch', 'swiss', 'belgian', 'polish', 'russian',
    'chinese', 'japanese', 'korean', 'indian', 'mexican', 'brazilian', 'african', 'european', 'asian',
    'christian', 'muslim', 'jewish', 'catholic', 'buddhist', 'hindu', 'here', 'back', 'home', 'done',
    'sorry', 'fine', 'good', 'ready', 'not', 'just', 'so', 'very', 'a', 'an', 'the', 'i',
    'français', 'française', 'anglais', 'anglaise'))
_BRACKETED = re.compile(r'\[[^\]]*\]|\([^)]*\)|\*[^*]*\*')
_WORD_HYPHEN = re.compile(r'(?<=\w)-(?=\w)')
_HUNDRED_AND = re.compile(r'\b(hundred|thousand) and\b', re.IGNORECASE)
_CONTRACTIONS = {re.compile('\u2019'): "'",   # Whisper's French apostrophe (« m’appelle »)
                 re.compile(r'\bwhats\b', re.IGNORECASE): "what's",
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
    intent: str = ''   # timer: 'set' | 'left' | 'cancel'; name: 'tell' | 'ask'; else empty
    language: str = 'en'   # of the sentences that matched (the reply is in the turn's language)


def normalize(text: str) -> str:
    """The transcript as hassil should see it (module docstring)."""
    text = _BRACKETED.sub(' ', text)
    text = _WORD_HYPHEN.sub(' ', text)
    text = _HUNDRED_AND.sub(r'\1', text)
    for pattern, replacement in _CONTRACTIONS.items():
        text = pattern.sub(replacement, text)
    return ' '.join(text.split())


def spoken_name(value: str, language: str = 'en') -> str | None:
    """The name in what followed "my name is" (module docstring), or None when it is not one."""
    words = value.replace(',', ' ').split()
    filler = {word for word in FILLER[language] if ' ' not in word}
    while words and words[-1].lower() in filler:
        words.pop()
    if not 1 <= len(words) <= 2:
        return None
    for word in words:
        if not _NAME_WORD.fullmatch(word) or not word[0].isupper() or word.lower() in NOT_NAMES:
            return None
    return ' '.join(words)


def _as_written(name: str, text: str) -> str:
    """The name as the text writes it: normalize() made "Jean-Luc" two words."""
    written = re.search(r'[\s-]'.join(map(re.escape, name.split())), text)
    return written.group(0) if written else name


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Matcher:
    """The hassil intents of the enabled built-ins and the YAML skills, one set per language."""

    def __init__(self, spec: SkillsSpec):
        self._owner: dict[str, tuple[str, str]] = {}   # hassil intent -> (skill, request)
        self._intents = {language: self._intents_in(spec, language) for language in LANGUAGES}

    def _intents_in(self, spec: SkillsSpec, language: str) -> Intents:
        intents: dict[str, dict] = {}
        for builtin in spec.builtins:
            for intent, sentences, slots in BUILTIN_INTENTS[language][builtin]:
                block = {'sentences': sentences, 'slots': dict(slots)}
                intents.setdefault(intent, {'data': []})['data'].append(block)
                self._owner[intent] = (builtin, intent.partition('.')[2])
        for skill in spec.skills:
            if not skill.sentences_in(language):
                continue   # no sentences in this language: it is matched by its English ones after
            lists: dict[str, dict] = {}
            for slot in skill.slots:
                if slot.range is not None:
                    lists[slot.name] = {'range': {'from': slot.range[0], 'to': slot.range[1]}}
                else:
                    values = [{'in': spoken, 'out': spoken} for spoken, _ in slot.values]
                    lists[slot.name] = {'values': values}
            sentences = list(skill.sentences_in(language))
            intents[skill.name] = {'data': [{'sentences': sentences, 'lists': lists}]}
            self._owner[skill.name] = (skill.name, '')
        return Intents.from_dict({
            'language': language,   # hassil's number words (unicode-rbnf): "vingt et une" is 21
            'intents': intents,
            'expansion_rules': RULES[language],
            'lists': {**{name: {'range': {'from': 1, 'to': top}} for name, top in _NUMBERS.items()},
                      'name': {'wildcard': True}},
            'skip_words': list(dict.fromkeys(FILLER[language] + spec.filler)),
        })

    def match(self, text: str, language: str = 'en') -> Match | None:
        """The skill the whole text asks for, or None (it is the LLM's): language's sentences first."""
        normalized = normalize(text)
        if not normalized:
            return None
        for said_in in sorted(LANGUAGES, key=lambda other: other != language):
            results = [(result, slots) for result in recognize_ranked(normalized, self._intents[said_in])
                       if (slots := self._slots(result, said_in)) is not None]
            if results:
                break
        else:
            return None
        result, slots = next(((r, s) for r, s in results if r.intent.name == 'stop'), results[0])
        skill, request = self._owner[result.intent.name]
        if skill == 'name' and 'name' in slots:
            slots = {'name': _as_written(slots['name'], text)}
        kind = MatchKind.STOP if skill == 'stop' else MatchKind.BUILTIN if skill in BUILTINS \
            else MatchKind.ROS
        return Match(skill, kind, slots, text.strip(), request, said_in)

    def _slots(self, result: Any, language: str) -> dict | None:
        """A result's slots as the skill takes them, or None when they are not what it takes (a name)."""
        slots = {name: _number(entity.value) for name, entity in result.entities.items()}
        skill = self._owner[result.intent.name][0]
        if skill == 'timer':
            return self._timer_slots(slots)
        if skill == 'name' and 'name' in slots:
            name = spoken_name(str(slots['name']), language)
            return None if name is None else {'name': name}
        return slots

    @staticmethod
    def _timer_slots(slots: dict) -> dict:
        """Hours, minutes and seconds as said -> one duration in seconds."""
        if not slots:
            return {}
        hours, minutes, seconds = (slots.get(unit, 0) for unit in ('hours', 'minutes', 'seconds'))
        return {'duration': hours * 3600 + minutes * 60 + seconds}
