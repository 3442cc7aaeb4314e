"""A skills file against the robot's ROS types, at start-up: the brain calls ``check_types``.

spec.py checks what it can without the types; this checks what needs them, once, before any
person asks: every goal, request or message field a skill fills exists in its type and takes
every value the skill can give it (each constant, and the value each slot value gives a
``{slot...}`` field), and a read skill's field exists. Rules, each a case in test_skills_check:
- a type that resolves: a field it does not have, or a value it cannot take, is a
  SkillSpecError naming the file, the skill, the field and the slot value that gives it (the
  brain stops, as for any other mistake in the file);
- a type that does not resolve (its package is not installed on this computer) is a warning
  naming the skill and the type: the skill stays, and says it cannot when asked, as it would
  anyway (the robot's interfaces may be installed later, or the brain run apart from them).

Types are imported by name (heisenberg_common.messages: importlib, no rclpy).
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator

from heisenberg_brain.core.skills.spec import EFFECT_KEYS, TYPE_KIND, SkillSpec, SkillSpecError
from heisenberg_brain.core.skills.template import Named, Template, TemplateError, field_value, nest
from heisenberg_common.messages import FieldError, TypeNotFound, field_type, fill, resolve

# Slot value combinations tried per field: a field uses one or two slots; a bound keeps a
# pathological file from taking long.
MAX_COMBINATIONS = 1000


def check_types(skills: Iterable[SkillSpec]) -> list[str]:
    """Check each skill's effect against its type; the warnings (types not installed), in order."""
    warnings = []
    for skill in skills:
        where = f"{skill.origin}: skill '{skill.name}': {skill.effect.kind}"
        try:
            cls = _fields_type(skill)
        except TypeNotFound as exc:
            warnings.append(f'{where}.type: {exc}: this computer lacks the type, so the skill will say it '
                            'cannot do that until it is installed')
            continue
        fields_key = EFFECT_KEYS[skill.effect.kind][1]
        for path, value in skill.effect.fields:
            try:
                field_type(cls, path)
            except FieldError as exc:
                raise SkillSpecError(f'{where}.{fields_key}.{path}: {exc}') from None
            for given_by, candidate in _candidates(skill, value):
                try:
                    fill(cls, nest({path: candidate}))
                except FieldError as exc:
                    by = f' (given by {given_by})' if given_by else ''
                    raise SkillSpecError(f'{where}.{fields_key}.{path}: {exc}{by}') from None
        if skill.effect.kind == 'read':
            try:
                field_type(cls, skill.effect.field)
            except FieldError as exc:
                raise SkillSpecError(f'{where}.field: {exc}') from None
    return warnings


def _fields_type(skill: SkillSpec) -> type:
    """What the skill fills or reads: an action's Goal, a service's Request, or the message."""
    effect = skill.effect
    cls = resolve(effect.type, TYPE_KIND[effect.kind])
    if effect.kind == 'action':
        return cls.Goal
    if effect.kind == 'service':
        return cls.Request
    return cls


def _candidates(skill: SkillSpec, value: Any) -> Iterator[tuple[str, Any]]:
    """(which slot values give it, the field's value) for every value the field can take."""
    used = sorted({name.split('.')[0] for template in _templates(value) for name in template.placeholders})
    slots = [skill.slot(name) for name in used if any(slot.name == name for slot in skill.slots)]
    choices = [[(slot.name, spoken, Named(spoken, fields)) for spoken, fields in slot.values]
               if slot.range is None else [(slot.name, number, number) for number in slot.range]
               for slot in slots]
    for combination in itertools.islice(itertools.product(*choices), MAX_COMBINATIONS):
        values = {name: given for name, _, given in combination}
        try:
            candidate = field_value(value, values)
        except TemplateError:
            continue   # spec.py has already said what a slot value lacks
        yield ', '.join(f'{name} {spoken!r}' for name, spoken, _ in combination), candidate


def _templates(value: Any) -> list[Template]:
    if isinstance(value, Template):
        return [value]
    if isinstance(value, tuple):
        return [item for item in value if isinstance(item, Template)]
    return []
