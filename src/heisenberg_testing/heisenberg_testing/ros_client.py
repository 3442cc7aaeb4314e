"""A test-side rclpy node spun in a background thread, with helpers to wait for things."""

from __future__ import annotations

import threading
import time

import rclpy
from rcl_interfaces.msg import Log
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from heisenberg_common.executors import MultiThreadedExecutor

# /rosout as every node publishes it: reliable, transient local (a late reader gets the history).
ROSOUT_QOS = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


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


def seen_by(node, target: str, timeout: float) -> bool:
    """Whether target (a node's full name, '/live_params/brain') has seen node's endpoints made so far.

    A client's wait_for_service() or wait_for_server() is only this side's view: rmw_fastrtps
    drops a response to a client whose response reader the server has not discovered 100 ms
    after the request ("failed to send response (timeout): client will not receive response"),
    and the call or goal is never answered (seen in a suite on 2 busy cores). A participant reads
    another's reader announcements in order, so target's /rosout history reaching a reader made
    now shows that target has seen every reader node made before. node must be spun by an
    executor; target must have logged a line (every node here logs when it is ready).
    """
    logger = target.strip('/').replace('/', '.')
    heard = threading.Event()
    rosout = node.create_subscription(Log, '/rosout', lambda log: heard.set() if log.name == logger else None,
                                      ROSOUT_QOS)
    try:
        return heard.wait(timeout)
    finally:
        node.destroy_subscription(rosout)


def remote_parameters(node, target: str, timeout: float = 30.0) -> AsyncParameterClient:
    """A parameter client (rclpy's) of target, a node's full name, once target has seen it (seen_by)."""
    client = AsyncParameterClient(node, target)
    if not client.wait_for_services(timeout_sec=timeout):
        raise TimeoutError(f'{target} has no parameter services within {timeout} s')
    if not seen_by(node, target, timeout):
        raise TimeoutError(f'{target} has not seen this parameter client within {timeout} s')
    return client
