"""Declare a node's parameters from a frozen config dataclass, validated once.

The config dataclasses live in each package's pure ``core/`` and carry, per field, a
``description`` in the field metadata. A nested dataclass field becomes a dotted prefix
(``llm.endpoint``). The node reads its parameters once, here; the dataclass's own
``__post_init__`` rejects bad values with a clear message.

Every parameter is read-only (``ros2 param set`` is refused: restart the node with the new
value) unless its field says ``dynamic: True`` in its metadata: those are the ones a person
tunes live, and ``watch_config`` applies a change to them at run time after validating the
whole config again, exactly as at start-up, or refuses it with the dataclass's message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Callable

from rcl_interfaces.msg import ParameterDescriptor, ParameterType, SetParametersResult
from rclpy.parameter import Parameter

_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}
_ARRAY_TYPES = {
    bool: ParameterType.PARAMETER_BOOL_ARRAY,
    int: ParameterType.PARAMETER_INTEGER_ARRAY,
    float: ParameterType.PARAMETER_DOUBLE_ARRAY,
    str: ParameterType.PARAMETER_STRING_ARRAY,
}


class ConfigError(ValueError):
    """A parameter value was rejected at start-up."""


READ_ONLY_NOTE = ' (read-only: restart the node to change it)'


def dynamic_parameters(config_cls, prefix: str = '') -> list[str]:
    """The dotted names of the fields marked dynamic (settable at run time)."""
    hints = typing.get_type_hints(config_cls)
    names = []
    for field in dataclasses.fields(config_cls):
        if dataclasses.is_dataclass(hints[field.name]):
            names += dynamic_parameters(hints[field.name], f'{prefix}{field.name}.')
        elif field.metadata.get('dynamic', False):
            names.append(prefix + field.name)
    return names


def with_changes(config, changes: dict[str, object]):
    """A copy of config with dotted-name changes, validated by the dataclasses' __post_init__."""
    nested: dict[str, dict] = {}
    flat = {}
    for name, value in changes.items():
        head, _, rest = name.partition('.')
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            current = getattr(config, head)
            flat[head] = tuple(value) if isinstance(current, tuple) else value
    for head, sub in nested.items():
        flat[head] = with_changes(getattr(config, head), sub)
    return dataclasses.replace(config, **flat)


def watch_config(node, config, apply: Callable[[object], None]) -> None:
    """Apply `ros2 param set` of the dynamic parameters: apply(new_config), or refuse with the reason.

    Read-only parameters are refused by rclpy itself before this runs.
    """
    current = [config]

    def on_set(parameters: list[Parameter]) -> SetParametersResult:
        try:
            new = with_changes(current[0], {p.name: p.value for p in parameters})
        except (TypeError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=f'rejected: {exc}')
        current[0] = new
        apply(new)
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)


def _ros_type(annotation) -> tuple[int, type | None]:
    """Map a field annotation to (ROS parameter type, element type for arrays)."""
    origin = typing.get_origin(annotation)
    if origin in (tuple, list):
        element = typing.get_args(annotation)[0]
        return _ARRAY_TYPES[element], element
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f'optional parameters are not supported: {annotation}')
    return _TYPES[annotation], None


def declare_config(node, config_cls, prefix: str = ''):
    """Declare every field of config_cls on node and return the validated instance.

    Raises ConfigError naming the parameter when a value has the wrong type or the
    dataclass rejects it.
    """
    hints = typing.get_type_hints(config_cls)
    values = {}
    for field in dataclasses.fields(config_cls):
        name = prefix + field.name
        annotation = hints[field.name]
        if dataclasses.is_dataclass(annotation):
            values[field.name] = declare_config(node, annotation, name + '.')
            continue
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        ros_type, element = _ros_type(annotation)
        dynamic = field.metadata.get('dynamic', False)
        descriptor = ParameterDescriptor(
            name=name, type=ros_type,
            description=field.metadata.get('description', '') + ('' if dynamic else READ_ONLY_NOTE),
            read_only=not dynamic)
        default_value = list(default) if element is not None else default
        if default_value == []:
            # rclpy types a parameter by its default, and takes [] for a byte array: declare
            # the type itself instead (the value stays unset unless a file or override sets it).
            default_value = Parameter.Type(ros_type)
        try:
            value = node.declare_parameter(name, default_value, descriptor).value
        except Exception as exc:  # rclpy raises several types for a wrong type
            raise ConfigError(
                f"parameter {node.get_namespace()}/{node.get_name()}:{name}: {exc}") from exc
        if element is not None:
            value = tuple(default if value is None else value)
        values[field.name] = value
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        where = f' under {prefix}' if prefix else ''
        raise ConfigError(f'{node.get_name()}: invalid parameters{where}: {exc}') from exc
