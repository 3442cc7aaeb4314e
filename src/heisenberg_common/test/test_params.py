"""declare_config: dataclass fields become described, typed, validated parameters."""

import dataclasses

import pytest
import rclpy
from rclpy.parameter import Parameter

from heisenberg_common.params import (
    READ_ONLY_NOTE, ConfigError, declare_config, dynamic_parameters, watch_config, with_changes)


@dataclasses.dataclass(frozen=True)
class Inner:
    endpoint: str = dataclasses.field(default='http://127.0.0.1:8080', metadata={'description': 'where'})


@dataclasses.dataclass(frozen=True)
class Outer:
    rate: int = dataclasses.field(default=16000, metadata={'description': 'sample rate [Hz]'})
    gain: float = 1.0
    words: tuple[str, ...] = ('a', 'b')
    extra: tuple[str, ...] = ()
    inner: Inner = dataclasses.field(default_factory=Inner)

    def __post_init__(self):
        if self.rate <= 0:
            raise ValueError(f'rate must be > 0, got {self.rate}')


@pytest.fixture
def context():
    rclpy.init()
    yield
    rclpy.try_shutdown()


def test_defaults_and_descriptions(context):
    node = rclpy.create_node('params_test')
    config = declare_config(node, Outer)
    assert config == Outer()
    assert isinstance(config.words, tuple)
    described = node.describe_parameters(['rate', 'inner.endpoint'])
    assert described[0].description == 'sample rate [Hz]' + READ_ONLY_NOTE
    assert described[1].description == 'where' + READ_ONLY_NOTE
    node.destroy_node()


def test_overrides_are_used(context):
    node = rclpy.create_node('params_test', parameter_overrides=[
        Parameter('rate', value=22050), Parameter('inner.endpoint', value='http://x'),
        Parameter('words', value=['z'])])
    config = declare_config(node, Outer)
    assert (config.rate, config.inner.endpoint, config.words) == (22050, 'http://x', ('z',))
    node.destroy_node()


def test_an_empty_list_default_takes_a_list_from_the_parameter_file(context):
    # An empty default says nothing of its element type (rclpy would take it for a byte array
    # and refuse the strings a YAML file gives).
    node = rclpy.create_node('params_test', parameter_overrides=[
        Parameter('extra', value=['--cache-reuse', '32'])])
    assert declare_config(node, Outer).extra == ('--cache-reuse', '32')
    node.destroy_node()
    node = rclpy.create_node('params_test')
    assert declare_config(node, Outer).extra == ()
    assert node.describe_parameters(['extra'])[0].type == Parameter.Type.STRING_ARRAY.value
    node.destroy_node()


@pytest.mark.parametrize('override, message', [
    (Parameter('rate', value=-1), 'rate must be > 0'),
    (Parameter('rate', value='fast'), 'rate'),
])
def test_bad_values_are_rejected_by_name(context, override, message):
    node = rclpy.create_node('params_test', parameter_overrides=[override])
    with pytest.raises(ConfigError, match=message):
        declare_config(node, Outer)
    node.destroy_node()


@dataclasses.dataclass(frozen=True)
class Tunable:
    volume: float = dataclasses.field(default=0.5, metadata={'description': 'loudness', 'dynamic': True})
    device: str = dataclasses.field(default='hw:0', metadata={'description': 'output device'})
    inner: Inner = dataclasses.field(default_factory=Inner)

    def __post_init__(self):
        if not 0.0 <= self.volume <= 1.0:
            raise ValueError(f'volume must be in [0, 1], got {self.volume}')


def test_only_dynamic_fields_are_writable_and_say_so(context):
    node = rclpy.create_node('params_test')
    declare_config(node, Tunable)
    volume, device, endpoint = node.describe_parameters(['volume', 'device', 'inner.endpoint'])
    assert not volume.read_only and volume.description == 'loudness'
    assert device.read_only and device.description == 'output device' + READ_ONLY_NOTE
    assert endpoint.read_only
    assert dynamic_parameters(Tunable) == ['volume']
    node.destroy_node()


@pytest.mark.parametrize('name, value, accepted, reason', [
    ('volume', 0.8, True, ''),
    ('volume', 1.5, False, 'volume must be in [0, 1], got 1.5'),
    ('volume', 'loud', False, 'type'),
    ('device', 'hw:1', False, 'read-only'),
    ('inner.endpoint', 'http://elsewhere', False, 'read-only'),
])
def test_a_live_change_is_applied_validated_or_refused_with_its_reason(context, name, value, accepted,
                                                                       reason):
    node = rclpy.create_node('params_test')
    applied = []
    watch_config(node, declare_config(node, Tunable), applied.append)
    [result] = node.set_parameters([Parameter(name, value=value)])
    assert result.successful == accepted, result.reason
    assert reason.lower() in result.reason.lower()
    if accepted:
        assert applied == [Tunable(volume=value)]
        assert node.get_parameter(name).value == value
    else:
        defaults = {'volume': 0.5, 'device': 'hw:0', 'inner.endpoint': Inner().endpoint}
        assert applied == [] and node.get_parameter(name).value == defaults[name]
    node.destroy_node()


def test_with_changes_reaches_nested_fields_and_validates():
    assert with_changes(Outer(), {'inner.endpoint': 'http://x', 'rate': 8000}) == \
        Outer(rate=8000, inner=Inner(endpoint='http://x'))
    with pytest.raises(ValueError, match='rate must be > 0'):
        with_changes(Outer(), {'rate': 0})
