"""skills.yaml -> frozen, validated skill specs (the schema is written out in docs/skills.md).

Everything that can be checked without ROS is checked at load, so a typo stops the brain at
start-up with a message naming the file, the skill and the field, instead of a robot that
says something odd the first time a person asks: the sentence syntax, that every slot a
sentence, field or reply uses is declared (and that every place has the key a field reads),
the type strings' pkg/kind/Name form, the replies each effect needs. The ROS side resolves
the types by name at run time; here they are only strings.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Mapping

from hassil import parse_sentence
from hassil.expression import Group, RuleReference

from heisenberg_brain.core.config import LANGUAGES
from heisenberg_brain.core.skills.builtins import BUILTINS
from heisenberg_brain.core.skills.template import Template, TemplateError, flatten, parse

EFFECTS = ('action', 'service', 'publish', 'read')
TYPE_KIND = {'action': 'action', 'service': 'srv', 'publish': 'msg', 'read': 'msg'}
REPLIES = ('accepted', 'feedback', 'succeeded', 'failed', 'cancelled')
REQUIRED_REPLIES = {'action': ('accepted', 'succeeded', 'failed', 'cancelled'),
                    'service': ('succeeded', 'failed'), 'publish': ('succeeded', 'failed'),
                    'read': ('succeeded', 'failed')}
# Placeholders a reply may use besides the slots (what the effect gives it).
REPLY_VALUES = {('action', 'feedback'): ('feedback',), ('action', 'succeeded'): ('result',),
                ('action', 'failed'): ('reason', 'result'), ('service', 'succeeded'): ('response',),
                ('service', 'failed'): ('reason', 'response'), ('publish', 'failed'): ('reason',),
                ('read', 'succeeded'): ('value',), ('read', 'failed'): ('reason',)}
RESERVED_SLOTS = ('feedback', 'result', 'reason', 'response', 'value')
# Each effect's keys: (the ROS name's key, the key of its fields, {timeout key: default seconds}).
EFFECT_KEYS = {'action': ('name', 'goal', {'server_timeout': 5.0, 'timeout': 600.0, 'feedback_period': 15.0}),
               'service': ('name', 'request', {'timeout': 5.0}),
               'publish': ('topic', 'message', {}),
               'read': ('topic', None, {'timeout': 3.0})}
# A skill's words in another language than English: a block keyed by the language (fr: ...).
OTHER_LANGUAGES = tuple(language for language in LANGUAGES if language != 'en')
WORDING_KEYS = ('description', 'sentences', 'replies')
SKILL_KEYS = ('name', 'description', 'sentences', 'slots', 'replies', 'llm') + EFFECTS + OTHER_LANGUAGES

_TYPE = re.compile(r'[a-z][a-z0-9_]*/(action|srv|msg)/[A-Z][A-Za-z0-9]*')
_ROS_NAME = re.compile(r'[~/]?[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*')
_SKILL_NAME = re.compile(r'[a-z][a-z0-9_]*')
_FIELD = re.compile(r'[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*')


class SkillSpecError(ValueError):
    """A skills file that cannot be used; the message names the file, the skill and the field."""


@dataclasses.dataclass(frozen=True)
class SlotSpec:
    """A slot: its spoken values (each mapped to what the YAML gives it), or a number range."""

    name: str
    values: tuple[tuple[str, Any], ...] = ()
    range: tuple[int, int] | None = None

    def lookup(self, spoken: str) -> Any:
        return dict(self.values).get(spoken)


@dataclasses.dataclass(frozen=True)
class EffectSpec:
    """The one thing a ROS skill does; fields are (dotted path, Template or constant) pairs."""

    kind: str                  # action | service | publish | read
    type: str                  # e.g. nav2_msgs/action/NavigateToPose
    name: str                  # the action or service name, or the topic
    fields: tuple[tuple[str, Any], ...] = ()
    field: str = ''            # read: the message field that is said, dotted
    timeout: float = 0.0       # action: the whole goal; service: the call; read: waiting for a message
    server_timeout: float = 0.0    # action: finding the server and the goal's acceptance
    feedback_period: float = 0.0   # action: the feedback reply is said at most this often


@dataclasses.dataclass(frozen=True)
class Wording:
    """A skill's words in another language (its ``fr:`` block); what it leaves out is the English one's."""

    sentences: tuple[str, ...]
    description: str = ''
    replies: tuple[tuple[str, Template], ...] = ()


@dataclasses.dataclass(frozen=True)
class SkillSpec:
    """A skill declared in YAML: its sentences, slots, one effect and its spoken replies (English)."""

    name: str
    description: str
    sentences: tuple[str, ...]
    slots: tuple[SlotSpec, ...]
    effect: EffectSpec
    replies: tuple[tuple[str, Template], ...]
    llm: bool = False          # may the LLM call it as a tool (core/skills/tools.py)
    origin: str = ''           # the file it came from, for messages
    wordings: tuple[tuple[str, Wording], ...] = ()   # (language, its words) besides English

    def _wording(self, language: str) -> Wording | None:
        return dict(self.wordings).get(language)

    def sentences_in(self, language: str) -> tuple[str, ...]:
        """The sentences said in language (none in a language the skill gives no block for)."""
        if language == 'en':
            return self.sentences
        wording = self._wording(language)
        return wording.sentences if wording else ()

    def describe(self, language: str = 'en') -> str:
        """The description in language, else the English one."""
        wording = self._wording(language)
        return wording.description if wording and wording.description else self.description

    def reply(self, key: str, language: str = 'en') -> Template | None:
        """The reply in language, else the English one."""
        wording = self._wording(language)
        translated = dict(wording.replies).get(key) if wording else None
        return translated or dict(self.replies).get(key)

    def slot(self, name: str) -> SlotSpec:
        return next(slot for slot in self.slots if slot.name == name)


@dataclasses.dataclass(frozen=True)
class SkillsSpec:
    """A whole skills file: which built-ins are on, extra filler words, the ROS skills."""

    builtins: tuple[str, ...] = tuple(BUILTINS)
    filler: tuple[str, ...] = ()
    skills: tuple[SkillSpec, ...] = ()
    origin: str = ''


def parse_skills(data: Any, origin: str = '<skills>') -> SkillsSpec:
    """Validate a loaded skills file (None = empty: the built-ins alone)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SkillSpecError(f'{origin}: the file must be a mapping with builtins, filler and skills, '
                             f'got {type(data).__name__}')
    _known_keys(data, ('builtins', 'filler', 'skills'), f'{origin}: ')
    builtins = _parse_builtins(data.get('builtins'), origin)
    filler = data.get('filler') or []
    if not isinstance(filler, list) or not all(isinstance(word, str) and word.strip() for word in filler):
        raise SkillSpecError(f'{origin}: filler: must be a list of words or phrases, got {filler!r}')
    entries = data.get('skills') or []
    if not isinstance(entries, list):
        raise SkillSpecError(f'{origin}: skills: must be a list of skills, got {type(entries).__name__}')
    skills = []
    for index, entry in enumerate(entries):
        skill = parse_skill(entry, origin, index)
        if skill.name in (s.name for s in skills):
            raise SkillSpecError(f'{origin}: skill {skill.name!r}: name: another skill has this name')
        skills.append(skill)
    return SkillsSpec(builtins, tuple(word.strip() for word in filler), tuple(skills), origin)


