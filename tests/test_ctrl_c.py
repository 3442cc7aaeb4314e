"""Ctrl-C in a terminal, as it really arrives: SIGINT to the whole process group, then another.

A terminal sends SIGINT to every process of its foreground group and ``ros2 launch`` sends
its own right after; a user may also press Ctrl-C twice. Here two SIGINTs 0.2 s apart go to
the group of a node (the llama_server node with its llama-server child, and the brain with
its action server) and to the group of ``scripts/run.sh``'s runner. Each must stop cleanly:
exit code 0, no traceback, and nothing left running (llama-server never outlives its node).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from action_msgs.msg import GoalStatus

from heisenberg_brain.core.llama_server import free_port, get_json
from heisenberg_common.actions import ActionClient
from heisenberg_interfaces.action import Respond
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient, seen_by

pytestmark = pytest.mark.llm
ROOT = Path(__file__).resolve().parent.parent


def interrupt_twice(pgid: int) -> None:
    os.killpg(pgid, signal.SIGINT)
    time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGINT)
    except ProcessLookupError:  # already gone: fine
        pass


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def assert_clean(output: str) -> None:
    assert 'Traceback' not in output and 'KeyboardInterrupt' not in output, output[-3000:]


def assert_stopped_cleanly(node, code: int) -> None:
    assert code == 0, node.output()[-3000:]
    assert_clean(node.output())


def wait_until(predicate, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def healthy(port: int) -> bool:
    try:
        return get_json(f'http://127.0.0.1:{port}/health', timeout=1.0).get('status') == 'ok'
    except (OSError, ValueError):
        return False


def test_llama_server_node_stops_cleanly_on_two_sigints_and_takes_its_server(tmp_path, gguf_path):
    port = free_port()
    node = NodeProcess('heisenberg_brain.nodes.llama_server', 'llama_server', log_dir=tmp_path,
                       params_files=(write_params(tmp_path / 'p.yaml', 'llama_server',
                                                  {'model_path': str(gguf_path), 'port': port}),))
    try:
        assert wait_until(lambda: healthy(port), 90), node.output()
        children = descendants(node.process.pid)
        assert any('llama-server' in ' '.join(child.cmdline()) for child in children)
        interrupt_twice(node.process.pid)
        code = node.process.wait(30)
    finally:
        node.stop()
    assert_stopped_cleanly(node, code)
    assert [child for child in children if child.is_running() and child.status() != 'zombie'] == []


def test_brain_stops_cleanly_on_two_sigints_after_serving_a_goal(tmp_path, llama_server):
    # A server that has served a client is the slow one to stop (DESIGN.md): the second SIGINT
    # then arrives while it is still cleaning up.
    node = NodeProcess('heisenberg_brain.nodes.brain', 'brain', namespace='ctrl_c', log_dir=tmp_path,
                       params_files=(write_params(tmp_path / 'p.yaml', 'brain',
                                                  {'llm.endpoint': llama_server.completion_url}, 'ctrl_c'),))
    try:
        with RosClient(namespace='ctrl_c') as ros:
            action = ActionClient(ros.node, Respond, 'respond')
            assert action.wait_for_server(timeout_sec=30), node.output()
            assert seen_by(ros.node, '/ctrl_c/brain', 30), node.output()
            goal = Respond.Goal(prompt='Say hello.', max_tokens=8)
            handle = ros.result_of(action.send_goal_async(goal), 10)
            assert ros.result_of(handle.get_result_async(), 60).status == GoalStatus.STATUS_SUCCEEDED
            interrupt_twice(node.process.pid)
        code = node.process.wait(30)
    finally:
        node.stop()
    assert_stopped_cleanly(node, code)


@pytest.mark.models
def test_the_run_script_stops_everything_on_two_sigints(tmp_path):
    config = yaml.safe_load((ROOT / 'config' / 'assistant.yaml').read_text())
    port = free_port()
    config['/**/llama_server']['ros__parameters']['port'] = port
    config['/**/brain']['ros__parameters']['llm']['endpoint'] = f'http://127.0.0.1:{port}/completion'
    params = tmp_path / 'assistant.yaml'
    params.write_text(yaml.safe_dump(config))
    runner = subprocess.Popen(
        [sys.executable, '-m', 'heisenberg_bringup.run_assistant', '--source', 'file', '--keep-running',
         '--params-file', str(params), '--out', str(tmp_path / 'out')],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=ROOT)
    lines, processes = [], []
    try:
        for line in runner.stdout:
            lines.append(line)
            if line.startswith('Ready.'):
                break
        assert lines and lines[-1].startswith('Ready.'), ''.join(lines)
        processes = [runner, *descendants(runner.pid)]
        started = [p for p in descendants(runner.pid) if 'llama-server' in ' '.join(p.cmdline())]
        assert started, 'no llama-server among the runner\'s processes'
        interrupt_twice(runner.pid)
        output, _ = runner.communicate(timeout=90)
        lines.append(output)
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
        left = [p for p in processes[1:] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        for process in left:   # a failed stop must not leave nodes in the next test's domain
            process.kill()
    text = ''.join(lines)
    assert runner.returncode == 0, text[-3000:]
    assert 'Stopping ...' in text
    assert_clean(text)
    for log in (tmp_path / 'out' / 'logs').glob('*.log'):
        assert_clean(log.read_text(errors='replace'))
    assert left == [], [p.pid for p in left]


def test_a_runner_killed_outright_takes_its_nodes_with_it(tmp_path):
    # The graph runner (scripts/run.sh, a bench, a test) may die by SIGKILL; its nodes must not
    # go on publishing into a domain that the next run is given.
    script = ('import sys, time\n'
              'from heisenberg_bringup.graph import NodeProcess\n'
              'node = NodeProcess("heisenberg_brain.nodes.brain", "brain", namespace="orphan",\n'
              f'                   log_dir={str(tmp_path)!r})\n'
              'print(node.process.pid, flush=True)\n'
              'time.sleep(120)\n')
    runner = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    node_pid = None
    try:
        node_pid = int(runner.stdout.readline())
        log = tmp_path / 'brain.log'
        assert wait_until(lambda: log.exists() and 'brain ready' in log.read_text(), 60)
        os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        assert wait_until(lambda: not psutil.pid_exists(node_pid)
                          or psutil.Process(node_pid).status() == psutil.STATUS_ZOMBIE, 30), \
            'the node outlived its runner'
    finally:
        if node_pid and psutil.pid_exists(node_pid):
            psutil.Process(node_pid).kill()


@pytest.mark.models
def test_tts_stops_cleanly_on_two_sigints_in_the_middle_of_a_sentence(tmp_path):
    from heisenberg_interfaces.action import Speak

    node = NodeProcess('heisenberg_audio.nodes.tts', 'tts', namespace='ctrl_c_tts', log_dir=tmp_path)
    try:
        with RosClient(namespace='ctrl_c_tts') as ros:
            action = ActionClient(ros.node, Speak, 'speak')
            assert action.wait_for_server(timeout_sec=30), node.output()
            assert seen_by(ros.node, '/ctrl_c_tts/tts', 30), node.output()
            audio = []
            goal = Speak.Goal(text='This is a long sentence that goes on and on, so that the robot is '
                                   'still speaking it when the person presses Control C twice.',
                              utterance_id='1')
            handle = ros.result_of(action.send_goal_async(
                goal, feedback_callback=lambda m: audio.append(m.feedback.audio_emitted)), 10)
            assert handle.accepted
            assert ros.wait_for(lambda: any(audio), 30), 'no audio'
            interrupt_twice(node.process.pid)
            code = node.process.wait(30)
    finally:
        node.stop()
    assert_stopped_cleanly(node, code)


def test_a_second_sigint_is_ignored_from_the_moment_the_first_arrives():
    """Not only once clean-up has begun: one landing while the first KeyboardInterrupt unwinds
    (a node loading its models) raised again and skipped the clean-up, with a traceback."""
    script = (
        'import os, signal, time\n'
        'from heisenberg_common.runner import ignore_sigint_after_the_first\n'
        'ignore_sigint_after_the_first()\n'
        'try:\n'
        '    os.kill(os.getpid(), signal.SIGINT)\n'
        '    time.sleep(5)\n'
        'except KeyboardInterrupt:\n'
        '    os.kill(os.getpid(), signal.SIGINT)   # while the first is still being handled\n'
        '    time.sleep(0.2)\n'
        "    print('clean-up reached')\n")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'clean-up reached' in done.stdout, done.stderr
