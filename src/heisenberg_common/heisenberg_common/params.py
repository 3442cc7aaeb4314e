"""Declare a node's parameters from a frozen config dataclass, validated once.

The config dataclasses live in each package's pure ``core/`` and carry, per field, a
``description`` in the field metadata (and optionally ``read_only``). A nested dataclass
field becomes a dotted prefix (``llm.endpoint``). The node reads its parameters once,
here; the dataclass's own ``__post_init__`` rejects bad values with a clear message.
"""

from __future__ import annotations

import dataclasses
import types
import typing

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
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
        descriptor = ParameterDescriptor(
            name=name, type=ros_type,
            description=field.metadata.get('description', ''),
            read_only=field.metadata.get('read_only', False))
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
