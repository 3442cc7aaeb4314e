"""The tts node's parameters: frozen, described, validated once at start-up.

Voice parameters are nested under ``voice.`` (``voice.model_path``, ``voice.length_scale``…);
output parameters sit at the top level.
"""

from __future__ import annotations

import dataclasses

from heisenberg_audio.core.tts.synthesizer import VoiceConfig
from heisenberg_audio.core.tts.voices import parse_voice_specs
from heisenberg_common.described import describe


@dataclasses.dataclass(frozen=True)
class TtsConfig:
    voice: VoiceConfig = dataclasses.field(default_factory=VoiceConfig)
    extra_voices: tuple[str, ...] = dataclasses.field(default=('fr=espeak-ng:fr',), metadata=describe(
        "the voice of each other language, as 'language=voice': a Piper .onnx path (e.g. "
        "'fr=piper/fr_FR-siwis-medium.onnx', spoken with voice.*'s settings) or 'espeak-ng:<voice>'; "
        "a Speak goal in a language not listed (or none) gets voice.model_path"))
    output_sample_rate: int = dataclasses.field(default=16000, metadata=describe(
        'sample rate of audio/out in Hz (S16LE mono); 16000 = the graph format, resampled from the '
        "voice's own rate"))
    chunk_ms: int = dataclasses.field(default=100, metadata=describe(
        'duration of one audio/out message in milliseconds (a goal\'s last chunk may be shorter)'))
    lead_time: float = dataclasses.field(default=0.15, metadata=describe(
        'seconds a chunk may be sent ahead of its playback time: more absorbs jitter, less makes a '
        'flush quieter sooner (what is already sent still plays downstream)'))
    play_locally: bool = dataclasses.field(default=False, metadata=describe(
        'also play the audio on a local sound card (sounddevice); a missing device is reported, '
        'not fatal'))
    output_device: str = dataclasses.field(default='', metadata=describe(
        "local output device: '' = system default, else an index or part of its name"))
    record_dir: str = dataclasses.field(default='', metadata=describe(
        "if set, each utterance's emitted audio is also written to <record_dir>/<utterance_id>.wav"))
    barge_in_hold: float = dataclasses.field(default=0.8, metadata=describe(
        "seconds the reply stays silent after a tentative barge-in (BargeIn source 'onset' on "
        'barge_in, from stt); unless a cancel (the confirmed barge-in) ends it first, it then resumes '
        "from where it fell silent. Longer than stt's barge_in.min_speech - pause_after + max_gap, so "
        'that a word, a short pause and the next word are confirmed within it'))

    def __post_init__(self):
        parse_voice_specs(self.extra_voices)
        if not 8000 <= self.output_sample_rate <= 48000:
            raise ValueError(f'output_sample_rate must be in [8000, 48000] Hz, got {self.output_sample_rate}')
        if not 10 <= self.chunk_ms <= 1000:
            raise ValueError(f'chunk_ms must be in [10, 1000], got {self.chunk_ms}')
        if not 0.0 <= self.lead_time <= 2.0:
            raise ValueError(f'lead_time must be in [0, 2] s, got {self.lead_time}')
        if not 0.0 < self.barge_in_hold <= 5.0:
            raise ValueError(f'barge_in_hold must be in (0, 5] s, got {self.barge_in_hold}')