def _known_keys(data: Mapping, known: tuple[str, ...], where: str, what: str = 'field') -> None:
    for key in data:
        if key not in known:
            raise SkillSpecError(f'{where}{key}: unknown {what} (known: {", ".join(known)})')


def _parse_builtins(value: Any, origin: str) -> tuple[str, ...]:
    if value is None:
        return tuple(BUILTINS)
    if not isinstance(value, Mapping):
        raise SkillSpecError(f'{origin}: builtins: must map a built-in ({", ".join(BUILTINS)}) to true or '
                             f'false, got {value!r}')
    _known_keys(value, tuple(BUILTINS), f'{origin}: builtins: ', what='built-in')
    for name, enabled in value.items():
        if not isinstance(enabled, bool):
            raise SkillSpecError(f'{origin}: builtins: {name}: must be true or false, got {enabled!r}')
    if value.get('stop') is False:
        raise SkillSpecError(f'{origin}: builtins: stop: cannot be turned off (it is how a person ends '
                             'what the robot is doing)')
    return tuple(name for name in BUILTINS if value.get(name, True))


def parse_skill(entry: Any, origin: str, index: int) -> SkillSpec:
    """One skill, validated; errors say which file, skill and field."""
    if not isinstance(entry, Mapping):
        raise SkillSpecError(f'{origin}: skills[{index}]: must be a mapping, got {entry!r}')
    name = entry.get('name')
    if not isinstance(name, str) or not _SKILL_NAME.fullmatch(name):
        raise SkillSpecError(f'{origin}: skills[{index}]: name: must be lower_case_with_underscores, '
                             f'got {name!r}')

    def error(field: str, problem: str) -> SkillSpecError:
        return SkillSpecError(f'{origin}: skill {name!r}: {field}: {problem}')

    if name in BUILTINS:
        raise error('name', f'{name!r} is a built-in skill; name yours differently')
    unknown = [key for key in entry if key not in SKILL_KEYS]
    if unknown:
        raise error(str(unknown[0]), f'unknown field (a skill has {", ".join(SKILL_KEYS[:6])} and one '
                                     f'effect: {", ".join(EFFECTS)}); and a block per other language '
                                     f'({", ".join(OTHER_LANGUAGES)}) with its sentences')
    effects = [key for key in EFFECTS if key in entry]
    if len(effects) != 1:
        found = ', '.join(effects) or 'none'
        raise error('effect', f'give exactly one effect of {", ".join(EFFECTS)} (found: {found})')
    kind = effects[0]
    description = entry.get('description')
    if not isinstance(description, str) or not description.strip():
        raise error('description', 'say what the skill does, e.g. "go to a named place" (it is spoken '
                                   'when someone asks what the robot can do)')
    slots = _parse_slots(entry.get('slots'), error)
    sentences = _parse_sentences(entry.get('sentences'), slots, error)
    effect = _parse_effect(kind, entry[kind], slots, error)
    replies = _parse_replies(kind, entry.get('replies'), slots, error)
    llm = entry.get('llm', kind == 'read')   # only a skill without side effects is the LLM's by default
    if not isinstance(llm, bool):
        raise error('llm', f'must be true or false, got {llm!r}')
    wordings = tuple((language, _parse_wording(kind, entry[language], slots, language, error))
                     for language in OTHER_LANGUAGES if language in entry)
    return SkillSpec(name, ' '.join(description.split()), sentences, slots, effect, replies, llm, origin,
                     wordings)


