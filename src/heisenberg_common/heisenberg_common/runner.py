"""main() for every node: multi-threaded executor, clean shutdown on Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

from heisenberg_common.executors import MultiThreadedExecutor
from heisenberg_common.params import ConfigError

CONFIG_EXIT_CODE = 2  # the node rejected its parameters: respawning would loop
FATAL_EXIT_CODE = 3   # the node found it cannot work (its message says why): respawning would loop
NO_RESPAWN_EXIT_CODES = (CONFIG_EXIT_CODE, FATAL_EXIT_CODE)


def run_node(node_factory, args=None, num_threads: int | None = None) -> int:
    """Create the node with node_factory() and spin it until shutdown.

    Returns a process exit code: 0 on a clean stop, CONFIG_EXIT_CODE on rejected parameters
    (the message says which), or the node's own ``exit_code`` when it shut down because it
    cannot work (FATAL_EXIT_CODE), so a launch file's respawn does not loop on either.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = node_factory()
        executor = MultiThreadedExecutor(num_threads=num_threads)
        executor.add_node(node)
        executor.spin()
    except ConfigError as exc:
        print(f'[FATAL] {exc}', file=sys.stderr, flush=True)
        return CONFIG_EXIT_CODE
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        # Ctrl-C shuts the context down under the executor; its next wait set then fails.
        if rclpy.ok():
            raise
    finally:
        # A terminal's Ctrl-C reaches every process of the group and launch sends its own SIGINT
        # after it: the second one must not cut the clean-up short (a child left running, a
        # traceback). SIGTERM and SIGKILL still end a node that hangs here.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return getattr(node, 'exit_code', 0) if node is not None else 0
