"""The small template syntax of skills.yaml: ``{name}``, ``{name.key.key}``, ``{name:format}``.

One syntax for two uses, so a robot's author learns it once:
- a reply ("Going to the {place}.", "My battery is at {value:.0%}.") is text: every
  placeholder is formatted into it (Python's format spec after a colon; ``{{`` is a brace);
- a goal, request or message field ("pose.pose.position.x: '{place.x}'") that is exactly one
  placeholder keeps the value's own type (a float stays a float for the message); any other
  string is formatted as text, and a number, bool or list written in the YAML is a constant.

A dotted name goes into a slot's value (``place.x`` is the kitchen's x), a mapping, or an
object's attribute (feedback and results may be ROS messages or dicts); ``{place}`` alone is
the word the person said (the slot value's name).
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any, Mapping

_FORMATTER = string.Formatter()


class TemplateError(ValueError):
    """A template that cannot be parsed, or a placeholder that has no value."""


@dataclasses.dataclass(frozen=True)
class Named:
    """A slot's value: the word that was said, and what the YAML maps it to (may be empty)."""

    name: Any
    fields: Any = None

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@dataclasses.dataclass(frozen=True)
class Template:
    """A parsed template string; ``placeholders`` are the dotted names it uses."""

    text: str
    parts: tuple[tuple[str, str | None, str], ...]   # (literal, dotted name or None, format spec)

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(name for _, name, _ in self.parts if name is not None)

    @property
    def whole(self) -> str | None:
        """The dotted name when the template is exactly one placeholder without a format, else None."""
        if len(self.parts) == 1 and self.parts[0][0] == '' and self.parts[0][1] is not None \
                and not self.parts[0][2]:
            return self.parts[0][1]
        return None

    def render(self, values: Mapping[str, Any]) -> str:
        """The text with every placeholder formatted; TemplateError names a missing one."""
        out = []
        for literal, name, spec in self.parts:
            out.append(literal)
            if name is not None:
                value = resolve(name, values)
                try:
                    out.append(format(value, spec))
                except (TypeError, ValueError):
                    out.append(str(value))   # a spec that does not fit the value's type: say it plainly
        return ''.join(out)

    def value(self, values: Mapping[str, Any]) -> Any:
        """The value a field gets: the placeholder's own value when whole, else the rendered text."""
        name = self.whole
        if name is not None:
            value = resolve(name, values)
            return value.name if isinstance(value, Named) else value
        return self.render(values)


def parse(text: str) -> Template:
    """Parse a template; TemplateError says what is wrong with it."""
    try:
        raw = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise TemplateError(f'bad template {text!r}: {exc} (write {{{{ for a literal brace)') from None
    parts = []
    for literal, field, spec, conversion in raw:
        if field is None:
            parts.append((literal, None, ''))
            continue
        if conversion:
            raise TemplateError(f'bad placeholder {{{field}!{conversion}}} in {text!r}: no !conversions')
        if not field or '[' in field or any(not piece.isidentifier() for piece in field.split('.')):
            raise TemplateError(f'bad placeholder {{{field}}} in {text!r}: use {{name}} or {{name.key}}')
        if '{' in (spec or ''):
            raise TemplateError(f'bad placeholder {{{field}:{spec}}} in {text!r}: no nested placeholders')
        parts.append((literal, field, spec or ''))
    return Template(text, tuple(parts))


def resolve(dotted: str, values: Mapping[str, Any]) -> Any:
    """The value of a dotted name: into slot values, mappings and attributes."""
    head, *rest = dotted.split('.')
    if head not in values:
        raise TemplateError(f'no value for {{{dotted}}}')
    value = values[head]
    for depth, key in enumerate(rest):
        if isinstance(value, Named):
            value = value.fields
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif not isinstance(value, Mapping) and not key.startswith('_') and hasattr(value, key):
            value = getattr(value, key)
        else:
            where = '.'.join([head, *rest[:depth]])
            raise TemplateError(f'no value for {{{dotted}}}: {where} has no {key!r}')
    return value


def field_value(value: Any, values: Mapping[str, Any]) -> Any:
    """A goal, request or message field's value: a template filled, a list item by item, a constant as is."""
    if isinstance(value, Template):
        return value.value(values)
    if isinstance(value, tuple):
        return [field_value(item, values) for item in value]
    return value


def nest(flat: Mapping[str, Any]) -> dict:
    """{'pose.pose.position.x': 1.0} -> {'pose': {'pose': {'position': {'x': 1.0}}}}."""
    nested: dict = {}
    for path, value in flat.items():
        *parents, leaf = path.split('.')
        node = nested
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return nested


def flatten(tree: Mapping[str, Any], prefix: str = '') -> dict[str, Any]:
    """The inverse of nest: nested mappings in the YAML become dotted paths."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f'{prefix}{key}'
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path + '.'))
        else:
            flat[path] = value
    return flat
