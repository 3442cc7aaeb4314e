"""Start the whole Heisenberg voice assistant.

    ros2 launch heisenberg_bringup assistant.launch.py
    ros2 launch heisenberg_bringup assistant.launch.py audio_source:=file audio_file:=/path/question.wav \
        record_dir:=/tmp/replies
    ros2 launch heisenberg_bringup assistant.launch.py start_llama_server:=false \
        llm_endpoint:=http://robot-llm:8080/completion
    ros2 launch heisenberg_bringup assistant.launch.py params_file:=/path/my_assistant.yaml

capture -> wake_word -> stt -> brain -> tts, plus llama-server on 127.0.0.1, all under the
`heisenberg` namespace with parameters from config/assistant.yaml (or params_file:=...).
An argument left empty keeps the parameter file's value; one given wins over the file.
audio.launch.py and brain.launch.py start the pieces with the same arguments and file;
robot.launch.py and server.launch.py split the graph between a robot and a server over the
network (README: "Two machines").

A node that dies is respawned (respawn:=true), except one that rejected its parameters
(exit code 2) or found it cannot work (exit code 3, e.g. a llama-server that never starts):
that ends the launch with the node's message, as respawning would loop.
"""

from heisenberg_brain.core.api_key import is_loopback
from heisenberg_bringup.nodes import NODES  # node -> (package, executable, start_* argument)
from heisenberg_common.runner import CONFIG_EXIT_CODE, NO_RESPAWN_EXIT_CODES
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit, OnProcessIO
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('namespace', 'heisenberg', 'namespace of every node and topic (relative: under an including namespace)'),
    ('params_file',
     PathJoinSubstitution([FindPackageShare('heisenberg_bringup'), 'config', 'assistant.yaml']),
     'parameter file with one section per node, keyed /**/<node> (any namespace) or /<namespace>/<node>'),
    ('models_dir', EnvironmentVariable('HEISENBERG_MODELS', default_value=''),
     'directory that relative model paths are resolved against ("" = ./models)'),
    ('start_audio', 'true', 'start capture, wake_word and tts (and stt, unless start_stt says otherwise)'),
    ('start_stt', '', 'start stt (VAD + Whisper): "" = as start_audio; true beside the brain on a server'),
    ('start_brain', 'true', 'start the brain (dialogue, Respond action server)'),
    ('start_llama_server', 'true', 'start llama-server on loopback (false: use the llm endpoint as is)'),
    ('audio_source', '', 'where the audio comes from: mic | file | topic (shipped file: mic)'),
    ('audio_file', '', 'WAV/FLAC file to play as the microphone when audio_source:=file'),
    ('audio_device', '', 'microphone device name or index (shipped file: the system default)'),
    ('input_topic', '', "the robot's own AudioDataStamped topic when audio_source:=topic"),
    ('model', '', 'GGUF served by llama-server (absolute, or relative to models_dir), e.g. an LFM2-350M'),
    ('llama_port', '', "port of the started llama-server (the brain's endpoint follows it)"),
    ('llm_endpoint', '', "llama-server's /completion URL (\"\" = the file's, or the started server's)"),
    ('llama_host', '', 'address(es) the started llama-server binds (file: 127.0.0.1); beyond loopback '
                       'it needs api_key_file or $HEISENBERG_LLM_API_KEY'),
    ('llama_parallel', '', 'slots of the started llama-server (-np), one per robot sharing it (file: 1)'),
    ('api_key_file', '', "file holding llama-server's API key: the started server requires it, the "
                         "brain sends it (\"\" = $HEISENBERG_LLM_API_KEY, or none)"),
    ('llm_slot', '', "llama-server slot of this brain's prompt cache, 0..N-1 on a shared server (file: -1, "
                     'any)'),
    ('discovery_range', '', 'ROS_AUTOMATIC_DISCOVERY_RANGE of the nodes: SUBNET to reach the other '
                            'machine, LOCALHOST, OFF, SYSTEM_DEFAULT ("" = the environment\'s)'),
    ('static_peers', '', 'ROS_STATIC_PEERS of the nodes: the other machine\'s address(es), ; separated, '
                         'for networks without multicast ("" = the environment\'s)'),
    ('personality', '', 'concise | friendly | professional | technical | robot'),
    ('skills_file', '', "your skills.yaml (docs/skills.md; \"\" = the built-in skills only)"),
    ('llm_tools', '', 'true: the LLM may call the skills marked llm: true as tools (llama-server started '
                      'with --jinja; off with a model that cannot, said at start). Shipped file: false'),
    ('follow_up_seconds', '', 'after a spoken reply, seconds to listen for a follow-up without the wake '
                              'word; 0 = off (shipped file: 5)'),
    ('language', '', 'en | fr | auto (detected per turn): what stt listens for and the replies are in '
                     "(shipped file: en); fr and auto use whisper-base"),
    ('stt_model', '', 'faster-whisper model directory (relative to models_dir; "" = the language\'s)'),
    ('record_dir', '', 'directory where tts also writes each spoken reply as a WAV file'),
    ('play_locally', '', "true: play replies on this computer's speaker too (besides audio/out)"),
    ('respawn', 'true', 'restart a node that dies (never one that rejected its parameters)'),
    ('log_level', 'info', "the nodes' log level: debug | info | warn | error (rcl's own stays at info)"),
]

