"""The set-up's check of every part (python -m heisenberg_bringup.check, scripts/setup.sh --check).

Real parts: the llama-server the set-up built, the registry models. A broken model file must
fail the check by name, with llama-server's own last words; the shipped ones must pass.
"""

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.llm, pytest.mark.models]


def check(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'heisenberg_bringup.check', *args], capture_output=True,
                          text=True, timeout=240, cwd=cwd)


def test_every_shipped_part_passes(tmp_path):
    result = check('--log-dir', str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for label in ('llama-server', 'Piper voice', 'openWakeWord', 'Whisper'):
        assert any(line.strip().startswith(f'check {label}: ok') for line in lines), result.stdout
    assert 'paris' in result.stdout.lower()            # the model's answer to "The capital of France is"
    assert 'capital of france' in result.stdout.lower()  # what Whisper heard of Piper's sample


def test_a_truncated_gguf_fails_the_check_with_llama_servers_reason(tmp_path, gguf_path):
    broken = tmp_path / 'broken.gguf'
    with gguf_path.open('rb') as whole:
        broken.write_bytes(whole.read(256 * 1024))   # a download cut short: the header, no tensors
    result = check('--model', str(broken), '--log-dir', str(tmp_path), 'llama')
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if 'check llama-server: FAILED' in line]
    assert failed and f'while loading {broken}' in failed[0], result.stdout
    assert 'last log lines' in failed[0]
    assert 'not working: llama-server' in result.stdout


def test_a_file_that_is_not_a_gguf_is_named(tmp_path):
    weights = tmp_path / 'model.gguf'
    weights.write_text('<html>404 Not Found</html>')
    result = check('--model', str(weights), '--log-dir', str(tmp_path), 'llama')
    assert result.returncode == 1
    assert f'model file is not a GGUF: {weights}' in result.stdout, result.stdout


def test_an_unknown_part_is_refused():
    result = check('llama', 'espresso')
    assert result.returncode == 2 and 'unknown part(s) espresso' in result.stderr
