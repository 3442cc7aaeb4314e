"""Watch the running graph from outside: states, transcripts, replies, metrics, readiness.

An rclpy node spun in its own thread and context, so a script or a test can hold one next
to its own code. Everything it sees is kept in order with its arrival time; ``on_event``
(kind, msg) is called as it arrives (the console prints from there).
"""

from __future__ import annotations

import threading
import time

import rclpy
from audio_common_msgs.msg import AudioDataStamped
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import String

from heisenberg_common.qos import AUDIO_OUT, EVENTS, STATE
from heisenberg_interfaces.msg import (AssistantState, BargeIn, SpeechActivity, Transcript, TurnMetrics,
                                       WakeWordDetection)

WATCHED = {
    'state': (AssistantState, STATE),
    'transcript': (Transcript, EVENTS),
    'reply': (String, EVENTS),
    'metrics': (TurnMetrics, EVENTS),
    'wake_word': (WakeWordDetection, EVENTS),
    'barge_in': (BargeIn, EVENTS),
    'speech_activity': (SpeechActivity, EVENTS),
    'audio/out': (AudioDataStamped, AUDIO_OUT),
    '/diagnostics': (DiagnosticArray, EVENTS),
}


class GraphMonitor:
    def __init__(self, namespace: str = 'heisenberg', on_event=None):
        self.namespace = namespace
        self.on_event = on_event
        self.events: list[tuple[str, object, float]] = []
        self._lock = threading.Lock()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('graph_monitor', namespace=namespace, context=self.context)
        for topic, (msg_type, qos) in WATCHED.items():
            kind = topic.strip('/')
            self.node.create_subscription(msg_type, topic, lambda msg, kind=kind: self._record(kind, msg),
                                          qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, name='graph-monitor', daemon=True)
        self._thread.start()

    def _record(self, kind: str, msg) -> None:
        with self._lock:
            self.events.append((kind, msg, time.monotonic()))
        if self.on_event is not None:
            self.on_event(kind, msg)

    def of(self, kind: str, since: float = 0.0) -> list:
        """Messages of one kind (topic name without slashes), optionally after a monotonic time."""
        with self._lock:
            return [msg for k, msg, at in self.events if k == kind and at >= since]

    def timed(self, kind: str) -> list[tuple[object, float]]:
        with self._lock:
            return [(msg, at) for k, msg, at in self.events if k == kind]

    def state_names(self, since: float = 0.0) -> list[str]:
        return [msg.state_name for msg in self.of('state', since)]

    def ready_nodes(self) -> set[str]:
        """Nodes of our namespace that have published diagnostics (they are spinning)."""
        prefix = f'/{self.namespace}/'
        return {status.name[len(prefix):].split(':')[0].strip()
                for array in self.of('diagnostics') for status in array.status
                if status.name.startswith(prefix)}

    def wait_ready(self, nodes=('wake_word', 'stt', 'tts'), timeout: float = 120.0, poll=None) -> bool:
        """Wait until the brain has published its state and each node in nodes its diagnostics."""
        def ready():
            return bool(self.of('state')) and set(nodes) <= self.ready_nodes()
        return self.wait_for(ready, timeout, poll)

    @staticmethod
    def wait_for(predicate, timeout: float, poll=None, interval: float = 0.05) -> bool:
        """Wait for predicate(); call poll() meanwhile (e.g. Graph.poll, to respawn nodes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if poll is not None:
                poll()
            time.sleep(interval)
        return bool(predicate())

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)
