"""SttConfig: bad values are refused with a message naming them; model paths resolve."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from heisenberg_audio.core.stt.config import SttConfig

BAD = [
    ({'compute_type': 'int4'}, 'compute_type'),
    ({'beam_size': 0}, 'beam_size'),
    ({'cpu_threads': -1}, 'cpu_threads'),
    ({'language': 'english'}, 'language'),
    ({'vad_threshold': 1.0}, 'vad_threshold'),
    ({'end_of_speech_silence': 0.0}, 'end_of_speech_silence'),
    ({'no_speech_timeout': -1.0}, 'no_speech_timeout'),
    ({'max_utterance': 0.4}, 'max_utterance'),
    ({'speculative_after': 1.2}, 'speculative_after'),
    ({'smart_turn_after': 1.0}, 'smart_turn_after'),
    ({'smart_turn_threshold': 1.0}, 'smart_turn_threshold'),
    ({'encoder_window': 2.0}, 'encoder_window'),
    ({'encoder_window': 31.0}, 'encoder_window'),
    ({'pre_roll': 0.3}, 'pre_roll'),
    ({'speech_pad': -0.1}, 'speech_pad'),
    ({'wake_names': ('jarvis', ' ')}, 'wake_names'),
]


@pytest.mark.parametrize('values, named', BAD, ids=[b[1] for b in BAD])
def test_bad_values_are_refused(values, named):
    with pytest.raises(ValueError, match=named):
        SttConfig(**values)


def test_defaults_are_valid_and_every_field_is_described():
    config = SttConfig()
    assert config.language == 'en' and config.beam_size == 1 and config.speculative
    assert all(f.metadata.get('description') for f in dataclasses.fields(SttConfig))


def test_model_paths_are_under_the_models_dir_unless_absolute(monkeypatch, tmp_path):
    monkeypatch.setenv('HEISENBERG_MODELS', str(tmp_path))
    assert SttConfig().resolved_model_dir == tmp_path / 'whisper-tiny.en'
    assert SttConfig(model_dir='whisper-base').resolved_model_dir == tmp_path / 'whisper-base'
    assert SttConfig(model_dir='/opt/whisper').resolved_model_dir == Path('/opt/whisper')
    assert SttConfig(model_dir='$HEISENBERG_MODELS/x').resolved_model_dir == tmp_path / 'x'
    assert SttConfig().resolved_vad_model == tmp_path / 'openwakeword' / 'silero_vad.onnx'
