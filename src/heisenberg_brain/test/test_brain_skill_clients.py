"""The brain node makes every skill's client when it starts, over real DDS, with the stand-in robot.

A goal sent right after its action client is made can be lost: the client sees the server
before the server has discovered the client (heisenberg_common/test/test_actions.py). So the
brain makes each skill's action and service client, publisher and subscription at start-up;
here the robot's graph shows them before any command, the first commands then work, a skill
whose server is absent still says so at use, and /diagnostics say which servers the brain sees.

No llama-server: the skills answer without the LLM (the endpoint refuses connections).
"""

from __future__ import annotations

import socket
import uuid

import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray

from heisenberg_common.qos import EVENTS
from heisenberg_testing.robot import GO_TO, Robot, go_to_skill
from heisenberg_testing.ros_client import RosClient
from test_brain_node import Session, start_brain

WAIT = 30.0   # s for anything that crosses DDS (discovery on a shared 2-core machine)
DOCK = 'heisenberg_test_msgs/srv/Dock'
BATTERY = 'heisenberg_test_msgs/msg/BatteryLevel'

# go_to (the robot serves it), go_nowhere (nobody does), navigate (its type is not installed here),
# dock, a publish and a read.
SKILLS = go_to_skill(server_timeout=WAIT) + f"""
  - name: go_nowhere
    description: go nowhere
    sentences: ["go nowhere"]
    action:
      type: {GO_TO}
      name: go_nowhere
      goal: {{place: nowhere}}
      server_timeout: 0.5
    replies:
      accepted: Going nowhere.
      succeeded: I went nowhere.
      failed: "I couldn't go nowhere: {{reason}}."
      cancelled: I stopped going nowhere.
  - name: navigate
    description: navigate home
    sentences: ["navigate home"]
    action:
      type: nav2_msgs/action/NavigateToPose
      name: navigate_to_pose
      goal: {{}}
      server_timeout: 0.5
    replies:
      accepted: Going home.
      succeeded: I'm home.
      failed: "I couldn't go home: {{reason}}."
      cancelled: I stopped going home.
  - name: dock
    description: dock at the north station
    sentences: ["dock at the north station"]
    service:
      type: {DOCK}
      name: dock
      request: {{station: north}}
      timeout: {WAIT}
    replies:
      succeeded: "{{response.message}}"
      failed: "I couldn't dock: {{reason}}."
  - name: report
    description: report the battery
    sentences: ["report the battery"]
    publish:
      type: {BATTERY}
      topic: battery_in
      message: {{location: base, percentage: 0.5}}
    replies:
      succeeded: Reported.
      failed: "I couldn't report: {{reason}}."
  - name: battery
    description: tell the battery level
    sentences: ["what is the battery level"]
    read:
      type: {BATTERY}
      topic: battery
      field: percentage
    replies:
      succeeded: "My battery is at {{value:.0%}}."
      failed: "I can't tell my battery level: {{reason}}."
"""


@pytest.fixture
def robot():
    robot = Robot(namespace=f'robot_{uuid.uuid4().hex[:8]}')   # no other test's endpoints under it
    yield robot
    robot.close()


@pytest.fixture
def brain(robot, tmp_path):
    blocker = socket.socket()   # bound, not listening: no llama-server, and no other process takes the port
    blocker.bind(('127.0.0.1', 0))
    skills = tmp_path / 'skills.yaml'
    skills.write_text(SKILLS)
    process = start_brain(tmp_path, f'http://127.0.0.1:{blocker.getsockname()[1]}/completion',
                          namespace='skill_clients', skills_file=str(skills),
                          skills_namespace=robot.node.get_namespace(), health_period=0.5)
    try:
        assert RosClient.wait_for(lambda: 'brain ready' in process.output(), WAIT), process.output()
        yield process
        assert process.alive(), process.output()
    finally:
        process.stop()
        blocker.close()


def brain_sees_from_robot(robot: Robot) -> dict[str, bool]:
    """What of the brain's skill endpoints the robot's graph shows (no command has been sent)."""
    namespace = robot.node.get_namespace()
    node = robot.node

    def action(name: str) -> bool:
        prefix = f'{namespace}/{name}/_action/'
        return (all(node.count_clients(prefix + service) > 0
                    for service in ('send_goal', 'get_result', 'cancel_goal'))
                and all(node.count_subscribers(prefix + topic) > 0 for topic in ('feedback', 'status')))

    return {'go_to': action('go_to'), 'go_nowhere': action('go_nowhere'),
            'dock': node.count_clients(f'{namespace}/dock') > 0,
            'report': node.count_publishers(f'{namespace}/battery_in') > 0,
            'battery': robot.battery.get_subscription_count() > 0}


def test_every_skill_has_its_client_from_start_up_and_the_first_commands_work(robot, brain):
    everything = {'go_to': True, 'go_nowhere': True, 'dock': True, 'report': True, 'battery': True}
    assert RosClient.wait_for(lambda: brain_sees_from_robot(robot) == everything, WAIT), \
        brain_sees_from_robot(robot)

    with RosClient(namespace='skill_clients') as ros:
        statuses: list[DiagnosticArray] = []
        ros.node.create_subscription(DiagnosticArray, '/diagnostics', statuses.append, EVENTS)
        session = Session(ros)

        # The first goal of the skill is accepted and reaches the robot.
        result, _ = session.ask('Go to the kitchen.', timeout=WAIT)
        assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
        assert (result.result.skill, result.result.text) == ('go_to', 'Going to the kitchen.')
        served = robot.goals.get(timeout=WAIT)
        assert (served.request.place, served.request.x) == ('kitchen', 1.0)
        served.finish(arrived=True, message='here')

        result, _ = session.ask('Dock at the north station.', timeout=WAIT)
        assert (result.result.skill, result.result.text) == ('dock', 'Docked at north.')
        assert robot.docked.get(timeout=WAIT).station == 'north'

        result, _ = session.ask('Report the battery.', timeout=WAIT)
        assert (result.result.skill, result.result.text) == ('report', 'Reported.')
        message = robot.published.get(timeout=WAIT)
        assert (message.location, message.percentage) == ('base', 0.5)

        # A client made for a server nobody runs: the skill still fails clearly, at use.
        result, _ = session.ask('Go nowhere.', timeout=WAIT)
        assert (result.result.skill, result.result.text) == \
            ('go_nowhere', "I couldn't go nowhere: the go nowhere action server is not running.")
        # A type not installed makes no client; the skill says so at use, as before.
        result, _ = session.ask('Navigate home.', timeout=WAIT)
        assert (result.result.skill, result.result.text) == \
            ('navigate', "I couldn't go home: the navigate to pose type of nav2 msgs is not installed.")

        namespace = robot.node.get_namespace()
        expected = {f'skill go_to: action {namespace}/go_to': 'seen',
                    f'skill go_nowhere: action {namespace}/go_nowhere': 'not seen',
                    f'skill dock: service {namespace}/dock': 'seen'}

        def servers() -> dict[str, str]:
            latest = {}
            for array in statuses[-5:]:
                for status in array.status:
                    if status.name == '/skill_clients/brain: brain':
                        latest = {kv.key: kv.value for kv in status.values if kv.key.startswith('skill ')}
            return latest

        assert ros.wait_for(lambda: servers() == expected, WAIT), servers()
