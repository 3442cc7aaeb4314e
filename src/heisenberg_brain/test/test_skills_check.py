"""A skills file against its ROS types at start-up (core/skills/check.py), one case per rule.

The types are real generated ones: heisenberg_test_msgs (GoTo, Dock, BatteryLevel, shaped like
Nav2's NavigateToPose, std_srvs' Trigger with a request and sensor_msgs' BatteryState) and
std_msgs; nav2_msgs stands for a package this computer does not have.
"""

import pytest

from heisenberg_brain.core.skills import SkillSpecError, skills_from_yaml
from heisenberg_brain.core.skills.check import check_types
from heisenberg_testing.robot import go_to_skill

ORIGIN = 'robot.yaml'


def check(yaml_text: str) -> list[str]:
    return check_types(skills_from_yaml(yaml_text, ORIGIN).spec.skills)


def skill(effect: str, slots: str = '', sentence: str = 'do it', replies: str = '') -> str:
    """One skill named it, with its effect block (indented YAML) and the replies the effect needs."""
    replies = replies or '{succeeded: Done., failed: "No: {reason}."}'
    return f"""
skills:
  - name: it
    description: do it
    sentences: ["{sentence}"]
{slots}
{effect}
    replies: {replies}
"""


ACTION_REPLIES = '{accepted: Going., succeeded: Done., failed: No., cancelled: Stopped.}'
DOCK = """    service:
      type: heisenberg_test_msgs/srv/Dock
      name: dock
      request: {station: '{station}', header: {frame_id: map}, speed: %s}"""
STATIONS = """    slots:
      station: {values: {north: null, south: null}}"""
BATTERY = """    read: {type: heisenberg_test_msgs/msg/BatteryLevel, topic: battery, field: %s}"""
LIGHTS = """    slots:
      state: {values: {'on': {data: %s}, 'off': {data: false}}}
    publish: {type: std_msgs/msg/Bool, topic: lights, message: {data: '{state.data}'}}"""
SPEED = """    slots:
      speed: {range: {from: %s, to: 3}}
    service:
      type: heisenberg_test_msgs/srv/Dock
      name: dock
      request: {speed: '{speed}'}"""


@pytest.mark.parametrize('text', [
    go_to_skill(),
    skill(DOCK % '0.5', STATIONS, 'dock at {station}'),
    skill(DOCK % '1', STATIONS, 'dock at {station}'),      # an int for a float field is taken
    skill(BATTERY % 'percentage'),
    skill(BATTERY % 'header.frame_id'),
    skill(LIGHTS % 'true', sentence='lights {state}'),
    skill(SPEED % '1', sentence='dock at speed {speed}'),   # a number slot's values are ints
], ids=['action goal from place values', 'service request, nested', 'int constant for a float',
        'read a field', 'read a nested field', 'publish from slot values',
        'number range into a float'])
def test_a_skill_that_fits_its_types_passes_without_a_word(text):
    assert check(text) == []


@pytest.mark.parametrize('text, error', [
    (go_to_skill().replace("x: '{place.x}'", "xx: '{place.x}'"),
     "skill 'go_to': action.goal.xx: heisenberg_test_msgs/action/GoTo_Goal: field 'xx' does not exist "
     '(a GoTo_Goal has place, x, y, yaw)'),
    (go_to_skill().replace('kitchen: {x: 1.0,', "kitchen: {x: 'one',"),
     "skill 'go_to': action.goal.x: heisenberg_test_msgs/action/GoTo_Goal: field 'x' takes a number, "
     "not 'one' (given by place 'kitchen')"),
    (skill(DOCK % "'fast'", STATIONS, 'dock at {station}'),
     "skill 'it': service.request.speed: heisenberg_test_msgs/srv/Dock_Request: field 'speed' takes a "
     "number, not 'fast'"),
    (skill(DOCK.replace('frame_id', 'frame') % '0.5', STATIONS, 'dock at {station}'),
     "skill 'it': service.request.header.frame: heisenberg_test_msgs/srv/Dock_Request: field "
     "'header.frame' does not exist (a Header has stamp, frame_id)"),
    (skill(BATTERY % 'percent'),
     "skill 'it': read.field: heisenberg_test_msgs/msg/BatteryLevel: field 'percent' does not exist "
     '(a BatteryLevel has header, percentage, cell_voltage, location)'),
    (skill(BATTERY % 'location.size'),
     "skill 'it': read.field: heisenberg_test_msgs/msg/BatteryLevel: field 'location.size' does not exist "
     '(location is a string)'),
    (skill(LIGHTS % '1', sentence='lights {state}'),
     "skill 'it': publish.message.data: std_msgs/msg/Bool: field 'data' takes true or false, not 1 "
     "(given by state 'on')"),
    (skill(SPEED % "-1", sentence='dock at speed {speed}').replace('speed: {range', 'speed: {range')
     .replace("request: {speed: '{speed}'}", "request: {station: '{speed}'}"),
     "skill 'it': service.request.station: heisenberg_test_msgs/srv/Dock_Request: field 'station' takes "
     'text, not -1 (given by speed -1)'),
], ids=['goal field the type lacks', 'a slot value that does not fit', 'a constant that does not fit',
        'nested field the type lacks', 'read field the type lacks', 'read into a string',
        'one slot value of two does not fit', 'a number slot into a text field'])
def test_a_field_the_type_lacks_or_cannot_take_stops_with_the_skill_and_field(text, error):
    with pytest.raises(SkillSpecError) as raised:
        check(text)
    assert str(raised.value) == f'{ORIGIN}: {error}'


def test_a_type_this_computer_lacks_is_a_warning_and_the_skill_stays():
    text = go_to_skill().replace('heisenberg_test_msgs/action/GoTo', 'nav2_msgs/action/NavigateToPose')
    text += skill(BATTERY % 'percent').split('skills:')[1]   # checked after the missing one: still an error
    with pytest.raises(SkillSpecError, match="skill 'it': read.field"):
        check(text)
    (warning,) = check(go_to_skill().replace('heisenberg_test_msgs/action/GoTo',
                                             'nav2_msgs/action/NavigateToPose'))
    assert warning.startswith(f"{ORIGIN}: skill 'go_to': action.type: nav2_msgs/action/NavigateToPose: "
                              'package nav2_msgs is not installed')
    assert warning.endswith('this computer lacks the type, so the skill will say it cannot do that until it '
                            'is installed')
