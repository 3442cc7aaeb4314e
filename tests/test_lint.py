"""ament's linters over every Python package of the workspace, plus the repo's own scripts.

Each linter runs in a child process: flake8 forks worker processes, and forking this pytest
process after earlier tests started DDS threads in it can deadlock.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON_TREES = ['src/heisenberg_common', 'src/heisenberg_audio', 'src/heisenberg_brain',
                'src/heisenberg_bringup', 'src/heisenberg_testing', 'tests', 'bench', 'scripts']
LINE_LENGTH = '110'
UNTRACKED = [ROOT / 'bench' / 'out']  # git-ignored output, e.g. the pipecat peer copied there to run


def _run(linter: str, *args: str) -> subprocess.CompletedProcess:
    code = f'import sys; from {linter}.main import main; sys.exit(main(argv=sys.argv[1:]))'
    return subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize('tree', PYTHON_TREES)
def test_flake8(tree):
    path = ROOT / tree
    if not path.exists():
        pytest.skip(f'{tree} has no Python files yet')
    result = _run('ament_flake8', '--linelength', LINE_LENGTH, '--exclude', *map(str, UNTRACKED), '--',
                  str(path))
    assert result.returncode == 0, f'flake8 errors in {tree}:\n{result.stdout}{result.stderr}'


@pytest.mark.parametrize('tree', [t for t in PYTHON_TREES if t.startswith('src/')])
def test_pep257(tree):
    # ament's convention, less D213 (summary on the docstring's second line) and D401 (imperative
    # mood): PEP 257 allows both styles and the code base reads better with one-line summaries.
    result = _run('ament_pep257', '--add-ignore', 'D213', 'D401', '--', str(ROOT / tree))
    assert result.returncode == 0, f'pep257 errors in {tree}:\n{result.stdout}{result.stderr}'
