"""A minimal Respond action server in its own process, for the interface/transport tests.

It is not the brain (that has its own tests against llama-server): it streams the words of
the prompt back as feedback, one every `interval` seconds (a parameter), so the tests can check that
Respond goals, feedback order, cancellation and a latched state topic work across processes
over DDS with the generated interfaces.
"""

import time

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from heisenberg_common.executors import MultiThreadedExecutor
from heisenberg_common.qos import LATCHED
from heisenberg_interfaces.action import Respond
from heisenberg_interfaces.msg import AssistantState


class StubServer(Node):
    def __init__(self):
        super().__init__('respond_stub')
        self.interval = self.declare_parameter('interval', 0.05).value
        self.state_pub = self.create_publisher(AssistantState, 'state', LATCHED)
        state = AssistantState(state=AssistantState.IDLE, state_name='IDLE', cause='STARTUP')
        state.header.stamp = self.get_clock().now().to_msg()
        self.state_pub.publish(state)
        ActionServer(self, Respond, 'respond', self.execute,
                     goal_callback=lambda _: GoalResponse.ACCEPT,
                     cancel_callback=lambda _: CancelResponse.ACCEPT,
                     callback_group=ReentrantCallbackGroup())

    def execute(self, goal_handle):
        words = goal_handle.request.prompt.split()
        text = ''
        for index, word in enumerate(words):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return Respond.Result(text=text, finish_reason=Respond.Result.FINISH_CANCELLED,
                                      token_count=index)
            delta = word if index == 0 else ' ' + word
            text += delta
            goal_handle.publish_feedback(Respond.Feedback(delta=delta, token_index=index))
            time.sleep(self.interval)
        goal_handle.succeed()
        return Respond.Result(text=text, finish_reason=Respond.Result.FINISH_STOP, token_count=len(words))


def main():
    rclpy.init()
    node = StubServer()
    executor = MultiThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
