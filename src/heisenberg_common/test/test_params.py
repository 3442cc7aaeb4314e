"""declare_config: dataclass fields become described, typed, validated parameters."""

import dataclasses

import pytest
import rclpy
from rclpy.parameter import Parameter

from heisenberg_common.params import ConfigError, declare_config


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
    assert described[0].description == 'sample rate [Hz]'
    assert described[1].description == 'where'
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
