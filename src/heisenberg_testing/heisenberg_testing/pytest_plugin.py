"""The pytest plugin of the Heisenberg tests: an isolated ROS domain, and the real parts they share.

Loaded by every pytest run where heisenberg_testing is installed (its pytest11 entry point), so
a package's tests run alone (``colcon test --packages-select heisenberg_brain``) as they do
in the whole suite (``scripts/test.sh``). Every session takes a ROS_DOMAIN_ID of its own with
localhost-only discovery (heisenberg_testing.domains); the models are the set-up's, under
$HEISENBERG_MODELS.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heisenberg_common.model_paths import models_dir as _models_dir
from heisenberg_testing.domains import isolate


MARKERS = {
    'llm': 'needs the real llama-server and the registry GGUF',
    'models': 'needs the real audio models from models/',
    'launch': 'needs launch_pytest (skipped where not importable)',
}


def pytest_configure(config):
    for name, meaning in MARKERS.items():
        config.addinivalue_line('markers', f'{name}: {meaning}')
    isolate(log_dir=Path(os.environ.get('HEISENBERG_ROOT', Path.cwd())) / 'log' / 'ros-tests')


@pytest.fixture(scope='session')
def models_dir() -> Path:
    return _models_dir().resolve()


@pytest.fixture(scope='session')
def gguf_path(models_dir) -> Path:
    return models_dir / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'


@pytest.fixture(scope='session')
def llama_server(gguf_path, tmp_path_factory):
    """A real llama-server on a free loopback port serving the registry GGUF."""
    from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
    config = LlamaServerConfig(model_path=str(gguf_path), port=0, context_size=4096)
    server = LlamaServerProcess(config, log_path=tmp_path_factory.mktemp('llama') / 'llama-server.log')
    with server:
        yield server


@pytest.fixture(scope='session')
def speech(models_dir):
    """Synthesize test speech with the Piper voice: speech.say(text) -> 16 kHz int16 array."""
    from heisenberg_testing.speech import Speech
    return Speech(models_dir / 'piper' / 'en_US-joe-medium.onnx')
