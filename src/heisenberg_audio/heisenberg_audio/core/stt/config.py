"""The stt node's configuration: VAD endpointing after a wake word, and faster-whisper.

One frozen dataclass; the node declares one described ROS parameter per field and
builds it once at start-up, so a bad value stops the node with a message naming it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from heisenberg_audio.core.echo.gate import EchoGateConfig
from heisenberg_audio.core.stt.barge_in import BargeInConfig
from heisenberg_common.described import describe
from heisenberg_common.model_paths import resolve_model_path

COMPUTE_TYPES = ('int8', 'int8_float32', 'int16', 'float32')
AUTO = 'auto'   # language: detected per utterance

# Whisper's usual inventions on silence, noise and music (compared after lower-casing and
# dropping punctuation). "thank you" is among them: after a wake word a bare "Thank you."
# is far more often whisper than the user, and "nothing heard" is a harmless answer.
DEFAULT_HALLUCINATIONS = (
    'thank you for watching', 'thanks for watching', 'thank you so much for watching',
    'thank you for watching and see you next time', 'thanks for watching and see you next time',
    'please subscribe', 'like and subscribe', 'subscribe to my channel',
    'subtitles by the amara org community', 'thank you', 'thank you very much', 'you', 'bye',
)


@dataclasses.dataclass(frozen=True)
class SttConfig:
    """What the stt node listens for after a wake word (or a barge-in) and how it transcribes it."""

    model_dir: str = dataclasses.field(default='', metadata=describe(
        'faster-whisper (CTranslate2) model directory, loaded locally, never from a hub; a '
        "relative path is under $HEISENBERG_MODELS (else ./models); '' = whisper-tiny.en for "
        'language en, the multilingual whisper-base for any other'))
    language: str = dataclasses.field(default='en', metadata=describe(
        "spoken language (ISO 639-1, e.g. 'en', 'fr'), or 'auto' ('' too) = detected per utterance, "
        'with its probability on the transcript (languages other than en need a multilingual model)'))
    languages: tuple[str, ...] = dataclasses.field(default=('en', 'fr'), metadata=describe(
        'with language auto: the languages a request is taken to be in (whisper picks the likeliest of '
        "them: it took espeak-ng's French for Spanish); empty = any language whisper knows"))
    compute_type: str = dataclasses.field(default='int8', metadata=describe(
        f'CTranslate2 compute type on CPU: one of {", ".join(COMPUTE_TYPES)}'))
    beam_size: int = dataclasses.field(default=1, metadata=describe(
        'whisper beam size (1 = greedy, fastest)'))
    cpu_threads: int = dataclasses.field(default=0, metadata=describe(
        'threads for whisper; 0 = one per CPU core'))
    encoder_window: float = dataclasses.field(default=10.0, metadata=describe(
        "seconds of whisper's encoder window for a short request (whisper pads to 30 s; the "
        'encoder costs in proportion): requests up to 2 s shorter use it, longer ones and '
        'language detection use 30 s; 30 = always whisper\'s own window'))
    vad_model: str = dataclasses.field(default='', metadata=describe(
        "Silero VAD ONNX file, relative to $HEISENBERG_MODELS like model_dir; "
        "'' = openwakeword/silero_vad.onnx"))
    vad_threshold: float = dataclasses.field(default=0.5, metadata=describe(
        'Silero speech probability at or above which a 32 ms window counts as voiced'))
    end_of_speech_silence: float = dataclasses.field(default=1.0, metadata=describe(
        'seconds of silence after speech that end the utterance when the turn model says the '
        'speaker is not done (a pause mid-question), or when smart_turn is off'))
    smart_turn: bool = dataclasses.field(default=True, metadata=describe(
        'ask the smart-turn model, smart_turn_after seconds into a silence, whether the speaker '
        'is done; if so the turn ends there instead of after end_of_speech_silence'))
    smart_turn_model: str = dataclasses.field(default='', metadata=describe(
        "smart-turn v3 ONNX file, relative to $HEISENBERG_MODELS like model_dir; "
        "'' = smart-turn/smart-turn-v3.2-cpu.onnx"))
    smart_turn_after: float = dataclasses.field(default=0.15, metadata=describe(
        'seconds of silence after speech before the turn model is asked'))
    smart_turn_threshold: float = dataclasses.field(default=0.5, metadata=describe(
        "turn model probability at or above which the speaker is done"))
    max_utterance: float = dataclasses.field(default=15.0, metadata=describe(
        'seconds of speech after which the utterance is cut and transcribed anyway'))
    no_speech_timeout: float = dataclasses.field(default=5.0, metadata=describe(
        "seconds after the wake word without speech before reporting 'nothing heard'"))
    min_speech: float = dataclasses.field(default=0.1, metadata=describe(
        'voiced seconds an utterance needs; shorter blips (clicks, a cough) are ignored'))
    pre_roll: float = dataclasses.field(default=3.0, metadata=describe(
        'seconds of recent audio always kept, so speech that began before the wake word '
        'message arrived (same breath as the wake phrase) is transcribed whole'))
    wake_margin: float = dataclasses.field(default=0.3, metadata=describe(
        'seconds before the wake word stamp where the utterance may begin; speech running '
        'through that point is kept from its onset'))
    speech_pad: float = dataclasses.field(default=0.2, metadata=describe(
        'seconds of audio kept before the first voiced window (soft onsets score low)'))
    speculative: bool = dataclasses.field(default=True, metadata=describe(
        'start transcribing during the trailing silence and use that result at the endpoint '
        'when no speech came back in between'))
    speculative_after: float = dataclasses.field(default=0.1, metadata=describe(
        'seconds of trailing silence after which the speculative transcription starts; '
        'also the silence kept after the last voiced window in the transcribed audio'))
    wake_names: tuple[str, ...] = dataclasses.field(default=('jarvis',), metadata=describe(
        "names of the wake phrase stripped from the start of the text ('Hey Jarvis, ...'), "
        'near spellings included'))
    hallucinations: tuple[str, ...] = dataclasses.field(default=DEFAULT_HALLUCINATIONS, metadata=describe(
        "whole transcripts reported as 'nothing heard' (lower case, no punctuation)"))
    barge_in: BargeInConfig = dataclasses.field(default_factory=BargeInConfig, metadata=describe(
        'barge-in by voice while the robot speaks (BargeIn on barge_in, then a turn)'))
    echo: EchoGateConfig = dataclasses.field(default_factory=EchoGateConfig, metadata=describe(
        "the robot's own voice is not the user's: level gate from what tts plays"))

    def __post_init__(self):
        if self.compute_type not in COMPUTE_TYPES:
            raise ValueError(f"compute_type '{self.compute_type}' is not one of {COMPUTE_TYPES}")
        if self.beam_size < 1:
            raise ValueError(f'beam_size must be >= 1, got {self.beam_size}')
        if self.cpu_threads < 0:
            raise ValueError(f'cpu_threads must be >= 0, got {self.cpu_threads}')
        if not 3.0 <= self.encoder_window <= 30.0:
            raise ValueError(f'encoder_window must be in [3, 30] s, got {self.encoder_window}')
        if self.forced_language and not (len(self.language) in (2, 3) and self.language.isalpha()):
            raise ValueError(f"language must be an ISO 639-1 code like 'en' or 'auto' (detect), got "
                             f"'{self.language}'")
        if any(not (len(lang) in (2, 3) and lang.isalpha()) for lang in self.languages):
            raise ValueError(f"languages must be ISO 639-1 codes like 'en', got {list(self.languages)}")
        if not 0.0 < self.vad_threshold < 1.0:
            raise ValueError(f'vad_threshold must be in (0, 1), got {self.vad_threshold}')
        if not 0.0 < self.smart_turn_threshold < 1.0:
            raise ValueError(f'smart_turn_threshold must be in (0, 1), got {self.smart_turn_threshold}')
        for name in ('end_of_speech_silence', 'no_speech_timeout', 'speculative_after', 'smart_turn_after'):
            if getattr(self, name) <= 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        for name in ('min_speech', 'pre_roll', 'wake_margin', 'speech_pad'):
            if getattr(self, name) < 0:
                raise ValueError(f'{name} must be >= 0, got {getattr(self, name)}')
        if self.max_utterance <= self.end_of_speech_silence:
            raise ValueError(f'max_utterance ({self.max_utterance} s) must exceed '
                             f'end_of_speech_silence ({self.end_of_speech_silence} s)')
        if self.speculative_after >= self.end_of_speech_silence:
            raise ValueError(f'speculative_after ({self.speculative_after} s) must be shorter than '
                             f'end_of_speech_silence ({self.end_of_speech_silence} s)')
        if self.smart_turn_after >= self.end_of_speech_silence:
            raise ValueError(f'smart_turn_after ({self.smart_turn_after} s) must be shorter than '
                             f'end_of_speech_silence ({self.end_of_speech_silence} s)')
        if self.wake_margin + self.speech_pad > self.pre_roll:
            raise ValueError(f'pre_roll ({self.pre_roll} s) must cover wake_margin + speech_pad '
                             f'({self.wake_margin + self.speech_pad} s)')
        if any(not name.strip() for name in self.wake_names):
            raise ValueError('wake_names must not contain empty names')

    @property
    def forced_language(self) -> str:
        """The language whisper is told ('' = it detects one per utterance)."""
        return '' if self.language in ('', AUTO) else self.language

    @property
    def resolved_model_dir(self) -> Path:
        return _resolve(self.model_dir or ('whisper-tiny.en' if self.language == 'en' else 'whisper-base'))

    @property
    def resolved_vad_model(self) -> Path:
        return _resolve(self.vad_model or 'openwakeword/silero_vad.onnx')

    @property
    def resolved_smart_turn_model(self) -> Path:
        return _resolve(self.smart_turn_model or 'smart-turn/smart-turn-v3.2-cpu.onnx')

    @property
    def threads(self) -> int:
        return self.cpu_threads or (os.cpu_count() or 1)


def _resolve(path: str) -> Path:
    """$VARS and ~ expanded; a relative path is taken under the models directory."""
    return resolve_model_path(os.path.expandvars(path))
