"""ament's linters over every Python package of the workspace, plus the repo's own scripts."""

from pathlib import Path

import pytest
from ament_flake8.main import main_with_errors as flake8_main
from ament_pep257.main import main as pep257_main

ROOT = Path(__file__).resolve().parent.parent
PYTHON_TREES = ['src/heisenberg_common', 'src/heisenberg_audio', 'src/heisenberg_brain',
                'src/heisenberg_bringup', 'tests', 'bench', 'scripts', 'conftest.py']
LINE_LENGTH = '110'


@pytest.mark.parametrize('tree', PYTHON_TREES)
def test_flake8(tree):
    path = ROOT / tree
    if not path.exists():
        pytest.skip(f'{tree} has no Python files yet')
    rc, errors = flake8_main(argv=['--linelength', LINE_LENGTH, str(path)])
    assert rc == 0, f'{len(errors)} flake8 error(s) in {tree}:\n' + '\n'.join(errors)


@pytest.mark.parametrize('tree', [t for t in PYTHON_TREES if t.startswith('src/')])
def test_pep257(tree):
    # ament's convention, less D213 (summary on the docstring's second line) and D401 (imperative
    # mood): PEP 257 allows both styles and the code base reads better with one-line summaries.
    rc = pep257_main(argv=['--add-ignore', 'D213', 'D401', '--', str(ROOT / tree)])
    assert rc == 0, f'pep257 errors in {tree} (see output above)'
