"""The server's side of a robot/server split: stt, the brain and llama-server.

    export HEISENBERG_LLM_API_KEY=...     # or api_key_file:=/path/keys (one key per line)
    ros2 launch heisenberg_bringup server.launch.py discovery_range:=SUBNET
    ros2 launch heisenberg_bringup server.launch.py start_llama_server:=false \
        llm_endpoint:=http://10.0.0.5:8080/completion api_key_file:=/etc/heisenberg/llm.key
    ros2 launch heisenberg_bringup server.launch.py namespace:=robot2 start_llama_server:=false \
        llm_endpoint:=http://127.0.0.1:8080/completion llm_slot:=1

The robot runs robot.launch.py (capture, wake_word, tts) in the same ROS_DOMAIN_ID and
namespace. llama-server stays on 127.0.0.1 unless llama_host says otherwise; bound beyond
loopback (llama_host:=0.0.0.0, for other robots' brains) it requires an API key, and
llama_parallel:=N gives N robots a slot each. assistant.launch.py with start_audio:=false
start_stt:=true: the same arguments and parameter file.
"""

import os

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description():
    # A plain path (not a substitution) lets `ros2 launch ... --show-args` list the included arguments.
    assistant = PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), 'assistant.launch.py'))
    return LaunchDescription([IncludeLaunchDescription(
        assistant, launch_arguments={'start_audio': 'false', 'start_stt': 'true'}.items())])
