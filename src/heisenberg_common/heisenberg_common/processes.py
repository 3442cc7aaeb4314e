"""How the graph starts its child processes: gone with their owner, and below the voice.

Pure Python (no rclpy): used by the llama_server node for llama-server and by the graph
runner for the nodes, so that no child outlives the process that owns it.
"""

from __future__ import annotations

import shutil
from pathlib import Path


def die_with_parent(command: list[str]) -> list[str]:
    """command, run so that it gets SIGTERM when the thread that starts it dies, even by SIGKILL.

    Linux's parent-death signal, set by util-linux's setpriv before it execs the command (a
    preexec_fn would do the same in Python, but is unsafe in a process with threads). Where
    setpriv is missing, the command runs as is: a crashed owner then leaves the child running.
    """
    setpriv = shutil.which('setpriv')
    return [setpriv, '--pdeathsig', 'TERM', '--', *command] if setpriv else list(command)


def at_niceness(command: list[str], niceness: int) -> list[str]:
    """command, run at the given niceness by coreutils' nice (every thread it starts inherits it).

    Where nice is missing, the command runs as is.
    """
    nice = shutil.which('nice')
    return [nice, '-n', str(niceness), '--', *command] if niceness and nice else list(command)


def lower_session_priority(pid: int, niceness: int) -> bool:
    """Give the session (autogroup) that pid leads the niceness its threads have.

    With the kernel's autogroups on (most desktop and robot distributions), a thread's nice
    value only counts against threads of its own session: a process started in a session of
    its own (start_new_session) shares the CPU with every other session as an equal, whatever
    its nice value. The session's own niceness in /proc/PID/autogroup is what ranks it against
    the others; raising it needs no privilege. False where the kernel has no autogroups or
    the write is refused (then the nice value alone applies, as without autogroups).
    """
    if niceness <= 0:
        return False
    try:
        Path(f'/proc/{pid}/autogroup').write_text(f'{niceness}\n')
    except OSError:
        return False
    return True
