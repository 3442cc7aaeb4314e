"""DiagnosticsPublisher: a report made after Ctrl-C has shut the node's context down is dropped."""

import rclpy

from heisenberg_common.diagnostics import OK, DiagnosticsPublisher


def test_a_report_after_the_context_is_shut_down_is_dropped_without_an_error():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('diagnostics_test', context=context)
    diagnostics = DiagnosticsPublisher(node, 'testing')
    diagnostics.publish(OK, 'starting')
    # What a SIGINT does under a node whose thread is about to report (llama_server's supervisor).
    rclpy.shutdown(context=context)
    diagnostics.publish(OK, 'serving')
    assert not context.ok()
