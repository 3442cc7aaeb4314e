"""The robot's side of a robot/server split: capture, wake_word and tts, with local playback.

    ros2 launch heisenberg_bringup robot.launch.py discovery_range:=SUBNET
    ros2 launch heisenberg_bringup robot.launch.py static_peers:=192.168.1.20 audio_source:=topic \
        input_topic:=/my_driver/audio

stt, the brain and llama-server run on a stronger computer (server.launch.py) in the same
ROS_DOMAIN_ID and namespace: audio/in goes there, Speak goals and the state come back. Only
sound crosses the network: 16 kHz mono int16 audio, about 32 kB/s each way.
assistant.launch.py with start_stt:=false start_brain:=false start_llama_server:=false: the same
arguments and parameter file; play_locally defaults to true here (the robot's speaker).
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description():
    # A plain path (not a substitution) lets `ros2 launch ... --show-args` list the included arguments.
    assistant = PythonLaunchDescriptionSource(os.path.join(os.path.dirname(__file__), 'assistant.launch.py'))
    return LaunchDescription([
        DeclareLaunchArgument('play_locally', default_value='true',
                              description="play replies on the robot's speaker (false: audio/out only)"),
        IncludeLaunchDescription(assistant, launch_arguments={
            'start_stt': 'false', 'start_brain': 'false', 'start_llama_server': 'false',
            'play_locally': LaunchConfiguration('play_locally')}.items())])
