"""The shipped parameter file applies under any namespace, as launch and several robots need.

Its sections are keyed /**/<node>, so a node under another namespace (namespace:=robot1, an
including launch's PushRosNamespace) gets them without the file being rewritten.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from heisenberg_brain.core.config import LLMConfig
from heisenberg_testing.processes import NodeProcess
from heisenberg_testing.ros_client import RosClient, remote_parameters

CONFIG = Path(__file__).resolve().parent.parent / 'config' / 'assistant.yaml'


@pytest.mark.parametrize('namespace', ['heisenberg', 'robot1/heisenberg'])
def test_the_brain_takes_the_shipped_values_under_any_namespace(tmp_path, namespace):
    node = NodeProcess('heisenberg_brain.nodes.brain', 'brain', namespace=namespace, params_files=(CONFIG,),
                       log_dir=tmp_path)
    try:
        with RosClient(namespace=namespace) as ros:
            params = remote_parameters(ros.node, f'/{namespace}/brain')
            values = ros.result_of(params.get_parameters(['llm.temperature', 'llm.endpoint']), 10).values
    finally:
        node.stop()
    shipped = yaml.safe_load(CONFIG.read_text())['/**/brain']['ros__parameters']['llm']
    defaults = LLMConfig()
    assert (shipped['temperature'], shipped['endpoint']) != (defaults.temperature, defaults.endpoint)
    # The file's values, not the dataclass defaults
    assert (values[0].double_value, values[1].string_value) == (shipped['temperature'], shipped['endpoint'])
