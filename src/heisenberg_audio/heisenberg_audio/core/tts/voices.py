"""A voice per language: Piper voices, and espeak-ng for a language no Piper voice is shipped for.

The tts node speaks each Speak goal in the voice of its ``language`` (the brain sends the reply's);
the default voice (``voice.model_path``, English) speaks an empty or unlisted language. Other
voices are listed as ``language=voice`` (``extra_voices``): a Piper ``.onnx`` path (its
``.onnx.json`` beside it, relative paths under $HEISENBERG_MODELS), or ``espeak-ng:<voice>``.

No French Piper voice is on the registries this project installs from, so French is spoken by
espeak-ng (Debian package ``espeak-ng``, formant synthesis: clear but robotic), run once per
sentence with the text on stdin and its 22.05 kHz WAV resampled to the graph's rate. A robot
with a Piper ``fr_FR`` voice file sets ``extra_voices: ['fr=/path/fr_FR-voice.onnx']`` instead.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
import time
from pathlib import Path
from typing import Iterator, Protocol

import numpy as np

from heisenberg_audio.core.audio_format import float_to_int16, int16_to_float, resample
from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig, VoiceNotFoundError

ESPEAK_PREFIX = 'espeak-ng:'
ESPEAK_WORDS_PER_MINUTE = 175   # espeak-ng's own default rate, at length_scale 1
ESPEAK_TIMEOUT = 30.0           # s for one sentence (it takes milliseconds)


class Voice(Protocol):
    output_sample_rate: int
    name: str
    model_path: Path

    def sentences(self, text: str) -> Iterator[np.ndarray]: ...

    def set_length_scale(self, length_scale: float) -> None: ...


def parse_voice_specs(specs: tuple[str, ...]) -> dict[str, str]:
    """('fr=espeak-ng:fr', ...) -> {'fr': 'espeak-ng:fr'}; ValueError naming a malformed entry."""
    voices: dict[str, str] = {}
    for spec in specs:
        language, _, voice = spec.partition('=')
        language, voice = language.strip(), voice.strip()
        if not (language.isalpha() and len(language) in (2, 3) and language.islower()) or not voice:
            raise ValueError(f"extra_voices entry {spec!r} must read 'language=voice', e.g. "
                             f"'fr=espeak-ng:fr' or 'fr=piper/fr_FR-siwis-medium.onnx'")
        if voice.startswith(ESPEAK_PREFIX) and not voice[len(ESPEAK_PREFIX):].strip():
            raise ValueError(f"extra_voices entry {spec!r}: name the espeak-ng voice, e.g. 'espeak-ng:fr'")
        if language in voices:
            raise ValueError(f"extra_voices names language '{language}' twice")
        voices[language] = voice
    return voices


class EspeakVoice:
    """An espeak-ng voice producing int16 mono audio at output_sample_rate, a sentence at a time."""

    def __init__(self, voice: str, output_sample_rate: int = 16000, length_scale: float = 1.0,
                 executable: str = 'espeak-ng'):
        found = shutil.which(executable)
        if found is None:
            raise VoiceNotFoundError(f'{executable} is not installed, and the voice {ESPEAK_PREFIX}{voice} '
                                     'needs it (Debian: apt-get install espeak-ng; scripts/setup.sh does)')
        self.voice = voice
        self.output_sample_rate = output_sample_rate
        self.model_path = Path(found)
        self.name = f'{ESPEAK_PREFIX}{voice}'
        self.length_scale = length_scale
        started = time.monotonic()
        try:   # also checks that espeak-ng knows the voice
            spoken = len(self.synthesize('Bonjour.'))
        except (RuntimeError, ValueError) as exc:
            raise VoiceNotFoundError(f'{executable} cannot speak with voice {voice!r}: {exc}') from exc
        if not spoken:
            raise VoiceNotFoundError(f'{executable} made no audio with voice {voice!r}')
        self.load_seconds = self.warmup_seconds = time.monotonic() - started

    def set_length_scale(self, length_scale: float) -> None:
        self.length_scale = length_scale

    def sentences(self, text: str) -> Iterator[np.ndarray]:
        """The text's audio (one run of espeak-ng: it pauses at punctuation itself)."""
        if text.strip():
            samples = self.synthesize(text)
            if len(samples):
                yield samples

    def synthesize(self, text: str) -> np.ndarray:
        words_per_minute = max(80, min(450, round(ESPEAK_WORDS_PER_MINUTE / self.length_scale)))
        # The text goes on stdin: a sentence starting with '-' must not read as an option.
        done = subprocess.run(['espeak-ng', '-v', self.voice, '-s', str(words_per_minute), '--stdout'],
                              input=text.encode(), capture_output=True, timeout=ESPEAK_TIMEOUT,
                              check=False, executable=str(self.model_path))
        if done.returncode != 0:
            raise RuntimeError(f'espeak-ng failed ({done.returncode}): '
                               f'{done.stderr.decode(errors="replace").strip()[-200:]}')
        samples, rate = read_wav_bytes(done.stdout)
        return float_to_int16(resample(int16_to_float(samples), rate, self.output_sample_rate))


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """(int16 mono samples, sample rate) of a PCM WAV written to a pipe.

    espeak-ng writing to stdout cannot seek back to fill in the sizes, so its header says
    0x7fffffff: the data chunk is read to the end of the bytes, not to its stated size.
    """
    if data[:4] != b'RIFF' or data[8:12] != b'WAVE':
        raise ValueError('not a WAV stream')
    position, rate, channels, bits = 12, 0, 0, 0
    while position + 8 <= len(data):
        chunk, size = data[position:position + 4], struct.unpack('<I', data[position + 4:position + 8])[0]
        body = position + 8
        if chunk == b'fmt ':
            _, channels, rate, _, _, bits = struct.unpack('<HHIIHH', data[body:body + 16])
        elif chunk == b'data':
            if bits != 16 or channels != 1:
                raise ValueError(f'expected 16-bit mono PCM, got {bits}-bit with {channels} channel(s)')
            pcm = data[body:body + min(size, len(data) - body)]
            return np.frombuffer(pcm[:len(pcm) // 2 * 2], dtype='<i2').astype(np.int16), rate
        position = body + size + (size & 1)
    raise ValueError('WAV stream without a data chunk')


def load_voice(spec: str, default: VoiceConfig, output_sample_rate: int) -> Voice:
    """A voice from its spec: 'espeak-ng:<voice>', or a Piper .onnx path spoken like the default."""
    if spec.startswith(ESPEAK_PREFIX):
        return EspeakVoice(spec[len(ESPEAK_PREFIX):].strip(), output_sample_rate, default.length_scale)
    return Synthesizer(dataclasses.replace(default, model_path=spec, speaker_id=-1), output_sample_rate)


class Voices:
    """The voice of each language; the default voice speaks any language not listed."""

    def __init__(self, default: Voice, by_language: dict[str, Voice] | None = None):
        self.default = default
        self.by_language = dict(by_language or {})
        self.output_sample_rate = default.output_sample_rate
        if any(v.output_sample_rate != self.output_sample_rate for v in self.by_language.values()):
            raise ValueError('every voice must produce the same output sample rate')

    def voice_for(self, language: str) -> Voice:
        return self.by_language.get(language, self.default)

    def sentences(self, text: str, language: str = '') -> Iterator[np.ndarray]:
        return self.voice_for(language).sentences(text)

    def set_length_scale(self, length_scale: float) -> None:
        for voice in (self.default, *self.by_language.values()):
            voice.set_length_scale(length_scale)

    def describe(self) -> str:
        """'piper en_US-joe-medium (default), fr: espeak-ng:fr'."""
        return ', '.join([f'{self.default.name} (default)'] +
                         [f'{language}: {voice.name}' for language, voice in self.by_language.items()])
