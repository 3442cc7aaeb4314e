"""RosSkillEffects over real DDS, and the skills core driving a real action server through it.

A stand-in robot (its own rclpy context, so its own DDS participant) serves the GoTo action,
the Dock service and battery topics of heisenberg_test_msgs under /robot; the effects run on
a "brain" node with an asyncio loop in a thread, as the brain node holds them. The robot's
goals wait for the test to end them, so each test chooses what the server does and when.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time

import pytest
from rclpy.callback_groups import ReentrantCallbackGroup
from std_msgs.msg import Header

from heisenberg_brain.core.replier import ReplyOutcome, ReplyRequest
from heisenberg_brain.core.skills import SkillEffectError, SkillSource, skills_from_yaml
from heisenberg_brain.nodes.skill_effects import RosSkillEffects
from heisenberg_test_msgs.msg import BatteryLevel
from heisenberg_testing.robot import GO_TO, Robot, go_to_skill
from heisenberg_testing.ros_client import RosClient

DOCK = 'heisenberg_test_msgs/srv/Dock'
BATTERY = 'heisenberg_test_msgs/msg/BatteryLevel'
WAIT = 20.0      # s for anything that crosses DDS (discovery on a shared 2-core machine)
MARGIN = 1.0     # s a failure may come after its timeout (a busy machine), never much later

FEEDBACK_PERIOD = 0.001   # s: the skill says feedback at most this often, counted from the goal's acceptance
SKILLS = go_to_skill(server_timeout=WAIT, feedback_period=FEEDBACK_PERIOD)


class Brain:
    """The effects on a node with an asyncio loop in a thread, as the brain node holds them."""

    def __init__(self, ros: RosClient):
        self.ros = ros
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name='brain-asyncio', daemon=True)
        self.thread.start()
        self.effects = RosSkillEffects(ros.node, self.loop, ReentrantCallbackGroup(), namespace='/robot')

    def run(self, coroutine, timeout: float = WAIT + MARGIN):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function, *args):
        """function(*args) on the loop (where the skills core calls the effects)."""
        async def call():
            return function(*args)
        return self.run(call())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def send(brain: Brain, goal: dict, timeout: float = WAIT, name: str = 'go_to', action_type: str = GO_TO,
         on_feedback=lambda feedback: None):
    """The effects' send_goal, run on the loop."""
    return brain.run(brain.effects.send_goal(action_type, name, goal, on_feedback, timeout))


async def result_of(goal):
    return await goal.result()


@pytest.fixture(scope='module')
def robot():
    robot = Robot()
    yield robot
    robot.close()


@pytest.fixture(scope='module')
def brain():
    with RosClient('brain') as ros:
        brain = Brain(ros)
        yield brain
        brain.close()


@pytest.fixture(autouse=True)
def fresh(robot):
    robot.reset()


def on_loop_recorder(brain: Brain):
    """An on_feedback that records (ran on the loop's thread, feedback)."""
    received: queue.Queue = queue.Queue()
    return received, lambda feedback: received.put((threading.current_thread() is brain.thread, feedback))


# ---------------------------------------------------------------------- actions
def test_a_goal_reaches_the_server_its_feedback_comes_on_the_loop_and_it_succeeds(robot, brain):
    feedback, on_feedback = on_loop_recorder(brain)
    goal = send(brain, {'place': 'kitchen', 'x': 1, 'y': 2.5, 'yaw': -0.5}, on_feedback=on_feedback)
    served = robot.goals.get(timeout=WAIT)
    request = served.request
    assert (request.place, request.x, request.y, request.yaw) == ('kitchen', 1.0, 2.5, -0.5)
    served.feedback(3.25)
    on_loop, message = feedback.get(timeout=WAIT)
    assert on_loop and message.distance_remaining == 3.25
    served.finish(arrived=True, message='at the kitchen')
    ending = brain.run(result_of(goal))
    assert ending.status == 'succeeded'
    assert (ending.result.arrived, ending.result.message) == (True, 'at the kitchen')


def test_a_goal_the_server_aborts_ends_aborted(robot, brain):
    goal = send(brain, {'place': 'cellar'})
    robot.goals.get(timeout=WAIT).finish(arrived=False, message='stairs')
    ending = brain.run(result_of(goal))
    assert (ending.status, ending.result.message) == ('aborted', 'stairs')


def test_a_cancel_reaches_the_server_and_the_goal_ends_canceled(robot, brain):
    goal = send(brain, {'place': 'charger'})
    served = robot.goals.get(timeout=WAIT)
    brain.call(goal.cancel)
    assert robot.cancels.get(timeout=WAIT) is served
    ending = brain.run(result_of(goal))
    assert (ending.status, ending.result.message) == ('canceled', 'stopped')


def test_no_server_is_a_spoken_failure_within_the_timeout(brain):
    started = time.monotonic()
    with pytest.raises(SkillEffectError, match='^the go nowhere action server is not running$'):
        send(brain, {'place': 'x'}, 0.5, name='go_nowhere')
    assert 0.5 <= time.monotonic() - started < 0.5 + MARGIN


def test_a_rejected_goal_is_a_spoken_failure(robot, brain):
    with pytest.raises(SkillEffectError, match='^the go to action server rejected the goal$'):
        send(brain, {'place': 'nowhere'})
    assert robot.rejected.get(timeout=WAIT) == 'nowhere'
    assert robot.goals.empty()


