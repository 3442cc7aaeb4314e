"""An ActionClient whose send_goal_async() future always completes.

rclpy 9.1.2 (the Kilted wheels used here) carries a half-applied backport of the fix for
ros2/rclpy#1123: send_goal_async() registers a future under the client's lock, then, after
the lock, makes a second future, registers it for the same request and returns that one.
When the server's answer is taken in between (another thread spins the executor, and a
local server answers within a millisecond), the first future gets the goal handle and the
returned one waits forever: a goal accepted by the server that its client never hears of.
This client registers one future, and the feedback callback, under the lock and before
the request leaves, as upstream's fix meant to.

The same release's ActionClient() adds itself to its node's waitables before it makes its
lock: an executor spinning in another thread may count its entities in between, and the
AttributeError ends that spin thread (the node then answers nothing). A client made while the
node spins, as the brain makes a skill's on its first goal, must have the lock first.
"""

from __future__ import annotations

import threading

from rclpy.action import ActionClient as _RclpyActionClient
from rclpy.task import Future


class ActionClient(_RclpyActionClient):
    """rclpy's ActionClient, safe to make while its node spins, with send_goal_async() free of the race."""

    def __init__(self, *args, **kwargs):
        self._lock = threading.Lock()   # before rclpy adds the client to the node (module docstring)
        super().__init__(*args, **kwargs)

    def send_goal_async(self, goal, feedback_callback=None, goal_uuid=None) -> Future:
        if not isinstance(goal, self._action_type.Goal):
            raise TypeError(
                f'Expected goal type ({type(self._action_type.Goal)}) but received ({type(goal)})')
        request = self._action_type.Impl.SendGoalService.Request()
        request.goal_id = self._generate_random_uuid() if goal_uuid is None else goal_uuid
        request.goal = goal
        future = Future()
        with self._lock:
            if feedback_callback is not None:  # before the goal runs, so no early feedback is lost
                self._feedback_callbacks[bytes(request.goal_id.uuid)] = feedback_callback
            sequence_number = self._client_handle.send_goal_request(request)
            if sequence_number in self._pending_goal_requests:
                raise RuntimeError(f'Sequence ({sequence_number}) conflicts with pending goal request')
            self._pending_goal_requests[sequence_number] = future
            self._goal_sequence_number_to_goal_id[sequence_number] = request.goal_id
            future.add_done_callback(self._remove_pending_goal_request)
            self.add_future(future)  # so the executor wakes for it
        return future
