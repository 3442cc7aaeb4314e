"""A test-side rclpy node spun in a background thread, with helpers to wait for things."""

from __future__ import annotations

import threading
import time

import rclpy

from heisenberg_common.executors import MultiThreadedExecutor


class RosClient:
    """rclpy context + node + executor thread for one test; use as a context manager."""

    def __init__(self, name: str = 'test_client', namespace: str = 'heisenberg'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, namespace=namespace, context=self.context)
        self.executor = MultiThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @staticmethod
    def wait_for(predicate, timeout: float, interval: float = 0.02) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return bool(predicate())

    @staticmethod
    def result_of(future, timeout: float):
        if not RosClient.wait_for(future.done, timeout):
            raise TimeoutError(f'no answer within {timeout} s')
        return future.result()
