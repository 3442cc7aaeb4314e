"""Start the whole Heisenberg voice assistant.

    ros2 launch heisenberg_bringup assistant.launch.py
    ros2 launch heisenberg_bringup assistant.launch.py audio_source:=file audio_file:=/path/question.wav
    ros2 launch heisenberg_bringup assistant.launch.py start_llama_server:=false \
        llm_endpoint:=http://robot-llm:8080/completion

capture -> wake_word -> stt -> brain -> tts, plus llama-server on 127.0.0.1, all under the
`heisenberg` namespace with parameters from config/assistant.yaml (or params_file:=...).
Arguments given here override the file.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import (EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution,
                                  PythonExpression)
from launch_ros.actions import Node, PushRosNamespace
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('namespace', 'heisenberg', 'namespace of every node and topic'),
    ('params_file',
     PathJoinSubstitution([FindPackageShare('heisenberg_bringup'), 'config', 'assistant.yaml']),
     'parameter file with one section per node'),
    ('models_dir', EnvironmentVariable('HEISENBERG_MODELS', default_value=''),
     'directory that relative model paths are resolved against (the set-up places models there)'),
    ('audio_source', 'mic', 'where the audio comes from: mic | file | topic'),
    ('audio_file', '', 'WAV/FLAC file to play as the microphone when audio_source:=file'),
    ('audio_device', '', 'microphone device name or index ("" = system default)'),
    ('input_topic', 'audio_driver/audio',
     "the robot's own AudioDataStamped topic when audio_source:=topic"),
    ('start_llama_server', 'true', 'start llama-server on 127.0.0.1 (false: use llm_endpoint as is)'),
    ('model', 'llm/SmolLM2-135M-Instruct.Q4_1.gguf',
     'GGUF served by llama-server (absolute, or relative to models_dir); e.g. an LFM2-350M GGUF'),
    ('llama_port', '8080', 'port of the started llama-server'),
    ('llm_endpoint', ['http://127.0.0.1:', LaunchConfiguration('llama_port'), '/completion'],
     "llama-server's /completion URL (default: the started server's)"),
    ('personality', 'concise', 'concise | friendly | professional | technical | robot'),
    ('language', 'en', 'speech language for stt ("" = detect; non-English needs stt_model:=whisper-base)'),
    ('stt_model', 'whisper-tiny.en', 'faster-whisper model directory (relative to models_dir)'),
    ('record_dir', '', 'if set, tts also writes each spoken reply there as a WAV file'),
    ('play_locally', 'false', "play replies on this computer's speaker (besides the audio/out topic)"),
    ('respawn', 'true', 'restart a node that dies (not on a parameter error)'),
    ('log_level', 'info', 'log level of every node'),
]


def _text(name):
    # Typed on purpose: an empty or numeric-looking string must stay a string parameter.
    return ParameterValue(LaunchConfiguration(name), value_type=str)


def _flag(name):
    return ParameterValue(LaunchConfiguration(name), value_type=bool)


def generate_launch_description():
    arg = LaunchConfiguration
    params = arg('params_file')
    common = {
        'output': 'screen',
        'respawn': PythonExpression(["'", arg('respawn'), "' == 'true'"]),
        'respawn_delay': 2.0,
        'arguments': ['--ros-args', '--log-level', arg('log_level')],
    }

    nodes = [
        PushRosNamespace(arg('namespace')),
        Node(package='heisenberg_brain', executable='llama_server', name='llama_server',
             condition=IfCondition(arg('start_llama_server')),
             parameters=[params, {'model_path': _text('model'),
                                  'port': ParameterValue(arg('llama_port'), value_type=int)}], **common),
        Node(package='heisenberg_audio', executable='capture', name='capture',
             parameters=[params, {'source': _text('audio_source'), 'file_path': _text('audio_file'),
                                  'device': _text('audio_device'), 'input_topic': _text('input_topic')}],
             **common),
        Node(package='heisenberg_audio', executable='wake_word', name='wake_word',
             parameters=[params], **common),
        Node(package='heisenberg_audio', executable='stt', name='stt',
             parameters=[params, {'language': _text('language'), 'model_dir': _text('stt_model')}], **common),
        Node(package='heisenberg_brain', executable='brain', name='brain',
             parameters=[params, {'llm.endpoint': _text('llm_endpoint'),
                                  'llm.personality': _text('personality')}],
             **common),
        Node(package='heisenberg_audio', executable='tts', name='tts',
             parameters=[params, {'record_dir': _text('record_dir'), 'play_locally': _flag('play_locally')}],
             **common),
    ]
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=description)
         for name, default, description in ARGUMENTS]
        + [SetEnvironmentVariable('HEISENBERG_MODELS', arg('models_dir'), condition=IfCondition(
            PythonExpression(["'", arg('models_dir'), "' != ''"]))),
           GroupAction(nodes)])
