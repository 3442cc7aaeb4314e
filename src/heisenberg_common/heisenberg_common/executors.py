"""A MultiThreadedExecutor that does not spin on tasks waiting for a worker thread.

rclpy 9.x (the Kilted wheels used here) yields a callback's task again as long as no worker has
started it (ros2/rclpy#1452, fixed upstream by #1547). Between handing a task to the
thread pool and a worker picking it up, spin() loops without waiting, holding the GIL
the worker needs: a node doing almost nothing burns a core, its callbacks start late,
and a subscription with a short queue loses messages. This executor waits, after each
hand-off, until a worker has started the task; with the fix upstream it is the stock one.
"""

from __future__ import annotations

import threading

from rclpy.executors import (ConditionReachedException, ExternalShutdownException,
                             MultiThreadedExecutor as _RclpyMultiThreadedExecutor,
                             ShutdownException, TimeoutException)
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

HAND_OFF_WAIT = 0.1  # s; then back to the wait set (a shutdown is noticed, a stuck pool tolerated)


class MultiThreadedExecutor(_RclpyMultiThreadedExecutor):
    """rclpy's MultiThreadedExecutor, dispatching each ready task once."""

    def _spin_once_impl(self, timeout_sec=None, wait_condition=lambda: False) -> None:
        if hasattr(self, '_ready_tasks') or not hasattr(self, '_futures'):
            # rclpy with #1547 (tasks queued once), or internals this class does not know.
            return super()._spin_once_impl(timeout_sec, wait_condition)
        try:
            handler, _, _ = self.wait_for_ready_callbacks(timeout_sec, None, wait_condition)
        except (ExternalShutdownException, ShutdownException, TimeoutException,
                ConditionReachedException):
            return
        started = threading.Event()

        def run() -> None:
            started.set()
            handler()

        self._executor.submit(run)
        self._futures.append(handler)
        started.wait(HAND_OFF_WAIT)
        for future in self._futures[:]:
            if future.done():
                self._futures.remove(future)
                try:
                    future.result()  # raise any exceptions
                except _rclpy.InvalidHandle:
                    # rclpy 9.x's shutdown destroys the guard condition without waiting for the
                    # callbacks still running (its wait is skipped); each triggers it as it ends.
                    if not self._is_shutdown:
                        raise