def _parse_wording(kind: str, value: Any, slots: tuple[SlotSpec, ...], language: str, error) -> Wording:
    """A language block: its sentences (required), description and replies (each optional)."""
    def where(field: str, problem: str) -> SkillSpecError:
        return error(f'{language}.{field}', problem)

    if not isinstance(value, Mapping):
        raise error(language, f'must be a mapping with {", ".join(WORDING_KEYS)} (the sentences said in '
                              f'that language), got {value!r}')
    for key in value:
        if key not in WORDING_KEYS:
            raise where(str(key), f'unknown field (a language block has {", ".join(WORDING_KEYS)})')
    sentences = _parse_sentences(value.get('sentences'), slots, where)
    description = value.get('description', '')
    if not isinstance(description, str):
        raise where('description', f'must be a verb phrase, got {description!r}')
    replies = _parse_replies(kind, value.get('replies') or {}, slots, where, complete=False)
    return Wording(sentences, ' '.join(description.split()), replies)


def _parse_slots(value: Any, error) -> tuple[SlotSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise error('slots', f'must map each slot name to its values or range, got {value!r}')
    slots = []
    for slot_name, body in value.items():
        where = f'slots.{slot_name}'
        if not isinstance(slot_name, str) or not slot_name.isidentifier():
            raise error(where, 'a slot name must be a word like place or room')
        if slot_name in RESERVED_SLOTS:
            raise error(where, f'{slot_name!r} is reserved for the effect (name the slot differently)')
        if not isinstance(body, Mapping) or len(body) != 1 or next(iter(body)) not in ('values', 'range'):
            raise error(where, 'must be {values: {spoken name: value, ...}} or {range: {from: N, to: M}}')
        if 'range' in body:
            bounds = body['range']
            low, high = (bounds.get('from'), bounds.get('to')) if isinstance(bounds, Mapping) else (0, 0)
            if not all(isinstance(n, int) and not isinstance(n, bool) for n in (low, high)) or low > high \
                    or not isinstance(bounds, Mapping):
                raise error(f'{where}.range', f'must be {{from: N, to: M}} with integers N <= M, '
                                              f'got {bounds!r}')
            slots.append(SlotSpec(slot_name, range=(low, high)))
            continue
        values = body['values']
        if isinstance(values, list):
            values = {item: None for item in values}
        if not isinstance(values, Mapping) or not values:
            raise error(f'{where}.values', f'must be a non-empty mapping (or list) of spoken names, '
                                           f'got {values!r}')
        pairs = []
        for spoken, mapped in values.items():
            if isinstance(spoken, bool):
                raise error(f'{where}.values', f'{str(spoken).lower()}: YAML reads on, off, yes and no as '
                                               "true or false: quote the spoken name ('on')")
            spoken = str(spoken).strip()
            if not spoken or not all(ch.isalnum() or ch in " '-" for ch in spoken):
                raise error(f'{where}.values', f'{spoken!r}: a spoken name is words '
                                               '(letters, digits, spaces)')
            pairs.append((spoken.lower(), _with_heading(mapped)))
        slots.append(SlotSpec(slot_name, tuple(pairs)))
    return tuple(slots)


def _with_heading(value: Any) -> Any:
    """A place with a numeric yaw (radians) also gets qz and qw, its heading as a quaternion."""
    if isinstance(value, Mapping) and isinstance(value.get('yaw'), (int, float)) \
            and not isinstance(value.get('yaw'), bool):
        extra = {'qz': math.sin(value['yaw'] / 2.0), 'qw': math.cos(value['yaw'] / 2.0)}
        return {**extra, **value}
    return value


def _rule_names(expression) -> list[str]:
    if isinstance(expression, RuleReference):
        return [expression.rule_name]
    if isinstance(expression, Group):
        return [name for item in expression.items for name in _rule_names(item)]
    return []


def _parse_sentences(value: Any, slots: tuple[SlotSpec, ...], error) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise error('sentences', 'must be a non-empty list of sentence templates, e.g. '
                                 '"(go|drive) to [the] {place}"')
    declared = {slot.name for slot in slots}
    for index, text in enumerate(value):
        where = f'sentences[{index}]'
        try:
            sentence = parse_sentence(text)
        except Exception as exc:   # hassil raises its ParseError (and others) for bad syntax
            raise error(where, f'{text!r} is not a valid template: {exc}') from None
        rules = _rule_names(sentence.expression)
        if rules:
            raise error(where, f'<{rules[0]}> : expansion rules are not supported in skills.yaml')
        used = set(sentence.list_names())
        if used - declared:
            raise error(where, f'slot {sorted(used - declared)[0]!r} is not declared under slots '
                               f'(declared: {", ".join(sorted(declared)) or "none"})')
        if declared - used:
            raise error(where, f'does not say slot {sorted(declared - used)[0]!r}: every sentence must '
                               'name every slot, or the effect could not be filled')
    return tuple(' '.join(text.split()) for text in value)


def _parse_effect(kind: str, body: Any, slots: tuple[SlotSpec, ...], error) -> EffectSpec:
    name_key, fields_key, timeouts = EFFECT_KEYS[kind]
    allowed = ('type', name_key) + ((fields_key,) if fields_key else ()) + tuple(timeouts) \
        + (('field',) if kind == 'read' else ())
    if not isinstance(body, Mapping):
        raise error(kind, f'must be a mapping with {", ".join(allowed)}')
    for key in body:
        if key not in allowed:
            raise error(f'{kind}.{key}', f'unknown field ({_a(kind)} has {", ".join(allowed)})')
    type_ = body.get('type')
    if not isinstance(type_, str) or not _TYPE.fullmatch(type_) or _TYPE.fullmatch(type_).group(1) != \
            TYPE_KIND[kind]:
        example = {'action': 'nav2_msgs/action/NavigateToPose', 'srv': 'std_srvs/srv/Trigger',
                   'msg': 'sensor_msgs/msg/BatteryState'}[TYPE_KIND[kind]]
        raise error(f'{kind}.type', f'must be package/{TYPE_KIND[kind]}/Name, e.g. {example}, '
                                    f'got {type_!r}')
    ros_name = body.get(name_key)
    if not isinstance(ros_name, str) or not _ROS_NAME.fullmatch(ros_name):
        raise error(f'{kind}.{name_key}', f'must be a ROS name like navigate_to_pose or /robot/battery, '
                                          f'got {ros_name!r}')
    fields: list[tuple[str, Any]] = []
    if fields_key:
        raw = body.get(fields_key) or {}
        if not isinstance(raw, Mapping):
            raise error(f'{kind}.{fields_key}', f'must map field paths to values, got {raw!r}')
        for path, value in flatten(raw).items():
            where = f'{kind}.{fields_key}.{path}'
            if not _FIELD.fullmatch(path):
                raise error(where, 'a field path is lower_case names joined by dots, '
                                   'e.g. pose.pose.position.x')
            fields.append((path, _field_value(value, slots, where, error)))
    field = ''
    if kind == 'read':
        field = body.get('field')
        if not isinstance(field, str) or not _FIELD.fullmatch(field):
            raise error('read.field', f'must name the message field to say, e.g. percentage, got {field!r}')
    seconds = {}
    for key, default in timeouts.items():
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise error(f'{kind}.{key}', f'must be a number of seconds > 0, got {value!r}')
        seconds[key] = float(value)
    return EffectSpec(kind, type_, ros_name, tuple(fields), field, **seconds)


def _field_value(value: Any, slots: tuple[SlotSpec, ...], where: str, error) -> Any:
    """A field's template (checked against the slots), or its constant."""
    if isinstance(value, list):
        return tuple(_field_value(item, slots, f'{where}[{i}]', error) for i, item in enumerate(value))
    if not isinstance(value, str):
        return value
    template = _template(value, where, error)
    _check_placeholders(template, slots, (), where, error)
    return template if template.placeholders else template.render({})


def _parse_replies(kind: str, value: Any, slots: tuple[SlotSpec, ...],
                   error, complete: bool = True) -> tuple[tuple[str, Template], ...]:
    """The replies; complete=False (a language block): each may be left out, the English one is said."""
    required = REQUIRED_REPLIES[kind]
    needed = required if complete else ()
    if not isinstance(value, Mapping):
        raise error('replies', f'give the spoken replies {", ".join(required)}'
                               + (' (and optionally feedback)' if kind == 'action' else ''))
    for key in value:
        if key not in REPLIES or (key in ('accepted', 'feedback', 'cancelled') and kind != 'action'):
            allowed = required + (('feedback',) if kind == 'action' else ())
            raise error(f'replies.{key}', f'unknown reply for {_a(kind)} (it has {", ".join(allowed)})')
    missing = [key for key in needed if value.get(key) is None or value.get(key) == '']
    if missing:
        raise error(f'replies.{missing[0]}', f'missing: {_a(kind)} skill says {", ".join(required)} '
                                             '(each a non-empty sentence)')
    replies = []
    for key in REPLIES:
        if key in value:
            if not isinstance(value[key], str) or not value[key].strip():
                raise error(f'replies.{key}', f'must be a sentence, got {value[key]!r} (quote it: YAML reads '
                                              'no, yes, on, off and numbers as other things)')
            template = _template(' '.join(value[key].split()), f'replies.{key}', error)
            _check_placeholders(template, slots, REPLY_VALUES.get((kind, key), ()), f'replies.{key}', error)
            replies.append((key, template))
    return tuple(replies)


def _a(kind: str) -> str:
    return f'an {kind}' if kind == 'action' else f'a {kind}'


def _template(text: str, where: str, error) -> Template:
    try:
        return parse(text)
    except TemplateError as exc:
        raise error(where, str(exc)) from None


def _check_placeholders(template: Template, slots: tuple[SlotSpec, ...], extra: tuple[str, ...], where: str,
                        error) -> None:
    """Each placeholder is a declared slot (whose every value has the key it reads) or an effect value."""
    by_name = {slot.name: slot for slot in slots}
    for dotted in template.placeholders:
        head, *keys = dotted.split('.')
        if head in extra:
            continue
        if head not in by_name:
            known = sorted(by_name) + list(extra)
            raise error(where, f'{{{dotted}}}: slot {head!r} is not declared under slots '
                               f'(here one can use: {", ".join(known) or "nothing"})')
        slot = by_name[head]
        if keys and slot.range is not None:
            raise error(where, f'{{{dotted}}}: {head!r} is a number, it has no {keys[0]!r}')
        for spoken, mapped in slot.values if keys else ():
            node = mapped
            for key in keys:
                if not isinstance(node, Mapping) or key not in node:
                    raise error(where, f'{{{dotted}}}: slots.{head}.values.{spoken} has no {key!r}')
                node = node[key]
