"""Session-wide test set-up: an isolated ROS domain, and the real parts tests share.

Every pytest session takes a ROS_DOMAIN_ID of its own (a lock file per domain), with
discovery limited to localhost, so two runs on one machine never cross-talk. Child
processes (nodes started by tests) inherit it through the environment.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
MODELS = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
_domain_lock = None


def _claim_ros_domain() -> int:
    global _domain_lock
    lock_dir = Path(tempfile.gettempdir()) / 'heisenberg-ros-domains'
    lock_dir.mkdir(exist_ok=True)
    for domain in range(1, 101):
        handle = open(lock_dir / f'{domain}.lock', 'w')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _domain_lock = handle  # held until the session's process exits
        return domain
    raise RuntimeError('no free ROS_DOMAIN_ID in 1..100 for this test session')


def pytest_configure(config):
    if 'HEISENBERG_TEST_DOMAIN' not in os.environ:
        domain = _claim_ros_domain()
        os.environ['HEISENBERG_TEST_DOMAIN'] = str(domain)
        os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('ROS_LOG_DIR', str(ROOT / 'log' / 'ros-tests'))


@pytest.fixture(scope='session')
def models_dir() -> Path:
    return MODELS


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
def speech():
    """Synthesize test speech with the Piper voice: speech.say(text) -> 16 kHz int16 array."""
    from support.speech import Speech
    return Speech(MODELS / 'piper' / 'en_US-joe-medium.onnx')
