"""Start only the thinking side: llama-server and the brain (no audio nodes).

    ros2 launch heisenberg_bringup brain.launch.py
    ros2 launch heisenberg_bringup brain.launch.py start_llama_server:=false \
        llm_endpoint:=http://robot-llm:8080/completion

assistant.launch.py with start_audio:=false: the same arguments, the same parameter file
(config/assistant.yaml or params_file:=...), the same namespace. Other nodes can ask the
brain through its Respond action; it speaks through a tts node when one is running.
"""

import os

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description():
    # A plain path (not a substitution) lets `ros2 launch ... --show-args` list the included arguments.
    assistant = PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), 'assistant.launch.py'))
    return LaunchDescription([IncludeLaunchDescription(
        assistant, launch_arguments={'start_audio': 'false'}.items())])
