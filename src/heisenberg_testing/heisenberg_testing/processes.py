"""Start ROS nodes as real processes, as launch would (the graph runner's own classes)."""

from __future__ import annotations

import os
from pathlib import Path

from heisenberg_bringup import graph

TESTS_DIR = Path(__file__).resolve().parent.parent
write_params = graph.write_params


def _env_with_tests() -> dict:
    env = os.environ.copy()
    # Test-only modules (support.*) must import in the child as they do under pytest.
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get('PYTHONPATH')]))
    return env


def NodeProcess(*args, **kwargs):  # noqa: N802 - keeps the class-like call sites
    kwargs.setdefault('env', _env_with_tests())
    return graph.NodeProcess(*args, **kwargs)