# Launch argument -> (node, parameter, type). Only arguments given a value are passed on, so an
# empty one keeps the parameter file's value (the shipped file's is said in the description).
OVERRIDES = [
    ('audio_source', 'capture', 'source', str),
    ('audio_file', 'capture', 'file_path', str),
    ('audio_device', 'capture', 'device', str),
    ('input_topic', 'capture', 'input_topic', str),
    ('model', 'llama_server', 'model_path', str),
    ('llama_port', 'llama_server', 'port', int),
    ('llm_endpoint', 'brain', 'llm.endpoint', str),
    ('llama_host', 'llama_server', 'host', str),
    ('llama_parallel', 'llama_server', 'parallel_slots', int),
    ('api_key_file', 'llama_server', 'api_key_file', str),
    ('api_key_file', 'brain', 'llm.api_key_file', str),
    ('llm_slot', 'brain', 'llm.slot_id', int),
    ('personality', 'brain', 'llm.personality', str),
    ('skills_file', 'brain', 'skills_file', str),
    ('llm_tools', 'brain', 'llm.tools', bool),
    ('llm_tools', 'llama_server', 'jinja', bool),   # one argument: the path needs both
    ('follow_up_seconds', 'brain', 'follow_up_seconds', float),
    ('language', 'stt', 'language', str),
    ('language', 'brain', 'language', str),
    ('stt_model', 'stt', 'model_dir', str),
    ('record_dir', 'tts', 'record_dir', str),
    ('play_locally', 'tts', 'play_locally', bool),
]

# Time a node gets to stop after SIGINT before SIGTERM: an action server can take ~10 s, and
# llama_server stops its llama-server child in order (a SIGKILLed node would orphan it).
STOP_TIMEOUT = '15'
DISCOVERY_RANGES = ('SUBNET', 'LOCALHOST', 'OFF', 'SYSTEM_DEFAULT')
WILDCARDS = ('0.0.0.0', '::')   # bound on every interface, loopback included


class NodeExitError(RuntimeError):
    """Raised from an exit handler: launch logs it, stops every node and returns a non-zero code."""


def _flag(value: str, name: str = '') -> bool:
    if value.lower() not in ('true', 'false'):
        raise ValueError(f"{name}:={value}: expected true or false")
    return value.lower() == 'true'


def _typed(name: str, value: str, kind: type):
    """The argument as its parameter's type.

    A wrong type is refused here: rcl silently keeps the parameter file's value when a later
    file gives another type. Strings are typed explicitly, or launch reads them as YAML
    (language:=no would become False).
    """
    if kind is bool:
        return _flag(value, name)
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            expected = 'an integer' if kind is int else 'a number'
            raise ValueError(f'{name}:={value}: expected {expected}') from None
    return ParameterValue(value, value_type=str)


