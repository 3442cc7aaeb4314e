"""The Piper synthesizer with the real joe voice: audio that fits the text, voice file errors."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from heisenberg_audio.core.tts.synthesizer import (
    VoiceConfig, VoiceNotFoundError, Synthesizer, resolve_model_path, split_clauses)

pytestmark = pytest.mark.models


@pytest.fixture(scope='module')
def synthesizer(models_dir):
    return Synthesizer(VoiceConfig(), 16000, base_dir=models_dir)


@pytest.mark.parametrize('text', [
    'Hello there.',
    'The capital of France is Paris.',
    'I can set a timer, answer questions, and tell you the weather.',
    'Robots should speak clearly. They should also stop when interrupted!',
])
def test_duration_fits_the_text_length(synthesizer, text):
    audio = synthesizer.synthesize(text)
    seconds_per_char = len(audio) / 16000 / len(text)
    assert 0.04 <= seconds_per_char <= 0.12, f'{seconds_per_char:.3f} s/char for {text!r}'
    assert audio.dtype == np.int16
    assert np.abs(audio).max() > 3000  # speech, not silence


def test_one_array_per_sentence(synthesizer):
    parts = list(synthesizer.sentences('It is sunny. It is warm. Let us go outside!'))
    assert len(parts) == 3
    assert all(len(p) > 0.3 * 16000 for p in parts)


@pytest.mark.parametrize('text', ['', '   ', '\n\t', '...'])
def test_nothing_to_say_gives_no_audio(synthesizer, text):
    assert list(synthesizer.sentences(text)) == []
    assert len(synthesizer.synthesize(text)) == 0


def test_output_rate_and_settings_change_the_audio(models_dir):
    text = 'The quick brown fox jumps over the lazy dog.'
    steady = dict(noise_scale=0.0, noise_w_scale=0.0, warmup=False)  # no noise: same durations every run
    graph = Synthesizer(VoiceConfig(**steady), 16000, base_dir=models_dir)
    native = Synthesizer(VoiceConfig(**steady), 22050, base_dir=models_dir)
    base = len(graph.synthesize(text)) / 16000
    assert native.voice_sample_rate == 22050
    assert len(native.synthesize(text)) / 22050 == pytest.approx(base, abs=0.01)
    slow = Synthesizer(VoiceConfig(length_scale=1.5, sentence_silence=0.5, **steady), 16000,
                       base_dir=models_dir)
    assert len(slow.synthesize(text)) / 16000 > 1.3 * base + 0.5


def test_sentence_silence_follows_sentences_not_clauses(models_dir):
    voice = Synthesizer(VoiceConfig(sentence_silence=0.5, warmup=False), 16000, base_dir=models_dir)
    parts = list(voice.sentences('One, two three. Four five six.'))
    silent = ['pause' if not p.any() else 'speech' for p in parts]
    assert silent == ['speech', 'speech', 'pause', 'speech', 'pause']
    assert all(len(p) == 8000 for p in parts if not p.any())


@pytest.mark.parametrize('text, pieces', [
    ('Hello, how are you?', ['Hello,', 'how are you?']),
    ('No commas here.', ['No commas here.']),
    ('It costs 1,000 dollars; really.', ['It costs 1,000 dollars;', 'really.']),
    ('A well-known fact - nobody knows: why.', ['A well-known fact -', 'nobody knows:', 'why.']),
    ('Wait,   what?  Yes, sure. Fine.', ['Wait,', 'what?  Yes,', 'sure. Fine.']),
    ('Trailing comma, ', ['Trailing comma,']),
    ('', []),
])
def test_clause_split(text, pieces):
    assert split_clauses(text) == pieces


def test_clauses_come_out_one_by_one(synthesizer, models_dir):
    text = 'Well, the capital of France is Paris, a city on the Seine.'
    assert len(list(synthesizer.sentences(text))) == 3
    whole = Synthesizer(VoiceConfig(split_clauses=False, warmup=False), 16000, base_dir=models_dir)
    assert len(list(whole.sentences(text))) == 1


def test_missing_voice_names_the_file(tmp_path):
    with pytest.raises(VoiceNotFoundError, match=str(tmp_path / 'nope.onnx')):
        Synthesizer(VoiceConfig(model_path=str(tmp_path / 'nope.onnx')))


def test_missing_voice_config_names_the_json(tmp_path, models_dir):
    shutil.copy(models_dir / 'piper' / 'en_US-joe-medium.onnx', tmp_path / 'joe.onnx')
    with pytest.raises(VoiceNotFoundError, match='joe.onnx.json'):
        Synthesizer(VoiceConfig(model_path=str(tmp_path / 'joe.onnx')))


def test_speaker_id_beyond_the_voice_is_rejected(models_dir):
    with pytest.raises(ValueError, match='speaker'):
        Synthesizer(VoiceConfig(speaker_id=3, warmup=False), base_dir=models_dir)


@pytest.mark.parametrize('path, base, expected', [
    ('piper/v.onnx', '/m', '/m/piper/v.onnx'),
    ('/abs/v.onnx', '/m', '/abs/v.onnx'),
    ('v.onnx', '/models', '/models/v.onnx'),
])
def test_relative_voice_paths_resolve_against_the_models_dir(path, base, expected):
    assert resolve_model_path(path, Path(base)) == Path(expected)


def test_models_dir_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv('HEISENBERG_MODELS', '/opt/heisenberg/models')
    assert resolve_model_path('piper/v.onnx') == Path('/opt/heisenberg/models/piper/v.onnx')


@pytest.mark.parametrize('changes, message', [
    ({'model_path': ' '}, 'model_path'),
    ({'speaker_id': -2}, 'speaker_id'),
    ({'length_scale': 0.0}, 'length_scale'),
    ({'noise_scale': 9.0}, 'noise_scale'),
    ({'sentence_silence': -1.0}, 'sentence_silence'),
])
def test_voice_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        VoiceConfig(**changes)


def test_a_live_length_scale_change_slows_the_next_sentence(models_dir):
    voice = Synthesizer(VoiceConfig(), 16000, base_dir=models_dir)
    text = 'The capital of France is Paris.'
    normal = len(voice.synthesize(text))
    voice.set_length_scale(1.5)
    slow = len(voice.synthesize(text))
    assert voice.config.length_scale == 1.5
    assert 1.3 <= slow / normal <= 1.7, (normal, slow)
