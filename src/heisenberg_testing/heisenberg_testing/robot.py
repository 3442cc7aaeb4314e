"""A stand-in robot for skills tests: the GoTo action, the Dock service and battery topics.

heisenberg_test_msgs types under its own namespace, in its own rclpy context (its own DDS
participant, as a robot's nodes would be). Its goals wait for the test to end them (finish),
so each test chooses what the server does and when; what reached it is kept in queues.
"""

from __future__ import annotations

import queue
import threading
import time

import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.qos import qos_profile_sensor_data

from heisenberg_common.executors import MultiThreadedExecutor
from heisenberg_common.qos import EVENTS
from heisenberg_test_msgs.action import GoTo
from heisenberg_test_msgs.msg import BatteryLevel
from heisenberg_test_msgs.srv import Dock

GO_TO = 'heisenberg_test_msgs/action/GoTo'


def go_to_skill(server_timeout: float = 5.0, feedback_period: float = 15.0) -> str:
    """skills.yaml text: a go_to skill driving this robot's GoTo to the kitchen or the charger."""
    return f"""
skills:
  - name: go_to
    description: go to the kitchen or the charger
    sentences: ["(go|drive) to [the] {{place}}"]
    slots:
      place:
        values:
          kitchen: {{x: 1.0, y: 2.0, yaw: 0.0}}
          charger: {{x: -3.5, y: 0.25, yaw: 3.14}}
    action:
      type: {GO_TO}
      name: go_to
      goal: {{place: '{{place}}', x: '{{place.x}}', y: '{{place.y}}', yaw: '{{place.yaw}}'}}
      server_timeout: {server_timeout}
      timeout: 60.0
      feedback_period: {feedback_period}
    replies:
      accepted: Going to the {{place}}.
      feedback: "{{feedback.distance_remaining:.0f}} meters to the {{place}}."
      succeeded: "I'm at the {{place}}: {{result.message}}"
      failed: "I couldn't get to the {{place}}: {{reason}}."
      cancelled: I stopped going to the {{place}}.
"""


class RobotGoal:
    """A GoTo goal on the robot: it runs until the test finishes it or a cancel comes."""

    def __init__(self):
        self.handle = None
        self.request = None
        self.received_at = 0.0   # wall time its execution began (capture stamps are wall time too)
        self.cancel_requested = False
        self._end = threading.Event()
        self._outcome = (False, '')

    def feedback(self, distance: float) -> None:
        self.handle.publish_feedback(GoTo.Feedback(distance_remaining=distance))

    def finish(self, arrived: bool = True, message: str = '') -> None:
        self._outcome = (arrived, message)
        self._end.set()

    def run(self) -> GoTo.Result:
        self._end.wait(60.0)
        if self.cancel_requested:
            # rclpy marks the goal canceling only after the cancel callback has returned.
            while not self.handle.is_cancel_requested:
                time.sleep(0.005)
            self.handle.canceled()
            return GoTo.Result(arrived=False, message='stopped')
        arrived, message = self._outcome
        if arrived:
            self.handle.succeed()
        else:
            self.handle.abort()
        return GoTo.Result(arrived=arrived, message=message)


class Robot:
    """The stand-in robot under /robot: GoTo 'go_to', Dock 'dock', topics 'battery' and 'battery_in'."""

    def __init__(self, namespace: str = 'robot'):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('robot', namespace=namespace, context=self.context)
        group = ReentrantCallbackGroup()
        self._lock = threading.Lock()
        self._goals: dict[bytes, RobotGoal] = {}
        self.reset()
        ActionServer(self.node, GoTo, 'go_to', execute_callback=self._execute, goal_callback=self._goal,
                     cancel_callback=self._cancel, callback_group=group)
        self.node.create_service(Dock, 'dock', self._dock, callback_group=group)
        self.node.create_subscription(BatteryLevel, 'battery_in', lambda message: self.published.put(message),
                                      EVENTS, callback_group=group)
        # Best effort, as battery and sensor drivers publish: a reliable reader would not match it.
        self.battery = self.node.create_publisher(BatteryLevel, 'battery', qos_profile_sensor_data)
        # Goals wait in their execute callbacks: threads enough for two goals, cancels and services.
        self.executor = MultiThreadedExecutor(num_threads=6, context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def reset(self) -> None:
        self.goals: queue.Queue[RobotGoal] = queue.Queue()      # as each starts executing
        self.rejected: queue.Queue[str] = queue.Queue()         # places of rejected goals
        self.cancels: queue.Queue[RobotGoal] = queue.Queue()    # goals a cancel request reached
        self.docked: queue.Queue = queue.Queue()                # Dock requests
        self.published: queue.Queue = queue.Queue()             # messages on battery_in

    def _entry(self, handle) -> RobotGoal:
        with self._lock:
            return self._goals.setdefault(bytes(handle.goal_id.uuid), RobotGoal())

    def _goal(self, request) -> GoalResponse:
        if request.place == 'nowhere':
            self.rejected.put(request.place)
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _cancel(self, handle) -> CancelResponse:
        goal = self._entry(handle)
        goal.cancel_requested = True
        self.cancels.put(goal)
        goal._end.set()
        return CancelResponse.ACCEPT

    def _execute(self, handle) -> GoTo.Result:
        goal = self._entry(handle)
        goal.handle, goal.request, goal.received_at = handle, handle.request, time.time()
        self.goals.put(goal)
        return goal.run()

    def _dock(self, request, response):
        self.docked.put(request)
        response.success = request.station != 'blocked'
        response.message = f'Docked at {request.station}.' if response.success else 'The dock is blocked.'
        return response

    def close(self) -> None:
        with self._lock:
            for goal in self._goals.values():
                goal.finish(False)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)
