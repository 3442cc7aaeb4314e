"""resolve_model_path: relative model paths are under the models directory, absolute ones stay."""

from pathlib import Path

import pytest

from heisenberg_common.model_paths import models_dir, resolve_model_path

HOME = str(Path.home())


@pytest.mark.parametrize('env, path, base, expected', [
    # relative: under base, else $HEISENBERG_MODELS, else ./models
    ('/srv/models', 'llm/a.gguf', '', '/srv/models/llm/a.gguf'),
    ('/srv/models', 'llm/a.gguf', None, '/srv/models/llm/a.gguf'),
    ('/srv/models', 'llm/a.gguf', '/m', '/m/llm/a.gguf'),
    ('/srv/models', 'llm/a.gguf', Path('/m'), '/m/llm/a.gguf'),
    ('/srv/models', 'a.onnx', 'rel/dir', 'rel/dir/a.onnx'),
    (None, 'piper/v.onnx', '', 'models/piper/v.onnx'),
    ('', 'piper/v.onnx', '', 'models/piper/v.onnx'),
    ('~/weights', 'piper/v.onnx', '', f'{HOME}/weights/piper/v.onnx'),
    ('/srv/models', 'x.onnx', '~/m', f'{HOME}/m/x.onnx'),
    # absolute (or ~): as given, whatever the base
    ('/srv/models', '/abs/a.onnx', '', '/abs/a.onnx'),
    ('/srv/models', '/abs/a.onnx', '/m', '/abs/a.onnx'),
    ('/srv/models', '~/a.onnx', '/m', f'{HOME}/a.onnx'),
])
def test_resolve_model_path(monkeypatch, env, path, base, expected):
    if env is None:
        monkeypatch.delenv('HEISENBERG_MODELS', raising=False)
    else:
        monkeypatch.setenv('HEISENBERG_MODELS', env)
    assert resolve_model_path(path, base) == Path(expected)


def test_models_dir_is_read_when_called(monkeypatch):
    monkeypatch.setenv('HEISENBERG_MODELS', '/first')
    assert models_dir() == Path('/first')
    monkeypatch.setenv('HEISENBERG_MODELS', '/second')
    assert models_dir() == Path('/second') and resolve_model_path('a') == Path('/second/a')