def _overrides(arg) -> dict:
    """Parameters per node from the launch arguments that were given a value."""
    params = {}
    for name, node, parameter, kind in OVERRIDES:
        if arg(name) != '':
            params.setdefault(node, {})[parameter] = _typed(name, arg(name), kind)
    started_here = NODES['llama_server'].selected(arg) and NODES['brain'].selected(arg)
    host = arg('llama_host')
    if started_here and host and not arg('llm_endpoint') and not (is_loopback(host) or host in WILDCARDS):
        # The brain's endpoint (the file's, on loopback) would not reach a server bound elsewhere only.
        raise ValueError(f'llama_host:={host}: give llm_endpoint:=http://{host}:PORT/completion too, or '
                         'bind llama_host:=0.0.0.0 (every interface; the brain then uses 127.0.0.1)')
    if started_here and arg('llama_port') and not arg('llm_endpoint'):
        params.setdefault('brain', {})['llm.endpoint'] = f"http://127.0.0.1:{arg('llama_port')}/completion"
    return params


def _environment(arg) -> dict | None:
    """What the nodes get in their environment from the arguments given (else they inherit it)."""
    env = {}
    if arg('models_dir'):
        env['HEISENBERG_MODELS'] = arg('models_dir')
    if arg('discovery_range'):
        if arg('discovery_range') not in DISCOVERY_RANGES:
            raise ValueError(f"discovery_range:={arg('discovery_range')}: expected one of {DISCOVERY_RANGES}")
        env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = arg('discovery_range')
    if arg('static_peers'):
        env['ROS_STATIC_PEERS'] = arg('static_peers')
    return env or None


def _absolute_namespace(context, namespace: str) -> str:
    """The namespace the nodes get: a relative one goes under an including launch's namespace."""
    if namespace.startswith('/'):
        return namespace.rstrip('/') or '/'
    outer = (context.launch_configurations.get('ros_namespace') or '').strip('/')
    return '/' + '/'.join(part for part in (outer, namespace.strip('/')) if part)


def _logger_name(namespace: str, node: str) -> str:
    # The node's own logger (and its children): a global debug level would flood with rcl/rmw.
    return '.'.join(part for part in namespace.split('/') + [node] if part)


def _exit_handlers(node: Node, name: str, respawn: bool) -> list:
    """End the launch when a node rejects its parameters, cannot run, or exits with respawn off."""
    last_error = ['see its output above']

    def remember(event):
        # The node's own verdict: its [FATAL]/[ERROR] log lines, or a traceback's last line.
        for line in event.text.decode(errors='replace').splitlines():
            if '[FATAL]' in line or '[ERROR]' in line or (line.strip() and not line.startswith(('[', ' '))):
                last_error[0] = line.strip()

    def on_exit(event, context):
        if context.is_shutdown or (respawn and event.returncode not in NO_RESPAWN_EXIT_CODES):
            return None
        why = {CONFIG_EXIT_CODE: 'rejected its parameters'}.get(
            event.returncode, 'cannot run' if event.returncode in NO_RESPAWN_EXIT_CODES
            else 'exited and respawn is off')
        raise NodeExitError(f'{name} {why} (exit code {event.returncode}): {last_error[0]}')

    return [RegisterEventHandler(OnProcessIO(target_action=node, on_stderr=remember)),
            RegisterEventHandler(OnProcessExit(target_action=node, on_exit=on_exit))]


def _launch_setup(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    namespace = arg('namespace')
    full_namespace = _absolute_namespace(context, namespace)
    params_file = arg('params_file')
    overrides = _overrides(arg)
    respawn = _flag(arg('respawn'), 'respawn')
    env = _environment(arg)
    actions = []
    for name, entry in NODES.items():
        if not entry.selected(arg):
            continue
        package, executable = entry.package, entry.executable
        log_level = f"{_logger_name(full_namespace, name)}:={arg('log_level')}"
        node = Node(package=package, executable=executable, name=name, namespace=namespace,
                    parameters=[params_file] + ([overrides[name]] if name in overrides else []),
                    ros_arguments=['--log-level', log_level], additional_env=env, output='screen',
                    respawn=respawn, respawn_delay=2.0, sigterm_timeout=STOP_TIMEOUT)
        actions += _exit_handlers(node, f"{full_namespace.rstrip('/')}/{name}", respawn) + [node]
    return actions


def generate_launch_description():
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [OpaqueFunction(function=_launch_setup)])
