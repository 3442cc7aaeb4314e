"""ROS interface types by name, messages filled from nested dicts, and dotted fields read back.

For code that learns its types from configuration (the brain's skills): ``pkg/msg/Name``,
``pkg/srv/Name`` and ``pkg/action/Name`` are imported at run time (rosidl_runtime_py, which
does this upstream, is not among the Kilted wheels on PyPI).

``fill`` checks every value itself: the generated setters check types only when
ROS_PYTHON_CHECK_FIELDS is set (off by default since Jazzy), so a wrong value would otherwise
pass here and fail, or be silently converted, at serialization. Rules:
- a nested message takes a mapping (or a message of its type); an unknown field is an error;
- an int is accepted for a float field (YAML's ``1`` for ``1.0``), never a bool for a number;
- integers must fit their type; ``octet``/``byte`` takes an int 0..255 (or one byte), ``char``
  one character;
- sequences and arrays take a list (an array its exact length, a bounded sequence at most its
  bound), each item by the same rules; strings take only str.
Errors are ``FieldError`` naming the field's dotted path.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Mapping

KINDS = ('msg', 'srv', 'action')
_TYPE_NAME = re.compile(r'([A-Za-z][A-Za-z0-9_]*)/(msg|srv|action)/([A-Z][A-Za-z0-9]*)')
_INT_RANGES = {'int8': (-2 ** 7, 2 ** 7 - 1), 'uint8': (0, 2 ** 8 - 1),
               'int16': (-2 ** 15, 2 ** 15 - 1), 'uint16': (0, 2 ** 16 - 1),
               'int32': (-2 ** 31, 2 ** 31 - 1), 'uint32': (0, 2 ** 32 - 1),
               'int64': (-2 ** 63, 2 ** 63 - 1), 'uint64': (0, 2 ** 64 - 1)}
_FLOATS = ('float', 'double', 'long double')
_SEQUENCE = re.compile(r'sequence<(.+?)(?:, *(\d+))?>')
_ARRAY = re.compile(r'(.+)\[(\d+)\]')


class TypeNotFound(LookupError):
    """A type name that is malformed, or whose package or type is not installed."""


class FieldError(ValueError):
    """A value that does not fit the message: ``path`` is the dotted field, ``problem`` what is wrong."""

    def __init__(self, type_name: str, path: str, problem: str):
        super().__init__(f'{type_name}: field {path!r} {problem}')
        self.type_name = type_name
        self.path = path
        self.problem = problem


def resolve(type_name: str, kind: str | None = None) -> type:
    """The class of 'pkg/msg/Name' (or srv, action); kind, if given, must be the middle part."""
    match = _TYPE_NAME.fullmatch(type_name)
    if match is None or (kind is not None and match.group(2) != kind):
        middle = kind or '|'.join(KINDS)
        raise TypeNotFound(f'{type_name!r} is not a type name like package/{middle}/Name')
    package, middle, name = match.groups()
    try:
        module = importlib.import_module(f'{package}.{middle}')
    except ImportError as exc:
        raise TypeNotFound(f'{type_name}: package {package} is not installed ({exc})') from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise TypeNotFound(f'{type_name}: {package}.{middle} has no type {name}')
    return cls


def type_name_of(message: Any) -> str:
    """'pkg/msg/Name' of a message class or instance (for errors)."""
    cls = message if isinstance(message, type) else type(message)
    parts = cls.__module__.split('.')
    return f'{parts[0]}/{parts[1]}/{cls.__name__}' if len(parts) > 1 else cls.__name__


def fill(cls: type, fields: Mapping[str, Any]) -> Any:
    """A new message of cls with fields (nested mappings) set; FieldError names a field that does not fit."""
    return _fill(cls, fields, type_name_of(cls), '')


def field_type(cls: type, path: str) -> str:
    """The ROS type of a dotted field of cls ('header.frame_id' -> 'string'; a number is a list's item)."""
    type_name = type_name_of(cls)
    current: str | None = None   # the type of the field walked so far
    walked: list[str] = []
    for part in path.split('.'):
        here = '.'.join(walked + [part])
        if current is not None and part.isdigit():
            listed = _SEQUENCE.fullmatch(current) or _ARRAY.fullmatch(current)
            if listed is None:
                raise FieldError(type_name, here, f'is an item of {".".join(walked)}, which is not a list')
            current = listed.group(1)
        else:
            if current is not None:
                if _SEQUENCE.fullmatch(current) or _ARRAY.fullmatch(current):
                    raise FieldError(type_name, here, f'is not an item number ({".".join(walked)} is a list)')
                package, _, name = current.partition('/')
                if not name:
                    raise FieldError(type_name, here, f'does not exist ({".".join(walked)} is a {current})')
                cls = resolve(f'{package}/msg/{name}')
            types = cls.get_fields_and_field_types()
            if part not in types:
                raise FieldError(type_name, here, f'does not exist (a {cls.__name__} has {", ".join(types)})')
            current = types[part]
        walked.append(part)
    return current


def read(message: Any, path: str) -> Any:
    """The value at a dotted path ('header.frame_id'; a number indexes a sequence), as plain Python."""
    value = message
    walked = []
    for part in path.split('.'):
        if part.isdigit() and not hasattr(value, 'get_fields_and_field_types'):
            try:
                value = value[int(part)]
            except (IndexError, TypeError):
                raise FieldError(type_name_of(message), '.'.join(walked + [part]),
                                 'is past the end of the sequence') from None
        else:
            fields = getattr(value, 'get_fields_and_field_types', None)
            if fields is None or part not in fields():
                raise FieldError(type_name_of(message), '.'.join(walked + [part]), 'does not exist')
            value = getattr(value, part)
        walked.append(part)
    return value.tolist() if hasattr(value, 'tolist') else value


def _fill(cls: type, fields: Any, type_name: str, prefix: str) -> Any:
    if isinstance(fields, cls):
        return fields
    if not isinstance(fields, Mapping):
        raise FieldError(type_name, prefix.rstrip('.') or '(message)',
                         f'takes a mapping of fields, not {fields!r}')
    message = cls()
    types = cls.get_fields_and_field_types()
    for name, value in fields.items():
        path = prefix + str(name)
        if name not in types:
            raise FieldError(type_name, path, f'does not exist (a {cls.__name__} has {", ".join(types)})')
        setattr(message, name, _value(types[name], value, type_name, path))
    return message


def _value(field_type: str, value: Any, type_name: str, path: str) -> Any:
    sequence = _SEQUENCE.fullmatch(field_type)
    array = _ARRAY.fullmatch(field_type) if sequence is None else None
    if sequence or array:
        item_type = (sequence or array).group(1)
        if not isinstance(value, (list, tuple)):
            raise FieldError(type_name, path, f'takes a list, not {value!r}')
        if array and len(value) != int(array.group(2)):
            raise FieldError(type_name, path, f'takes exactly {array.group(2)} items, not {len(value)}')
        if sequence and sequence.group(2) and len(value) > int(sequence.group(2)):
            raise FieldError(type_name, path, f'takes at most {sequence.group(2)} items, not {len(value)}')
        return [_value(item_type, item, type_name, f'{path}[{index}]') for index, item in enumerate(value)]
    if field_type == 'boolean':
        if not isinstance(value, bool):
            raise FieldError(type_name, path, f'takes true or false, not {value!r}')
        return value
    if field_type in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldError(type_name, path, f'takes a number, not {value!r}')
        return float(value)
    if field_type in _INT_RANGES:
        low, high = _INT_RANGES[field_type]
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError(type_name, path, f'takes a whole number, not {value!r}')
        if not low <= value <= high:
            raise FieldError(type_name, path, f'takes {low} to {high} ({field_type}), not {value}')
        return value
    if field_type in ('octet', 'byte'):
        if isinstance(value, bytes) and len(value) == 1:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
            raise FieldError(type_name, path, f'takes a byte (0 to 255), not {value!r}')
        return bytes([value])
    if field_type == 'char':
        if not isinstance(value, str) or len(value) != 1:
            raise FieldError(type_name, path, f'takes one character, not {value!r}')
        return value
    if field_type.split('<=')[0] in ('string', 'wstring'):
        if not isinstance(value, str):
            raise FieldError(type_name, path, f'takes text, not {value!r}')
        bound = field_type.partition('<=')[2]
        if bound and len(value) > int(bound):
            raise FieldError(type_name, path, f'takes at most {bound} characters, not {len(value)}')
        return value
    package, _, name = field_type.partition('/')
    if not name:
        raise FieldError(type_name, path, f'has a type this filler does not know: {field_type}')
    return _fill(resolve(f'{package}/msg/{name}'), value, type_name, path + '.')
