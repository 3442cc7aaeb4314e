"""The launch files and config/assistant.yaml agree with the nodes' declared parameters.

Runs everywhere: the launch files are read with ``ast`` (``launch`` is not imported, it is
not on PyPI), the parameters come from the config dataclasses each node declares with
declare_config (a nested dataclass field becomes a dotted name), and rcl's own typing rules
are applied to the YAML values (an integer given for a double parameter is refused at start).
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from heisenberg_audio.core.capture.config import CaptureConfig
from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.tts.config import TtsConfig
from heisenberg_audio.core.wake_word import WakeWordConfig
from heisenberg_brain.core.config import BrainConfig
from heisenberg_brain.core.llama_server import LlamaServerConfig
from heisenberg_bringup.nodes import NODES

ROOT = Path(__file__).resolve().parent.parent
BRINGUP = ROOT / 'src' / 'heisenberg_bringup'
LAUNCH_DIR = BRINGUP / 'launch'
ASSISTANT_LAUNCH = LAUNCH_DIR / 'assistant.launch.py'
CONFIG = BRINGUP / 'config' / 'assistant.yaml'
NODE_CONFIGS = {
    'llama_server': LlamaServerConfig,
    'brain': BrainConfig,
    'capture': CaptureConfig,
    'wake_word': WakeWordConfig,
    'stt': SttConfig,
    'tts': TtsConfig,
}
NODE_PACKAGES = {'llama_server': 'heisenberg_brain', 'brain': 'heisenberg_brain',
                 'capture': 'heisenberg_audio', 'wake_word': 'heisenberg_audio', 'stt': 'heisenberg_audio',
                 'tts': 'heisenberg_audio'}


def declared_parameters(config_cls, prefix: str = '') -> dict[str, type]:
    """Parameter name -> annotation, as heisenberg_common.params.declare_config declares them."""
    hints = typing.get_type_hints(config_cls)
    names = {}
    for field in dataclasses.fields(config_cls):
        annotation = hints[field.name]
        if dataclasses.is_dataclass(annotation):
            names.update(declared_parameters(annotation, f'{prefix}{field.name}.'))
        else:
            names[prefix + field.name] = annotation
    return names


def flatten(params: dict, prefix: str = '') -> dict:
    """A ros__parameters mapping as rcl reads it: nested mappings are dotted names."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{key}.'))
        else:
            flat[prefix + str(key)] = value
    return flat


