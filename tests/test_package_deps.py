"""What each package imports is what its package.xml (or the pip-only list) says it needs.

So that `rosdep install --from-paths src` on a robot, plus `pip install -r
requirements-python.txt` for the few parts with no rosdep key, is all a package needs.
Imports are read with ``ast`` from the package's code and launch files (not its tests).
"""

from __future__ import annotations

import ast
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ['heisenberg_audio', 'heisenberg_brain', 'heisenberg_common', 'heisenberg_bringup',
            'heisenberg_testing']
# import name -> rosdep key, for the Python libraries that have one
ROSDEP_KEYS = {'numpy': 'python3-numpy', 'yaml': 'python3-yaml', 'aiohttp': 'python3-aiohttp',
               'soundfile': 'python3-soundfile', 'sounddevice': 'python3-sounddevice',
               'soxr': 'python3-soxr', 'onnxruntime': 'python3-onnxruntime', 'psutil': 'python3-psutil',
               'pytest': 'python3-pytest'}
# import name -> pip requirement, for those with no rosdep key (requirements-python.txt)
PIP_ONLY = {'faster_whisper': 'faster-whisper', 'openwakeword': 'openwakeword', 'piper': 'piper-tts',
            'pywebrtc_audio': 'pywebrtc-audio', 'hassil': 'hassil'}


def imports_of(package: str) -> set[str]:
    root = ROOT / 'src' / package
    files = list((root / package).rglob('*.py')) + list((root / 'launch').glob('*.py'))
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split('.')[0])
    return {name for name in names
            if name not in sys.stdlib_module_names and name not in ('__future__', package)}


def declared(package: str) -> set[str]:
    tree = ElementTree.parse(ROOT / 'src' / package / 'package.xml')
    return {element.text.strip() for element in tree.getroot()
            if element.tag in ('depend', 'exec_depend', 'build_export_depend')}


def pip_requirements() -> set[str]:
    lines = (ROOT / 'requirements-python.txt').read_text().splitlines()
    return {re.split(r'[<>=!~ #]', line.strip())[0] for line in lines
            if line.strip() and not line.startswith('#')}


@pytest.mark.parametrize('package', PACKAGES)
def test_every_import_is_a_declared_dependency(package):
    deps, pip = declared(package), pip_requirements()
    missing = []
    for name in sorted(imports_of(package)):
        if name in PIP_ONLY:
            if PIP_ONLY[name] not in pip:
                missing.append(f'{name}: {PIP_ONLY[name]} not in requirements-python.txt')
        elif ROSDEP_KEYS.get(name, name) not in deps:
            missing.append(f'{name}: no <exec_depend>{ROSDEP_KEYS.get(name, name)}</exec_depend>')
    assert missing == [], f'{package}/package.xml: ' + '; '.join(missing)


def test_the_check_reads_real_imports():
    assert {'rclpy', 'numpy', 'piper', 'heisenberg_common'} <= imports_of('heisenberg_audio')
