"""What every bench shares: the machine it ran on, its load, a ROS domain of its own, the questions.

A bench is run as a script from the repository root (``python bench/bench_x.py`` after
``source scripts/env.sh``), so this folder is on its path.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from heisenberg_testing.domains import isolate

ROOT = Path(__file__).resolve().parent.parent

QUESTIONS = [
    'What is the capital of France?',
    'How many legs does a spider have?',
    'Why is the sky blue?',
    'What is two plus two?',
    'Who wrote Romeo and Juliet?',
    'What is the boiling point of water?',
    'How far away is the Moon?',
    'What do bees make?',
    'What is the largest ocean on Earth?',
    'What colour is a ripe banana?',
    'How many days are in a week?',
    'What is the tallest mountain in the world?',
]


def machine_info() -> str:
    model = 'unknown CPU'
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return f'{model}, {os.cpu_count()} cores'


def load_average() -> str:
    return '/'.join(f'{value:.2f}' for value in os.getloadavg()) + ' (1/5/15 min)'


def isolate_ros_session() -> None:
    """A ROS domain of its own (the test sessions' locks), localhost only, run from the repo root.

    SIGTERM (timeout, kill) is taken as Ctrl-C, so the graph is stopped on the way out.
    """
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    isolate(log_dir=ROOT / 'log' / 'bench')
    os.chdir(ROOT)  # the graph's parameter file path and relative model paths
