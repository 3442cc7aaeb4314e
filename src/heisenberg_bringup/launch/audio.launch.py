"""Start only the audio side: capture, wake_word, stt and tts (no brain, no llama-server).

    ros2 launch heisenberg_bringup audio.launch.py audio_source:=file audio_file:=/path/question.wav

assistant.launch.py with start_brain:=false start_llama_server:=false: the same arguments,
the same parameter file (config/assistant.yaml or params_file:=...), the same namespace.
"""

import os

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description():
    # A plain path (not a substitution) lets `ros2 launch ... --show-args` list the included arguments.
    assistant = PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), 'assistant.launch.py'))
    return LaunchDescription([IncludeLaunchDescription(
        assistant, launch_arguments={'start_brain': 'false', 'start_llama_server': 'false'}.items())])
