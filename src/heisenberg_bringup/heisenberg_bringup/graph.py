"""The assistant's node graph as processes, without ``ros2 launch``.

The same nodes as launch/assistant.launch.py, with the same parameter file and the same
namespace, each in its own process (``python -m <module> --ros-args ...``), respawned when
it dies unless it exited with a code that says respawning would loop (rejected parameters,
or a node that found it cannot work, such as a llama-server that never starts). Used by
the README's run command (``run_assistant``) and by the end-to-end tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from heisenberg_bringup.nodes import NODES
from heisenberg_common.processes import die_with_parent
from heisenberg_common.runner import CONFIG_EXIT_CODE, NO_RESPAWN_EXIT_CODES

NODE_MODULES = {name: entry.module for name, entry in NODES.items()}  # in start order


class GraphError(RuntimeError):
    """A node cannot run (e.g. its parameters were rejected); the message says which and why."""


def write_params(path: Path, node_name: str, params: dict, namespace: str = 'heisenberg') -> Path:
    """Write a ROS parameter file for one node (the same format as config/assistant.yaml)."""
    path.write_text(yaml.safe_dump({f'/{namespace}/{node_name}': {'ros__parameters': params}}))
    return path


class NodeProcess:
    """One node run as ``python -m module`` in its own process group, output to a log file."""

    def __init__(self, module: str, name: str, namespace: str = 'heisenberg',
                 params_files: tuple[Path, ...] = (), log_dir: Path | None = None,
                 ros_args: tuple[str, ...] = (), env: dict | None = None, fresh_log: bool = False,
                 wrapper: tuple[str, ...] = ()):
        self.module = module
        self.fresh_log = fresh_log  # start the log anew (a new run), else append to it
        self.name = name
        cmd = [sys.executable, '-m', module, '--ros-args', '-r', f'__node:={name}',
               '-r', f'__ns:=/{namespace}']
        for params in params_files:
            cmd += ['--params-file', str(params)]
        # wrapper: a command that runs the node, e.g. ('ip', 'netns', 'exec', 'robot') in another
        # network namespace (it must exec the node, so signals reach it).
        self.command = list(wrapper) + cmd + list(ros_args)
        self.env = env if env is not None else os.environ.copy()
        self.log_path = Path(log_dir or '.') / f'{name}.log'
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.starts = 0
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.starts += 1
        # Gone with the runner even if it is killed outright: else the node goes on publishing
        # into the domain, where the next run (or test session) given that domain hears it.
        with self.log_path.open('wb' if self.starts == 1 and self.fresh_log else 'ab') as log:
            self.process = subprocess.Popen(die_with_parent(self.command), stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True, env=self.env)

    def output(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` s (an action server can be slow to exit).

        SIGTERM rather than SIGINT: a node still starting Python ends quietly on it (SIGINT there
        is a KeyboardInterrupt and a fatal error), and a running one stops cleanly (rclpy's handler).
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            except ProcessLookupError:
                pass
        return self.process.returncode


class Graph:
    """Start, supervise and stop the assistant's nodes.

    ``overrides`` maps a node name to parameters that win over ``params_file`` (written to
    a second parameter file, as launch arguments would). ``env`` is the nodes' environment
    (default: this process's) and ``wrapper`` a command each node runs under (NodeProcess).
    """

    def __init__(self, params_file: Path, log_dir: Path, overrides: dict[str, dict] | None = None,
                 nodes: tuple[str, ...] = tuple(NODE_MODULES), namespace: str = 'heisenberg',
                 respawn: bool = True, log_level: str = 'info', env: dict | None = None,
                 wrapper: tuple[str, ...] = ()):
        unknown = set(nodes) - set(NODE_MODULES)
        if unknown:
            raise GraphError(f'unknown node(s) {sorted(unknown)}; known: {list(NODE_MODULES)}')
        if not Path(params_file).is_file():
            raise GraphError(f'parameter file not found: {params_file}')
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.params_files = [Path(params_file)]
        if overrides:
            path = self.log_dir / 'overrides.yaml'
            path.write_text(yaml.safe_dump({f'/{namespace}/{node}': {'ros__parameters': params}
                                            for node, params in overrides.items()}))
            self.params_files.append(path)
        self.node_names = [name for name in NODE_MODULES if name in nodes]
        self.namespace = namespace
        self.respawn = respawn
        self.log_level = log_level
        self._process_args = {'env': env, 'wrapper': tuple(wrapper)}
        self.processes: dict[str, NodeProcess] = {}

    def start(self, names=None) -> 'Graph':
        """Start the named nodes (default: all) that are not running yet."""
        for name in self.node_names:
            if (names is not None and name not in names) or name in self.processes:
                continue
            # A fresh log per run (respawns append), so a failure's tail is this run's.
            self.processes[name] = NodeProcess(
                NODE_MODULES[name], name, self.namespace, tuple(self.params_files), self.log_dir,
                ros_args=('--log-level', self.log_level), fresh_log=True, **self._process_args)
        return self

    def poll(self) -> list[str]:
        """Respawn dead nodes; return a line per respawn. Raises GraphError on a no-respawn exit."""
        events = []
        for name, node in self.processes.items():
            code = node.process.poll()
            if code is None:
                continue
            if code in NO_RESPAWN_EXIT_CODES or not self.respawn:
                why = {CONFIG_EXIT_CODE: 'rejected its parameters'}.get(code, 'cannot run')
                tail = '\n'.join(node.output().splitlines()[-12:])
                raise GraphError(f'node {name} {why} (exit code {code}):\n{tail}')
            events.append(f'node {name} died (exit {code}); respawning (start #{node.starts + 1})')
            node.start()
        return events

    def restart(self, name: str, params: dict | None = None) -> NodeProcess:
        """Stop a node and start it again, with `params` winning over the graph's files."""
        if name in self.processes:
            self.processes.pop(name).stop()
        files = tuple(self.params_files)
        if params:
            path = self.log_dir / f'{name}-restart.yaml'
            write_params(path, name, params, self.namespace)
            files += (path,)
        self.processes[name] = NodeProcess(NODE_MODULES[name], name, self.namespace, files, self.log_dir,
                                           ros_args=('--log-level', self.log_level), **self._process_args)
        return self.processes[name]

    def kill(self, name: str) -> None:
        """Kill a node hard (for fault tests); poll() brings it back."""
        os.killpg(self.processes[name].process.pid, signal.SIGKILL)
        self.processes[name].process.wait()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.processes[name].stop()

    def __enter__(self) -> 'Graph':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
