"""Child processes: gone with their owner, and below the voice even in a session of their own."""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heisenberg_common.processes import at_niceness, die_with_parent, lower_session_priority

AUTOGROUPS = Path('/proc/self/autogroup').is_file()


def autogroup_nice(pid: int) -> int | None:
    """The niceness of pid's session in its /proc autogroup line ('/autogroup-42 nice 10').

    None for a process that never left the first session's group (a service started by init
    with no setsid, as a CI runner may be): the kernel prints an empty line for it.
    """
    line = Path(f'/proc/{pid}/autogroup').read_text().split()
    return int(line[-1]) if line else None


@pytest.fixture
def sleeper():
    started = []

    def start(command: list[str], **kwargs) -> subprocess.Popen:
        process = subprocess.Popen(command, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.mark.skipif(not AUTOGROUPS, reason='this kernel has no autogroups (/proc/self/autogroup)')
def test_a_child_in_its_own_session_gets_its_niceness_for_the_whole_session(sleeper):
    ours = autogroup_nice(os.getpid())
    child = sleeper(at_niceness(['sleep', '30'], 10), start_new_session=True)
    assert autogroup_nice(child.pid) == 0   # a new session starts at 0, whatever nice says
    assert lower_session_priority(child.pid, 10) is True
    assert autogroup_nice(child.pid) == 10
    assert autogroup_nice(os.getpid()) == ours   # only the child's session


@pytest.mark.skipif(not AUTOGROUPS, reason='this kernel has no autogroups (/proc/self/autogroup)')
def test_niceness_zero_leaves_the_session_alone(sleeper):
    child = sleeper(['sleep', '30'], start_new_session=True)
    assert lower_session_priority(child.pid, 0) is False
    assert autogroup_nice(child.pid) == 0


def test_a_process_that_is_gone_is_reported_not_raised(sleeper):
    child = sleeper(['true'])
    child.wait()
    assert lower_session_priority(child.pid, 10) is False


@pytest.mark.skipif(shutil.which('setpriv') is None, reason="util-linux's setpriv is missing")
def test_the_child_dies_with_its_parent(tmp_path):
    pid_file = tmp_path / 'pid'
    # The parent starts the child and is killed; the child must get SIGTERM from the kernel.
    parent = subprocess.Popen([sys.executable, '-c', (
        'import subprocess, sys, time\n'
        f'child = subprocess.Popen({die_with_parent(["sleep", "60"])!r})\n'
        f'open({str(pid_file)!r}, "w").write(str(child.pid))\n'
        'time.sleep(60)\n')])
    try:
        deadline = time.monotonic() + 10
        while not (pid_file.is_file() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child_pid = int(pid_file.read_text())
        assert Path(f'/proc/{child_pid}').exists()
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not _gone(child_pid):
        time.sleep(0.05)
    assert _gone(child_pid), 'the child outlived its parent'


def _gone(pid: int) -> bool:
    """Gone or a zombie (its parent died, so init reaps it)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().split(')')[-1].split()[0] == 'Z'
    except FileNotFoundError:
        return True
