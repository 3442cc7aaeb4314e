"""skills.yaml mistakes stop the load with a message naming the file, the skill and the field.

Each case breaks one thing in an otherwise valid file, so the message is about that thing.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from heisenberg_brain.core.skills import SkillSpecError, load_skills, skills_from_yaml
from heisenberg_brain.core.skills.template import Template

GO_TO = {
    'name': 'go_to',
    'description': 'go to a named place',
    'sentences': ['(go|drive) to [the] {place}'],
    'slots': {'place': {'values': {'kitchen': {'x': 1.0, 'y': 2.0, 'yaw': 0.0},
                                   'charger': {'x': 0.0, 'y': 0.0, 'yaw': 3.14}}}},
    'action': {'type': 'nav2_msgs/action/NavigateToPose', 'name': 'navigate_to_pose',
               'goal': {'pose.header.frame_id': 'map', 'pose.pose.position.x': '{place.x}',
                        'pose.pose.position.y': '{place.y}'}},
    'replies': {'accepted': 'Going to the {place}.', 'succeeded': 'I am at the {place}.',
                'failed': 'I could not get to the {place}: {reason}.', 'cancelled': 'I stopped.'},
}


def load(*skills, **top) -> object:
    return skills_from_yaml(yaml.safe_dump({**top, 'skills': list(skills)}, sort_keys=False), 'robot.yaml')


def error_of(*skills, **top) -> str:
    with pytest.raises(SkillSpecError) as caught:
        load(*skills, **top)
    return str(caught.value)


def go_to(**changes) -> dict:
    """GO_TO with changes: key=None deletes it; a dotted key (as action__type) reaches inside."""
    skill = copy.deepcopy(GO_TO)
    for key, value in changes.items():
        *parents, leaf = key.split('__')
        node = skill
        for parent in parents:
            node = node[parent]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return skill


def test_the_valid_skill_loads_with_its_fields_and_defaults():
    skills = load(GO_TO)
    spec = skills.get('go_to')
    assert spec.effect.type == 'nav2_msgs/action/NavigateToPose' and spec.effect.name == 'navigate_to_pose'
    assert spec.effect.server_timeout == 5.0 and spec.effect.timeout == 600.0
    assert spec.llm is False and spec.origin == 'robot.yaml'
    fields = dict(spec.effect.fields)
    assert fields['pose.header.frame_id'] == 'map'
    assert isinstance(fields['pose.pose.position.x'], Template)
    kitchen = spec.slot('place').lookup('kitchen')
    assert kitchen['x'] == 1.0 and kitchen['qw'] == pytest.approx(1.0) and kitchen['qz'] == pytest.approx(0.0)


def test_nested_fields_are_the_same_as_dotted_ones():
    nested = go_to(action__goal={'pose': {'header': {'frame_id': 'map'},
                                          'pose': {'position': {'x': '{place.x}', 'y': '{place.y}'}}}})
    fields = [dict(load(skill).get('go_to').effect.fields) for skill in (nested, GO_TO)]
    assert fields[0].keys() == fields[1].keys()


def test_a_read_skill_may_be_called_by_the_llm_by_default_an_action_may_not():
    battery = {'name': 'battery', 'description': 'tell my battery level', 'sentences': ['battery level'],
               'read': {'type': 'sensor_msgs/msg/BatteryState', 'topic': 'battery_state',
                        'field': 'percentage'},
               'replies': {'succeeded': 'At {value:.0%}.', 'failed': 'No: {reason}.'}}
    skills = load(GO_TO, battery)
    assert skills.get('battery').llm is True and skills.get('go_to').llm is False
    assert load(go_to(llm=True)).get('go_to').llm is True


@pytest.mark.parametrize('skill, top, message', [
    # the effect
    (go_to(teleport={'to': 'mars'}), {},
     "robot.yaml: skill 'go_to': teleport: unknown field (a skill has name, description, sentences, slots, "
     'replies, llm and one effect: action, service, publish, read)'),
    (go_to(action=None), {},
     "robot.yaml: skill 'go_to': effect: give exactly one effect of action, service, publish, read "
     '(found: none)'),
    (go_to(read={'type': 'sensor_msgs/msg/BatteryState', 'topic': 'battery', 'field': 'percentage'}), {},
     "robot.yaml: skill 'go_to': effect: give exactly one effect of action, service, publish, read "
     '(found: action, read)'),
    (go_to(action__type='nav2_msgs/NavigateToPose'), {},
     "robot.yaml: skill 'go_to': action.type: must be package/action/Name, e.g. "
     "nav2_msgs/action/NavigateToPose, got 'nav2_msgs/NavigateToPose'"),
    (go_to(action__type='nav2_msgs/msg/NavigateToPose'), {},
     "robot.yaml: skill 'go_to': action.type: must be package/action/Name"),
    (go_to(action__type='Nav2_msgs/action/navigateToPose'), {}, 'action.type: must be package/action/Name'),
    (go_to(action__name='navigate to pose'), {}, "skill 'go_to': action.name: must be a ROS name"),
    (go_to(action__speed=3), {},
     "skill 'go_to': action.speed: unknown field (an action has type, name, goal, "),
    (go_to(action__server_timeout=-1), {},
     "skill 'go_to': action.server_timeout: must be a number of seconds > 0"),
    (go_to(action__timeout='long'), {}, "skill 'go_to': action.timeout: must be a number of seconds > 0"),
    # slots used in fields and replies
    (go_to(action__goal={'pose.pose.position.x': '{room.x}'}), {},
     "robot.yaml: skill 'go_to': action.goal.pose.pose.position.x: {room.x}: slot 'room' is not declared "
     'under slots (here one can use: place)'),
    (go_to(action__goal={'pose.pose.position.z': '{place.z}'}), {},
     "skill 'go_to': action.goal.pose.pose.position.z: {place.z}: slots.place.values.kitchen has no 'z'"),
    (go_to(action__goal={'Pose.X': 1.0}), {},
     "skill 'go_to': action.goal.Pose.X: a field path is lower_case"),
    (go_to(action__goal={'pose.pose.position.x': '{place.x'}), {},
     "skill 'go_to': action.goal.pose.pose.position.x: bad template '{place.x'"),
    (go_to(replies__accepted='Going to {room}.'), {},
     "skill 'go_to': replies.accepted: {room}: slot 'room' is not declared under slots "
     '(here one can use: place)'),
    (go_to(replies__succeeded='Done in {value} s.'), {},
     "skill 'go_to': replies.succeeded: {value}: slot 'value' is not declared under slots "
     '(here one can use: place, result)'),
    # the replies
    (go_to(replies__cancelled=None), {},
     "robot.yaml: skill 'go_to': replies.cancelled: missing: an action skill says accepted, succeeded, "
     'failed, cancelled'),
    (go_to(replies__failed=''), {}, "skill 'go_to': replies.failed: missing"),
    (go_to(replies__failed=False), {},
     "skill 'go_to': replies.failed: must be a sentence, got False (quote it"),
    (go_to(replies=None), {},
     "skill 'go_to': replies: give the spoken replies accepted, succeeded, failed, cancelled (and optionally "
     'feedback)'),
    (go_to(replies__shrug='Meh.'), {}, "skill 'go_to': replies.shrug: unknown reply for an action"),
    # the sentences and slots
    (go_to(sentences=['(go|drive) to [the] {room}']), {},
     "skill 'go_to': sentences[0]: slot 'room' is not declared under slots (declared: place)"),
    (go_to(sentences=['come here']), {}, "skill 'go_to': sentences[0]: does not say slot 'place'"),
    (go_to(sentences=['(go|drive to {place}']), {},
     "skill 'go_to': sentences[0]: '(go|drive to {place}' is not a valid template"),
    (go_to(sentences=['<go> to {place}']), {}, "skill 'go_to': sentences[0]: <go> : expansion rules are not"),
    (go_to(sentences=[]), {}, "skill 'go_to': sentences: must be a non-empty list"),
    (go_to(slots={'place': {'kitchen': {'x': 1.0}}}), {},
     "skill 'go_to': slots.place: must be {values: {spoken name: value, ...}} or {range: {from: N, to: M}}"),
    (go_to(slots={'value': {'values': ['kitchen']}}), {}, "skill 'go_to': slots.value: 'value' is reserved"),
    (go_to(slots={'place': {'values': {True: {'x': 1.0}}}}), {},
     "skill 'go_to': slots.place.values: true: YAML reads on, off, yes and no as true or false: quote"),
    (go_to(slots={'place': {'range': {'from': 5, 'to': 1}}}), {},
     "skill 'go_to': slots.place.range: must be {from: N, to: M} with integers N <= M"),
    # the skill itself and the file
    (go_to(name='Go To'), {},
     "robot.yaml: skills[0]: name: must be lower_case_with_underscores, got 'Go To'"),
    (go_to(name='timer'), {}, "skill 'timer': name: 'timer' is a built-in skill"),
    (go_to(description=' '), {}, "skill 'go_to': description: say what the skill does"),
    (go_to(llm='yes'), {}, "skill 'go_to': llm: must be true or false, got 'yes'"),
    (GO_TO, {'builtins': {'stop': False}}, 'robot.yaml: builtins: stop: cannot be turned off'),
    (GO_TO, {'builtins': {'weather': True}},
     'robot.yaml: builtins: weather: unknown built-in (known: time, date, timer, name, stop, help)'),
    (GO_TO, {'actions': []}, 'robot.yaml: actions: unknown field (known: builtins, filler, skills)'),
    (GO_TO, {'filler': 'please'}, 'robot.yaml: filler: must be a list of words'),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_mistake_is_named(skill, top, message):
    assert message in error_of(skill, **top)


def test_two_skills_of_one_name():
    assert error_of(GO_TO, GO_TO) == "robot.yaml: skill 'go_to': name: another skill has this name"


def test_a_service_has_no_accepted_reply():
    dock = {'name': 'dock', 'description': 'dock', 'sentences': ['dock'],
            'service': {'type': 'std_srvs/srv/Trigger', 'name': 'dock'},
            'replies': {'accepted': 'Docking.', 'succeeded': 'Docked.', 'failed': 'No: {reason}.'}}
    assert "skill 'dock': replies.accepted: unknown reply for a service (it has succeeded, failed)" \
        in error_of(dock)


def test_a_file_that_is_not_yaml_or_not_there(tmp_path):
    broken = tmp_path / 'robot.yaml'
    broken.write_text('skills: [\n')
    with pytest.raises(SkillSpecError, match=f'^{broken}: not valid YAML'):
        load_skills(broken)
    with pytest.raises(SkillSpecError, match=f'^{tmp_path / "missing.yaml"}: cannot read the skills file'):
        load_skills(tmp_path / 'missing.yaml')


def test_an_error_in_a_file_names_the_file(tmp_path):
    path = tmp_path / 'my_robot_skills.yaml'
    path.write_text(yaml.safe_dump({'skills': [go_to(action__type='bad')]}))
    with pytest.raises(SkillSpecError, match=f"^{path}: skill 'go_to': action.type: "):
        load_skills(path)


def test_an_empty_file_is_the_builtins():
    assert [info.name for info in skills_from_yaml('').listing()] == [
        'time', 'date', 'timer', 'name', 'stop', 'help']
