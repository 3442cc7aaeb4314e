"""A ROS_DOMAIN_ID per test session or bench run, so two runs on one machine never cross-talk.

A lock file per domain under the temp folder, held while the process lives; localhost-only
discovery on top. Child processes (the nodes a test starts) inherit the domain.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

_held = []   # the lock files this process holds (released when it exits)


def claim_ros_domain(first: int = 1, last: int = 100) -> int:
    """Lock the first free domain id in first..last and return it; RuntimeError when none is free."""
    lock_dir = Path(tempfile.gettempdir()) / 'heisenberg-ros-domains'
    lock_dir.mkdir(exist_ok=True)
    for domain in range(first, last + 1):
        handle = open(lock_dir / f'{domain}.lock', 'w')
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held.append(handle)
        return domain
    raise RuntimeError(f'no free ROS_DOMAIN_ID in {first}..{last}')


def isolate(log_dir: str | os.PathLike | None = None) -> int:
    """Give this process (and its children) a domain of its own, discovery on localhost only."""
    if 'HEISENBERG_TEST_DOMAIN' not in os.environ:
        domain = claim_ros_domain()
        os.environ['HEISENBERG_TEST_DOMAIN'] = os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    if log_dir is not None:
        os.environ.setdefault('ROS_LOG_DIR', str(log_dir))
    return int(os.environ['HEISENBERG_TEST_DOMAIN'])
