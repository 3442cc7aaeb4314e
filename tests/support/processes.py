"""Start ROS nodes as real processes (as launch would) and stop them the way launch does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

TESTS_DIR = Path(__file__).resolve().parent.parent


def write_params(path: Path, node_name: str, params: dict, namespace: str = '/heisenberg') -> Path:
    """Write a ROS parameter file for one node (the same format as config/assistant.yaml)."""
    path.write_text(yaml.safe_dump({f'{namespace}/{node_name}': {'ros__parameters': params}}))
    return path


class NodeProcess:
    """A node run with ``python -m <module>`` in its own process group."""

    def __init__(self, module: str, name: str, namespace: str = 'heisenberg',
                 params_files: tuple[Path, ...] = (), log_dir: Path | None = None,
                 ros_args: tuple[str, ...] = ()):
        self.name = name
        cmd = [sys.executable, '-m', module, '--ros-args', '-r', f'__node:={name}',
               '-r', f'__ns:=/{namespace}']
        for params in params_files:
            cmd += ['--params-file', str(params)]
        cmd += list(ros_args)
        self.log_path = (log_dir or Path('.')) / f'{name}.log'
        self._log = self.log_path.open('wb')
        env = os.environ.copy()
        # Test-only modules (support.*) must import in the child as they do under pytest.
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(TESTS_DIR), env.get('PYTHONPATH')]))
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env=env)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors='replace')

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 5.0) -> int:
        """SIGINT, then SIGKILL after `grace` s (an action server can be slow to exit)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode
