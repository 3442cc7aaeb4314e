"""Every node's /diagnostics, named the way diagnostic_updater names them: '<node>: <task>'."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

from heisenberg_common.qos import EVENTS

OK, WARN, ERROR, STALE = (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR,
                          DiagnosticStatus.STALE)


class DiagnosticsPublisher:
    """Publishes one status for its node; `task` says what the node does ('speech-to-text')."""

    def __init__(self, node, task: str, hardware_id: str = ''):
        self._node = node
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', EVENTS)
        self.name = f'{node.get_fully_qualified_name()}: {task}'
        self.hardware_id = hardware_id

    def publish(self, level, message: str, values: dict | None = None,
                hardware_id: str | None = None) -> None:
        """level: OK/WARN/ERROR/STALE (bytes, as in DiagnosticStatus) or an int 0..3."""
        status = DiagnosticStatus(
            level=bytes([level]) if isinstance(level, int) else level, name=self.name, message=message,
            hardware_id=self.hardware_id if hardware_id is None else hardware_id,
            values=[KeyValue(key=str(key), value=str(value)) for key, value in (values or {}).items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        try:
            self._publisher.publish(array)
        except (_rclpy.RCLError, _rclpy.InvalidHandle):
            # Ctrl-C shuts the context down (and then its publishers) under a thread that reports
            # (llama_server's supervisor saying "serving" as the SIGINT lands): nobody is left to
            # tell, which is no fault.
            if self._node.context.ok():
                raise
