"""A voice per language (core/tts/voices.py): the spec table, espeak-ng's French, the choice by language."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from heisenberg_audio.core.tts.config import TtsConfig
from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig, VoiceNotFoundError
from heisenberg_audio.core.tts.voices import EspeakVoice, Voices, parse_voice_specs, read_wav_bytes

SPECS = [
    (('fr=espeak-ng:fr',), {'fr': 'espeak-ng:fr'}),
    (('fr=piper/fr_FR-siwis-medium.onnx', 'de=espeak-ng:de'),
     {'fr': 'piper/fr_FR-siwis-medium.onnx', 'de': 'espeak-ng:de'}),
    ((' fr = espeak-ng:fr-be ',), {'fr': 'espeak-ng:fr-be'}),
    ((), {}),
]
BAD_SPECS = [('french=espeak-ng:fr',), ('fr',), ('fr=',), ('FR=espeak-ng:fr',), ('fr=espeak-ng:',),
             ('fr=espeak-ng:fr', 'fr=x.onnx')]


@pytest.mark.parametrize('specs, voices', SPECS)
def test_voice_specs(specs, voices):
    assert parse_voice_specs(specs) == voices


@pytest.mark.parametrize('specs', BAD_SPECS)
def test_a_bad_voice_spec_is_refused_by_the_config(specs):
    with pytest.raises(ValueError, match='extra_voices'):
        TtsConfig(extra_voices=specs)


def test_the_default_config_speaks_french_with_espeak():
    assert parse_voice_specs(TtsConfig().extra_voices) == {'fr': 'espeak-ng:fr'}


def wav_bytes(samples: np.ndarray, rate: int, unknown_size: bool) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, 'wb') as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype('<i2').tobytes())
    data = bytearray(buffer.getvalue())
    if unknown_size:   # as espeak-ng writes to a pipe
        data[4:8] = data[40:44] = (0x7fffffff).to_bytes(4, 'little')
    return bytes(data)


@pytest.mark.parametrize('unknown_size', [False, True])
def test_a_wav_stream_is_read_to_its_end(unknown_size):
    samples = np.arange(-500, 500, dtype=np.int16)
    read, rate = read_wav_bytes(wav_bytes(samples, 22050, unknown_size))
    assert rate == 22050 and np.array_equal(read, samples)


def test_what_is_not_a_wav_stream_is_an_error():
    with pytest.raises(ValueError, match='WAV'):
        read_wav_bytes(b'Error: no voice')


@pytest.fixture(scope='module')
def french():
    return EspeakVoice('fr', 16000)


def test_espeak_speaks_french_at_the_graph_rate_and_speeds_up_with_length_scale(french):
    text = 'Quelle est la capitale de la France ? La capitale de la France est Paris.'
    normal = french.synthesize(text)
    french.set_length_scale(0.5)
    try:
        fast = french.synthesize(text)
    finally:
        french.set_length_scale(1.0)
    assert normal.dtype == np.int16 and 3.0 < len(normal) / 16000 < 8.0
    assert np.abs(normal).max() > 3000
    assert len(fast) < 0.75 * len(normal)
    assert [len(part) for part in french.sentences(text)] == [len(normal)]
    assert list(french.sentences('   ')) == []


def test_an_unknown_espeak_voice_or_program_is_a_clear_error():
    with pytest.raises(VoiceNotFoundError, match='zz'):
        EspeakVoice('zz')
    with pytest.raises(VoiceNotFoundError, match='not installed'):
        EspeakVoice('fr', executable='espeak-ng-that-is-not-there')


@pytest.mark.models
def test_each_language_gets_its_voice_and_any_other_the_default(models_dir, french):
    piper = Synthesizer(VoiceConfig(warmup=False), 16000, base_dir=models_dir)
    voices = Voices(piper, {'fr': french})
    assert voices.voice_for('fr') is french
    assert voices.voice_for('en') is voices.voice_for('') is voices.voice_for('de') is piper
    said = np.concatenate(list(voices.sentences('Bonjour.', 'fr')))
    assert np.array_equal(said, french.synthesize('Bonjour.'))
    assert 'espeak-ng:fr' in voices.describe() and 'default' in voices.describe()