def accepts(annotation, value) -> bool:
    """Whether rcl/rclpy would take this YAML value for a parameter declared with annotation."""
    if typing.get_origin(annotation) in (tuple, list):
        element = typing.get_args(annotation)[0]
        # An empty YAML list has no type; rcl cannot give it to a typed array parameter.
        return isinstance(value, list) and bool(value) and all(accepts(element, item) for item in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation in (int, float):  # bool is an int in Python, never in ROS
        return type(value) is annotation
    return isinstance(value, annotation)


def module_assignment(path: Path, name: str):
    """The literal value assigned to a module-level name (constants only), or None."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name]:
            return node.value
    return None


def constant(node):
    return node.value if isinstance(node, ast.Constant) else None


def launch_arguments() -> dict[str, ast.expr]:
    """assistant.launch.py's ARGUMENTS table: name -> description expression."""
    table = module_assignment(ASSISTANT_LAUNCH, 'ARGUMENTS')
    assert isinstance(table, ast.List), 'assistant.launch.py has no ARGUMENTS list'
    rows = {}
    for row in table.elts:
        assert isinstance(row, ast.Tuple) and len(row.elts) == 3, ast.unparse(row)
        name = constant(row.elts[0])
        assert isinstance(name, str) and name not in rows, f'argument name {ast.unparse(row.elts[0])}'
        rows[name] = row.elts[2]
    return rows


def launch_arguments_defaults() -> dict[str, ast.expr]:
    table = module_assignment(ASSISTANT_LAUNCH, 'ARGUMENTS')
    return {constant(row.elts[0]): row.elts[1] for row in table.elts}


def launch_overrides() -> list[tuple[str, str, str, str]]:
    """assistant.launch.py's OVERRIDES table: (argument, node, parameter, type name)."""
    table = module_assignment(ASSISTANT_LAUNCH, 'OVERRIDES')
    assert isinstance(table, ast.List), 'assistant.launch.py has no OVERRIDES list'
    rows = []
    for row in table.elts:
        argument, node, parameter = (constant(e) for e in row.elts[:3])
        rows.append((argument, node, parameter, ast.unparse(row.elts[3])))
    return rows


def launch_nodes() -> dict[str, tuple[str, str, str]]:
    """The nodes the launch file starts (heisenberg_bringup.nodes, which it imports)."""
    assert 'from heisenberg_bringup.nodes import NODES' in ASSISTANT_LAUNCH.read_text()
    return dict(NODES)


def console_scripts(package: str) -> dict[str, str]:
    """The package's console_scripts entry points (setup.py read with ast): name -> module:main."""
    tree = ast.parse((ROOT / 'src' / package / 'setup.py').read_text())
    scripts = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if constant(key) == 'console_scripts':
                    for item in value.elts:
                        name, target = constant(item).split('=')
                        scripts[name.strip()] = target.strip()
    return scripts


def config_sections() -> dict[str, dict]:
    return yaml.safe_load(CONFIG.read_text())


# ---------------------------------------------------------------- the launch arguments

@pytest.mark.parametrize('name', list(launch_arguments()))
def test_every_argument_has_a_description(name):
    description = launch_arguments()[name]
    text = constant(description)
    assert isinstance(text, str) and len(text.strip()) >= 10, f'{name}: {ast.unparse(description)}'


def test_every_argument_is_used():
    source = ASSISTANT_LAUNCH.read_text()
    overridden = {argument for argument, *_ in launch_overrides()}
    used_by_code = {name for name in launch_arguments() if source.count(f"'{name}'") > 1}
    selecting = {entry.selected_by for entry in NODES.values()} | {entry.follows for entry in NODES.values()}
    assert set(launch_arguments()) - overridden - used_by_code - selecting == set()


def piece_arguments(piece: Path) -> dict[str, str | None]:
    """What a piece passes to assistant.launch.py: argument -> its constant value (None: an expression)."""
    given = {}
    for node in ast.walk(ast.parse(piece.read_text())):
        if isinstance(node, ast.keyword) and node.arg == 'launch_arguments':
            table = node.value.func.value  # {...}.items()
            given.update({constant(k): constant(v) for k, v in zip(table.keys, table.values)})
    return given


def piece_declarations(piece: Path) -> set[str]:
    """The arguments a piece declares itself (DeclareLaunchArgument('name', ...))."""
    return {constant(node.args[0]) for node in ast.walk(ast.parse(piece.read_text()))
            if isinstance(node, ast.Call) and ast.unparse(node.func) == 'DeclareLaunchArgument' and node.args}


PIECES = sorted(path.name for path in LAUNCH_DIR.glob('*.launch.py') if path != ASSISTANT_LAUNCH)


@pytest.mark.parametrize('piece', PIECES)
def test_the_pieces_set_only_declared_arguments(piece):
    declared = set(launch_arguments())
    keys = set(piece_arguments(LAUNCH_DIR / piece)) | piece_declarations(LAUNCH_DIR / piece)
    assert keys <= declared, f'{piece}: {sorted(keys - declared)} not declared by assistant.launch.py'


def started_by(piece: str) -> set[str]:
    """The nodes a launch file starts with its own arguments and assistant.launch.py's defaults."""
    values = {name: constant(default) for name, default in launch_arguments_defaults().items()}
    if piece != ASSISTANT_LAUNCH.name:
        values.update(piece_arguments(LAUNCH_DIR / piece))
    return {name for name, entry in NODES.items() if entry.selected(lambda argument: values[argument])}


@pytest.mark.parametrize('piece, nodes', [
    ('assistant.launch.py', {'capture', 'wake_word', 'stt', 'tts', 'brain', 'llama_server'}),
    ('audio.launch.py', {'capture', 'wake_word', 'stt', 'tts'}),
    ('brain.launch.py', {'brain', 'llama_server'}),
    ('robot.launch.py', {'capture', 'wake_word', 'tts'}),
    ('server.launch.py', {'stt', 'brain', 'llama_server'}),
])
def test_each_launch_file_starts_its_nodes(piece, nodes):
    assert started_by(piece) == nodes


def test_robot_and_server_together_start_the_whole_graph_once():
    robot, server = started_by('robot.launch.py'), started_by('server.launch.py')
    assert robot | server == set(NODES) and not robot & server
    assert set(PIECES) == {'audio.launch.py', 'brain.launch.py', 'robot.launch.py', 'server.launch.py'}


# ---------------------------------------------------------------- the nodes it starts

def test_it_starts_every_node_from_its_package_entry_point():
    nodes = launch_nodes()
    assert set(nodes) == set(NODE_CONFIGS)
    declared = set(launch_arguments())
    for name, (package, executable, selected_by, follows) in nodes.items():
        assert package == NODE_PACKAGES[name], name
        assert executable in console_scripts(package), f'{package} has no console script {executable}'
        # the graph runner starts the module the console script runs
        assert console_scripts(package)[executable] == f'{NODES[name].module}:main'
        assert selected_by in declared, f'{name} is selected by an undeclared argument {selected_by}'
        assert follows in declared | {''}, f'{name} follows an undeclared argument {follows}'


@pytest.mark.parametrize('argument,node,parameter,kind', launch_overrides())
def test_every_override_is_a_declared_parameter_of_its_type(argument, node, parameter, kind):
    assert argument in launch_arguments(), f'{argument} is not a declared launch argument'
    assert node in NODE_CONFIGS, f'{argument}: unknown node {node}'
    parameters = declared_parameters(NODE_CONFIGS[node])
    assert parameter in parameters, f'{argument}: {node} declares no parameter {parameter}'
    declared = parameters[parameter]
    assert declared.__name__ == kind, f'{argument}: {node}.{parameter} is a {declared}, not a {kind}'


# ---------------------------------------------------------------- config/assistant.yaml

def test_every_config_section_is_a_node_of_the_launch_namespace():
    default_namespace = constant(launch_arguments_defaults()['namespace'])
    for key, section in config_sections().items():
        namespace, _, node = key.rpartition('/')
        assert node in NODE_CONFIGS, f'{key}: no such node'
        assert namespace in (f'/{default_namespace}', '/**'), f'{key}: not under /{default_namespace}'
        assert set(section) == {'ros__parameters'}, key


@pytest.mark.parametrize('key', list(config_sections()))
def test_every_config_parameter_is_declared_with_a_matching_type(key):
    node = key.rpartition('/')[2]
    parameters = declared_parameters(NODE_CONFIGS[node])
    for name, value in flatten(config_sections()[key]['ros__parameters']).items():
        assert name in parameters, f'{key}: {node} declares no parameter {name}'
        assert accepts(parameters[name], value), f'{key}: {name}: {value!r} is not a {parameters[name]}'


# ---------------------------------------------------------------- the checker itself

@pytest.mark.parametrize('annotation,value,expected', [
    (float, 2.0, True),
    (float, 2, False),        # rclpy refuses an integer for a double parameter
    (int, 8080, True),
    (int, True, False),
    (bool, False, True),
    (str, '', True),
    (str, 5, False),
    (tuple[str, ...], ['a.onnx'], True),
    (tuple[str, ...], [], False),  # an empty YAML list has no type
    (tuple[str, ...], [1], False),
])
def test_accepts(annotation, value, expected):
    assert accepts(annotation, value) is expected


def test_nested_dataclass_fields_are_dotted_names():
    assert {'llm.endpoint', 'llm.personality', 'voice_session_id'} <= set(declared_parameters(BrainConfig))
    assert 'voice.model_path' in declared_parameters(TtsConfig)
