"""The graph split across a real network link: a robot and a server in two network namespaces.

This test makes the namespaces and their veth pair (heisenberg_testing.netns; it skips saying
why where it cannot: not root, no `ip`), runs the scenarios of tests/split_scenarios.py in a
fresh pytest process inside the robot's namespace (why a fresh one: that module's docstring),
and removes the namespaces whatever happened. The scenarios: each node on its side, the LLM
port across the link answering only its key, a spoken question answered aloud across the link,
"Hey Jarvis" interrupting a spoken reply, a server-side brain or llama-server killed outright
healing as on one host.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from heisenberg_testing.netns import Link, NetnsUnavailable

pytestmark = [pytest.mark.llm, pytest.mark.models]
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(1200)
def test_the_split_graph_works_across_a_network_link(tmp_path):
    try:
        link = Link()
    except NetnsUnavailable as exc:
        pytest.skip(f'network namespaces cannot be made here: {exc}')
    try:
        scenarios = ROOT / 'tests' / 'split_scenarios.py'
        run = subprocess.run(
            [*link.wrapper('robot'), sys.executable, '-m', 'pytest', str(scenarios), '-v',
             '-p', 'no:cacheprovider', '--basetemp', str(tmp_path / 'scenarios')],
            cwd=ROOT, env={**os.environ, 'HEISENBERG_SPLIT_LINK': link.tag}, capture_output=True, text=True,
            timeout=1100)
    finally:
        link.close()
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert ' 5 passed' in run.stdout, report   # every scenario ran; none skipped
