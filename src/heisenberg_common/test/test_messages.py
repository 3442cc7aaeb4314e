"""Types by name, messages filled from nested dicts (each rule of the module docstring), fields read back."""

import pytest
from rclpy.serialization import deserialize_message, serialize_message

from heisenberg_common.messages import FieldError, TypeNotFound, fill, read, resolve

ARRAY = 'diagnostic_msgs/msg/DiagnosticArray'


def test_resolve_msg_srv_and_action_by_name():
    from diagnostic_msgs.msg import DiagnosticArray
    from heisenberg_interfaces.action import Speak
    from rcl_interfaces.srv import SetParameters
    assert resolve(ARRAY) is DiagnosticArray
    assert resolve('rcl_interfaces/srv/SetParameters', 'srv') is SetParameters
    assert resolve('heisenberg_interfaces/action/Speak') is Speak


@pytest.mark.parametrize('name, kind, says', [
    ('nav2_msgs/action/NavigateToPose', None, 'package nav2_msgs is not installed'),
    ('std_msgs/msg/Nope', None, 'std_msgs.msg has no type Nope'),
    ('std_msgs/String', None, 'not a type name like package/msg|srv|action/Name'),
    ('std_msgs/msg/String', 'action', 'not a type name like package/action/Name'),
])
def test_resolve_names_what_is_missing(name, kind, says):
    with pytest.raises(TypeNotFound, match=says):
        resolve(name, kind)


def test_fill_nested_messages_sequences_and_conversions_survive_serialization():
    message = fill(resolve(ARRAY), {
        'header': {'frame_id': 'base', 'stamp': {'sec': 3, 'nanosec': 5}},
        'status': [{'level': 2, 'name': 'motor', 'values': [{'key': 'temp', 'value': 'hot'}]},
                   {'name': 'wheel'}]})
    back = deserialize_message(serialize_message(message), resolve(ARRAY))
    assert back.header.frame_id == 'base' and (back.header.stamp.sec, back.header.stamp.nanosec) == (3, 5)
    assert [status.name for status in back.status] == ['motor', 'wheel']
    assert back.status[0].level == b'\x02'
    assert (back.status[0].values[0].key, back.status[0].values[0].value) == ('temp', 'hot')

    value = fill(resolve('rcl_interfaces/msg/ParameterValue'),
                 {'double_value': 2, 'double_array_value': [1, 2.5], 'string_array_value': ['a', 'b'],
                  'integer_array_value': [-1, 7], 'bool_value': True})
    back = deserialize_message(serialize_message(value), type(value))
    assert back.double_value == 2.0 and isinstance(back.double_value, float)
    assert list(back.double_array_value) == [1.0, 2.5]
    assert list(back.string_array_value) == ['a', 'b'] and list(back.integer_array_value) == [-1, 7]
    assert back.bool_value is True

    uuid = fill(resolve('unique_identifier_msgs/msg/UUID'), {'uuid': list(range(16))})
    assert read(deserialize_message(serialize_message(uuid), type(uuid)), 'uuid') == list(range(16))


@pytest.mark.parametrize('fields, path, problem', [
    ({'header': {'frame': 'base'}}, 'header.frame', 'does not exist (a Header has stamp, frame_id)'),
    ({'headers': {}}, 'headers', 'does not exist'),
    ({'header': 'base'}, 'header', "takes a mapping of fields, not 'base'"),
    ({'header': {'frame_id': 3}}, 'header.frame_id', 'takes text, not 3'),
    ({'header': {'stamp': {'sec': 1.5}}}, 'header.stamp.sec', 'takes a whole number, not 1.5'),
    ({'header': {'stamp': {'nanosec': -1}}}, 'header.stamp.nanosec',
     'takes 0 to 4294967295 (uint32), not -1'),
    ({'status': {'name': 'motor'}}, 'status', 'takes a list'),
    ({'status': [{'level': 256}]}, 'status[0].level', 'takes a byte (0 to 255), not 256'),
    ({'status': [{}, {'values': [{'key': None}]}]}, 'status[1].values[0].key', 'takes text, not None'),
])
def test_fill_names_the_field_that_does_not_fit(fields, path, problem):
    with pytest.raises(FieldError) as error:
        fill(resolve(ARRAY), fields)
    assert error.value.path == path
    assert error.value.problem.startswith(problem)
    assert str(error.value).startswith(f"{ARRAY}: field '{path}'")


@pytest.mark.parametrize('field, value, problem', [
    ('double_value', True, 'takes a number, not True'),
    ('double_value', '1.0', "takes a number, not '1.0'"),
    ('integer_value', 2 ** 63, 'takes -9223372036854775808 to 9223372036854775807 (int64)'),
    ('bool_value', 1, 'takes true or false, not 1'),
    ('double_array_value', 1.0, 'takes a list, not 1.0'),
])
def test_fill_rejects_wrong_scalars(field, value, problem):
    with pytest.raises(FieldError, match=problem.replace('(', r'\(').replace(')', r'\)')):
        fill(resolve('rcl_interfaces/msg/ParameterValue'), {field: value})


def test_fill_checks_array_length_and_sequence_bound():
    with pytest.raises(FieldError, match='takes exactly 16 items, not 2'):
        fill(resolve('unique_identifier_msgs/msg/UUID'), {'uuid': [1, 2]})
    descriptor = resolve('rcl_interfaces/msg/ParameterDescriptor')
    with pytest.raises(FieldError, match='takes at most 1 items, not 2'):
        fill(descriptor, {'floating_point_range': [{}, {}]})
    filled = fill(descriptor, {'floating_point_range': [{'from_value': 0, 'to_value': 1}]})
    assert read(filled, 'floating_point_range.0.to_value') == 1.0


def test_read_dotted_fields_and_says_which_does_not_exist():
    message = fill(resolve(ARRAY), {'header': {'frame_id': 'base'}, 'status': [{'name': 'motor'}]})
    assert read(message, 'header.frame_id') == 'base'
    assert read(message, 'status.0.name') == 'motor'
    with pytest.raises(FieldError, match="field 'header.frame' does not exist"):
        read(message, 'header.frame')
    with pytest.raises(FieldError, match="field 'status.1' is past the end"):
        read(message, 'status.1')


@pytest.mark.parametrize('path, expected', [
    ('header.frame_id', 'string'),
    ('header', 'std_msgs/Header'),
    ('status', 'sequence<diagnostic_msgs/DiagnosticStatus>'),
    ('status.0.values.3.key', 'string'),
])
def test_field_type_walks_nested_messages_and_list_items(path, expected):
    from heisenberg_common.messages import field_type
    assert field_type(resolve(ARRAY), path) == expected


@pytest.mark.parametrize('path, problem', [
    ('header.frame', 'does not exist (a Header has stamp, frame_id)'),
    ('header.frame_id.size', 'does not exist (header.frame_id is a string)'),
    ('header.0', 'is an item of header, which is not a list'),
    ('status.name', 'is not an item number (status is a list)'),
])
def test_field_type_names_the_part_that_is_wrong(path, problem):
    from heisenberg_common.messages import field_type
    with pytest.raises(FieldError) as error:
        field_type(resolve(ARRAY), path)
    assert error.value.path == path and error.value.problem == problem
