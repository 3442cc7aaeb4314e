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
_interrupted = False   # a SIGINT has arrived: what fails from here on is the stop, not a fault


def ignore_sigint_after_the_first() -> None:
    """From now on the first SIGINT raises KeyboardInterrupt and any later one is ignored.

    A terminal's Ctrl-C reaches every process of the group and launch sends its own SIGINT
    after it: the second must not cut the clean-up short (a llama-server child left running,
    a traceback), also when it lands while the first one is still unwinding (a node loading
    its models). rclpy's own handler, installed on top by rclpy.init, hands the first one on
    to this one. SIGTERM and SIGKILL still end a node that hangs.
    """
    def on_sigint(signum, frame):
        global _interrupted
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _interrupted = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def run_node(node_factory, args=None, num_threads: int | None = None) -> int:
    """Create the node with node_factory() and spin it until shutdown.

    Returns a process exit code: 0 on a clean stop, CONFIG_EXIT_CODE on rejected parameters
    (the message says which), or the node's own ``exit_code`` when it shut down because it
    cannot work (FATAL_EXIT_CODE), so a launch file's respawn does not loop on either.
    """
    ignore_sigint_after_the_first()
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
    except Exception:
        # Ctrl-C inside a C extension's start-up can surface as another error (onnxruntime's
        # "ImportError: initialization failed"): after a SIGINT that is the stop, not a fault.
        if not _interrupted:
            raise
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # also after a SIGTERM or a fault
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return getattr(node, 'exit_code', 0) if node is not None else 0
