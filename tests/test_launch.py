"""assistant.launch.py run by ROS 2 launch itself, where launch_pytest is installed.

launch, launch_ros and launch_pytest come with a ROS install, not from PyPI: without them
this module skips, and tests/test_e2e_voice.py runs the same scenarios through the README's
path (heisenberg_bringup.graph: the same nodes and parameter file). The installed launch file
is used (the package share), with real models, a real llama-server and real DDS.
"""

from __future__ import annotations

import subprocess
import threading
import time
import wave
from pathlib import Path

import pytest
import yaml

launch_pytest = pytest.importorskip(
    'launch_pytest', reason='launch_pytest is not installed (ROS 2 launch is not on PyPI); the same '
    'scenarios run through the README path in tests/test_e2e_voice.py')

from ament_index_python.packages import get_package_share_directory  # noqa: E402
from launch import LaunchDescription, LaunchService  # noqa: E402
from launch.actions import IncludeLaunchDescription, RegisterEventHandler  # noqa: E402
from launch.event_handlers import OnProcessStart, OnShutdown  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

from heisenberg_brain.core.llama_server import free_port  # noqa: E402
from heisenberg_bringup.monitor import GraphMonitor  # noqa: E402
from heisenberg_testing.speech import silence, write_wav  # noqa: E402

pytestmark = [pytest.mark.llm, pytest.mark.models]
SHARE = Path(get_package_share_directory('heisenberg_bringup'))
QUESTION = 'Hey Jarvis. What is the capital of France?'


def include_assistant(**arguments: str) -> IncludeLaunchDescription:
    source = PythonLaunchDescriptionSource(str(SHARE / 'launch' / 'assistant.launch.py'))
    return IncludeLaunchDescription(source, launch_arguments=arguments.items())


def deterministic_params(path: Path) -> Path:
    """The shipped parameter file with greedy decoding and generous timeouts for a shared CPU."""
    sections = yaml.safe_load((SHARE / 'config' / 'assistant.yaml').read_text())
    brain = next(section['ros__parameters'] for key, section in sections.items() if key.endswith('/brain'))
    brain['llm'].update(temperature=0.0, seed=42, max_tokens=64, first_token_timeout=60.0, token_timeout=30.0)
    brain['think_timeout'] = 90.0
    path.write_text(yaml.safe_dump(sections))
    return path


def still_running(pattern: str) -> list[str]:
    found = subprocess.run(['pgrep', '-af', pattern], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if 'pgrep' not in line]


def dedupe(names: list[str]) -> list[str]:
    return [name for i, name in enumerate(names) if i == 0 or name != names[i - 1]]


@pytest.fixture
def voice_turn(tmp_path, speech):
    """What the launch is given: a spoken question as the microphone, a reply directory, a port."""
    question = write_wav(tmp_path / 'question.wav', silence(1.5), speech.say(QUESTION), silence(2.0))
    return {'audio_file': question, 'record_dir': tmp_path / 'replies', 'port': free_port(),
            'params_file': deterministic_params(tmp_path / 'assistant.yaml')}


@launch_pytest.fixture
def assistant_from_a_file(voice_turn):
    return LaunchDescription([
        # One question, its answer, and no follow-up window after it (the argument, as a float).
        include_assistant(audio_source='file', audio_file=str(voice_turn['audio_file']),
                          record_dir=str(voice_turn['record_dir']), llama_port=str(voice_turn['port']),
                          params_file=str(voice_turn['params_file']), follow_up_seconds='0.0'),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=assistant_from_a_file)
def test_a_spoken_question_is_answered_and_the_reply_recorded(voice_turn):
    monitor = GraphMonitor()
    try:
        # The state topic keeps its last transitions, so a monitor that joins late still sees them.
        finished = monitor.wait_for(lambda: 'SPEECH_FINISHED' in [s.cause for s in monitor.of('state')], 240)
        states = dedupe(monitor.state_names())
    finally:
        monitor.close()
    assert finished, states
    assert states == ['IDLE', 'LISTENING', 'THINKING', 'SPEAKING', 'IDLE']
    replies = sorted(voice_turn['record_dir'].glob('*.wav'))
    assert len(replies) == 1
    with wave.open(str(replies[0])) as reply:
        assert reply.getnframes() / reply.getframerate() > 0.5
    yield
    # After the launch has shut down, nothing it started is left, llama-server included.
    assert still_running(f"--port {voice_turn['port']}") == []
    assert still_running(str(voice_turn['params_file'])) == []


def test_a_rejected_parameter_ends_the_launch_with_the_nodes_message():
    # Not a launch_pytest fixture: its finalizer requires the launch to end with code 0.
    reasons, starts = [], []
    service = LaunchService()
    service.include_launch_description(LaunchDescription([
        RegisterEventHandler(OnShutdown(on_shutdown=lambda event, context: reasons.append(event.reason))),
        RegisterEventHandler(OnProcessStart(on_start=lambda event, _: starts.append(event.process_name))),
        include_assistant(start_audio='false', start_llama_server='false', personality='sarcastic',
                          respawn='true'),
    ]))
    watchdog = threading.Timer(60.0, service.shutdown)  # a respawn loop would never end by itself
    watchdog.start()
    try:
        started = time.monotonic()
        code = service.run()
    finally:
        watchdog.cancel()
    assert code == 1, reasons
    assert time.monotonic() - started < 60.0
    assert len(starts) == 1, f'started {starts}: the brain was respawned after rejecting its parameters'
    assert 'brain rejected its parameters (exit code 2)' in reasons[0]
    assert "llm.personality must be one of" in reasons[0] and "'sarcastic'" in reasons[0]