@pytest.mark.parametrize('action_type, goal, says', [
    (GO_TO, {'plase': 'kitchen'}, '^the field plase does not fit the go to goal$'),
    (GO_TO, {'x': 'one'}, '^the field x does not fit the go to goal$'),
    ('nav2_msgs/action/NavigateToPose', {}, '^the navigate to pose type of nav2 msgs is not installed$'),
])
def test_a_goal_that_cannot_be_filled_is_a_spoken_failure_before_any_wait(brain, action_type, goal, says):
    started = time.monotonic()
    with pytest.raises(SkillEffectError, match=says):
        send(brain, goal, action_type=action_type)
    assert time.monotonic() - started < MARGIN


# ---------------------------------------------------------------------- services
def test_a_service_call_sends_nested_fields_and_returns_the_response(robot, brain):
    request = {'station': 'north', 'speed': 1, 'header': {'frame_id': 'map', 'stamp': {'sec': 7}}}
    response = brain.run(brain.effects.call_service(DOCK, 'dock', request, WAIT))
    request = robot.docked.get(timeout=WAIT)
    assert (request.station, request.speed, request.header.frame_id, request.header.stamp.sec) == \
        ('north', 1.0, 'map', 7)
    assert (response.success, response.message) == (True, 'Docked at north.')


def test_no_service_is_a_spoken_failure_within_the_timeout(brain):
    started = time.monotonic()
    with pytest.raises(SkillEffectError, match='^the undock service is not running$'):
        brain.run(brain.effects.call_service(DOCK, 'undock', {}, 0.5))
    assert 0.5 <= time.monotonic() - started < 0.5 + MARGIN


# ---------------------------------------------------------------------- topics
def test_publish_on_a_new_publisher_reaches_a_subscriber(robot, brain):
    message = {'header': {'frame_id': 'pack'}, 'percentage': 1, 'cell_voltage': [4, 4.125],
               'location': 'base'}
    brain.call(brain.effects.publish, BATTERY, 'battery_in', message)
    message = robot.published.get(timeout=WAIT)
    assert (message.header.frame_id, message.percentage, list(message.cell_voltage), message.location) == \
        ('pack', 1.0, [4.0, 4.125], 'base')


def test_read_field_says_a_field_of_the_latest_message(robot, brain):
    effects = brain.effects
    first = asyncio.run_coroutine_threadsafe(effects.read_field(BATTERY, 'battery', 'header.frame_id', WAIT),
                                             brain.loop)
    # The reader exists once the robot's publisher has matched it and the brain's graph shows the publisher.
    assert RosClient.wait_for(lambda: robot.battery.get_subscription_count() > 0
                              and brain.ros.node.count_publishers('/robot/battery') > 0, WAIT)
    robot.battery.publish(BatteryLevel(header=Header(frame_id='pack one'), percentage=0.25))
    assert first.result(WAIT) == 'pack one'
    robot.battery.publish(BatteryLevel(header=Header(frame_id='pack two'), percentage=0.75,
                                       cell_voltage=[4.0, 4.5]))
    assert RosClient.wait_for(lambda: effects.received(BATTERY, 'battery') == 2, WAIT)
    assert brain.run(effects.read_field(BATTERY, 'battery', 'percentage', 0.1)) == 0.75
    assert brain.run(effects.read_field(BATTERY, 'battery', 'cell_voltage.1', 0.1)) == 4.5
    with pytest.raises(SkillEffectError, match='^a battery level message has no field header frame$'):
        brain.run(effects.read_field(BATTERY, 'battery', 'header.frame', 0.1))


def test_read_field_with_no_publisher_times_out_cleanly(brain):
    started = time.monotonic()
    with pytest.raises(SkillEffectError, match='^no message came on battery gone within 0.5 seconds$'):
        brain.run(brain.effects.read_field(BATTERY, 'battery_gone', 'percentage', 0.5))
    assert 0.5 <= time.monotonic() - started < 0.5 + MARGIN


# ---------------------------------------------------------------------- the skills core on top
def test_the_skills_core_drives_the_robot_and_stop_cancels_the_goal(robot, brain):
    announced: queue.Queue[str] = queue.Queue()
    source = SkillSource(skills_from_yaml(SKILLS, 'skills (test)'), brain.effects,
                         lambda text, language: announced.put(text))

    def say(text: str) -> str:
        outcome = brain.run(source.reply(ReplyRequest(prompt=text), ReplyOutcome()))
        assert outcome.finish_reason == 'stop'
        return outcome.text

    assert say('Go to the kitchen.') == 'Going to the kitchen.'
    served = robot.goals.get(timeout=WAIT)
    assert (served.request.place, served.request.x, served.request.y, served.request.yaw) == \
        ('kitchen', 1.0, 2.0, 0.0)
    # The acceptance was said before say() returned: a feedback sent a period after it is past the
    # period for sure (one that came within it would be rightly held back, and the test would wait).
    time.sleep(FEEDBACK_PERIOD)
    served.feedback(3.2)
    assert announced.get(timeout=WAIT) == '3 meters to the kitchen.'
    served.finish(arrived=True, message='all clear.')
    assert announced.get(timeout=WAIT) == "I'm at the kitchen: all clear."

    assert say('Drive to the charger.') == 'Going to the charger.'
    served = robot.goals.get(timeout=WAIT)
    assert (served.request.place, served.request.x, served.request.y) == ('charger', -3.5, 0.25)
    assert say('Stop.') == 'I stopped going to the charger.'
    assert robot.cancels.get(timeout=WAIT) is served
    assert RosClient.wait_for(lambda: not source.running(), WAIT), 'the goal did not end after its cancel'
    assert announced.empty()   # the stop turn said it: its end is not announced again
    source.close()
