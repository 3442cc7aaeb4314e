"""faster-whisper speech-to-text from a local model directory, and what we keep of its text.

`Transcriber.transcribe(audio)` gives a `Transcription`: the text with a leading wake
phrase removed ("Hey Jarvis, what time is it?" -> "What time is it?"), or
`nothing_heard` with the reason when the text is empty, only the wake phrase, only
punctuation or a non-speech tag, or one of whisper's known inventions on silence
("Thank you for watching"). The text rules are plain functions, tested as tables.

Whisper's encoder is trained on 30 s windows and faster-whisper always pads to one, so a
2 s question pays for 30 s of encoding (~0.3 s of the ~0.4 s on a 2-core CPU). A request
that fits `encoder_window` is encoded in a window that long instead, straight through
CTranslate2 (the encoder's cost is linear in its length; the transcripts of the bench's
questions are the same). A text that looks like whisper looping (too repetitive, or
cut by the token bound) is redone in the full window.

With language 'auto' whisper first detects the language, among ``languages`` only (it took
espeak-ng's French question for Spanish), and the request is then read in that language.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import time

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE, int16_to_float
from heisenberg_audio.core.stt.config import SttConfig

GREETINGS = frozenset({'hey', 'hi', 'hay', 'a', 'ok', 'okay', 'hello', 'yo', 'oi'})
NAME_SIMILARITY = 0.8                 # a name alone must be close ("Jarvis", "Jervis", "Javis")
NAME_SIMILARITY_AFTER_GREETING = 0.6  # after "hey" a looser match ("Hey Travis")
FULL_WINDOW = 30.0                    # s: whisper's own window
WINDOW_HEADROOM = 2.0                 # s of padding a short window keeps after the speech
MAX_COMPRESSION_RATIO = 2.4           # above: a repetition loop (whisper's own threshold)
TOKENS_PER_SECOND = 8                 # bound on the text of a short window (speech is ~3/s)

_TOKEN = re.compile(r'\S+')
# Whole-text tags whisper writes for sounds: "[BLANK_AUDIO]", "(music)", "♪♪", "*laughs*".
_NON_SPEECH_TAG = re.compile(r'^\s*(?:[\[(*♪♫][^\[\]()*♪♫]*[\])*♪♫]?\s*)+$')
_WORD_CHARS = re.compile(r"[^\w\s]|_")
ONLY_WAKE_PHRASE = 'only the wake phrase'   # a nothing-heard reason that keeps the turn open


@dataclasses.dataclass(frozen=True)
class Transcription:
    text: str                 # what the user asked (empty when nothing_heard)
    raw_text: str             # whisper's text as it came
    language: str
    nothing_heard: bool
    reason: str               # why nothing_heard ('' otherwise)
    transcribe_time: float    # seconds spent in whisper
    language_probability: float = 1.0   # whisper's, when it detected the language; 1 when told

    @property
    def only_wake_phrase(self) -> bool:
        """The user said the wake phrase and paused: the question is still to come."""
        return self.reason.startswith(ONLY_WAKE_PHRASE)


def normalize(text: str) -> str:
    """Lower case, punctuation dropped, single spaces: the form phrases are compared in."""
    return ' '.join(_WORD_CHARS.sub(' ', text.lower()).split())


def _bare_word(token: str) -> str:
    return normalize(token).replace(' ', '')


def _is_name(word: str, names: tuple[str, ...], threshold: float) -> bool:
    return any(difflib.SequenceMatcher(None, word, name.lower()).ratio() >= threshold for name in names)


def strip_wake_phrase(text: str, names: tuple[str, ...] = ('jarvis',)) -> str:
    """Remove a leading "Hey Jarvis" / "Jarvis," (and near spellings), repeated or not."""
    tokens = _TOKEN.findall(text)
    stripped = False
    while tokens:
        first = _bare_word(tokens[0])
        if len(tokens) > 1 and first in GREETINGS and _is_name(
                _bare_word(tokens[1]), names, NAME_SIMILARITY_AFTER_GREETING):
            tokens = tokens[2:]
        elif _is_name(first, names, NAME_SIMILARITY):
            tokens = tokens[1:]
        else:
            break
        stripped = True
    rest = ' '.join(tokens)
    if not stripped:
        return rest
    rest = rest.lstrip(' ,.;:!?-')
    return rest[:1].upper() + rest[1:]


def nothing_heard_reason(text: str, hallucinations: tuple[str, ...]) -> str:
    """Why text is not a request ('' when it is one)."""
    if not text.strip():
        return 'empty transcript'
    if _NON_SPEECH_TAG.match(text):
        return f'non-speech tag: {text.strip()!r}'
    words = normalize(text)
    if not words:
        return f'no words: {text.strip()!r}'
    if words in hallucinations:
        return f'hallucination: {text.strip()!r}'
    return ''


def clean_text(raw_text: str, config: SttConfig) -> tuple[str, str]:
    """Whisper's text -> (request text, nothing-heard reason); one of them is empty."""
    raw = raw_text.strip()
    text = strip_wake_phrase(raw, config.wake_names)
    if raw and not text:
        return '', f'{ONLY_WAKE_PHRASE}: {raw!r}'
    reason = nothing_heard_reason(text, frozenset(normalize(p) for p in config.hallucinations))
    return ('', reason) if reason else (text, '')


class Transcriber:
    """A faster-whisper model loaded once from config.model_dir, used from one thread."""

    def __init__(self, config: SttConfig):
        from faster_whisper import WhisperModel  # heavy import, only where a model is used
        model_dir = config.resolved_model_dir
        if not (model_dir / 'model.bin').is_file():
            raise FileNotFoundError(f'no faster-whisper model in {model_dir} (model.bin missing)')
        self.config = config
        self.model_dir = model_dir
        self.model = WhisperModel(str(model_dir), device='cpu', compute_type=config.compute_type,
                                  cpu_threads=config.threads, local_files_only=True)
        self.multilingual = bool(self.model.model.is_multilingual)
        forced = config.forced_language
        if not self.multilingual and forced not in ('', 'en'):
            raise ValueError(f"language '{config.language}' needs a multilingual model; "
                             f'{model_dir.name} is English-only (try whisper-base)')
        if self.multilingual and forced and forced not in self.model.supported_languages:
            raise ValueError(f"language '{config.language}' is not one whisper knows")
        self.language = forced or (None if self.multilingual else 'en')
        unknown = [lang for lang in config.languages if lang not in self.model.supported_languages]
        if self.language is None and unknown:
            raise ValueError(f"languages {unknown} are not ones whisper knows")
        self.short_windows = 0   # requests encoded in a short window
        self._decoders: dict[str, tuple] = {}   # language -> the short window's fixed decoder inputs
        self.full_windows = 0    # requests encoded in whisper's 30 s window

    def warm_up(self) -> float:
        """Run one transcription so the first real one is not slowed by first-use costs."""
        start = time.perf_counter()
        self.recognize(np.zeros(16000, dtype=np.int16))
        return time.perf_counter() - start

    def recognize(self, audio: np.ndarray) -> tuple[str, str, float]:
        """int16 16 kHz audio -> (whisper's raw text, language, its probability: 1 when told)."""
        samples = int16_to_float(audio)
        seconds = len(samples) / SAMPLE_RATE
        language, probability = (self.language, 1.0) if self.language else self.detect_language(samples)
        if seconds + WINDOW_HEADROOM <= self.config.encoder_window < FULL_WINDOW:
            text = self._recognize_in_short_window(samples, language)
            if text is not None:
                self.short_windows += 1
                return text, language, probability
        self.full_windows += 1
        segments, info = self.model.transcribe(
            samples, language=language, beam_size=self.config.beam_size,
            # One short request: no timestamps, no context carried over, and a single
            # greedy/beam pass instead of the temperature fallback ladder (latency).
            without_timestamps=True, condition_on_previous_text=False, temperature=0.0,
            vad_filter=False)
        text = ' '.join(segment.text.strip() for segment in segments)
        return text.strip(), info.language, probability

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        """The language of float samples, and whisper's probability of it.

        The likeliest of config.languages (any language whisper knows if empty), judged in the
        30 s window (detection needs it); the request is then read in that language.
        """
        _, _, probabilities = self.model.detect_language(samples)
        allowed = [(p, lang) for lang, p in probabilities
                   if not self.config.languages or lang in self.config.languages]
        probability, language = max(allowed)
        return language, float(probability)

    def _decoder(self, language: str) -> tuple:
        """(end-of-text token, decode, prompt, suppressed tokens) of a language, made once."""
        if language not in self._decoders:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens
            tokenizer = Tokenizer(self.model.hf_tokenizer, self.multilingual, task='transcribe',
                                  language=language)
            self._decoders[language] = (tokenizer.eot, tokenizer.decode,
                                        [*tokenizer.sot_sequence, tokenizer.no_timestamps],
                                        get_suppressed_tokens(tokenizer, [-1]))
        return self._decoders[language]

    def _recognize_in_short_window(self, samples: np.ndarray, language: str) -> str | None:
        """The text of samples encoded in an encoder_window-long window; None if it looks looped."""
        from faster_whisper.transcribe import get_compression_ratio, get_ctranslate2_storage
        eot, decode, prompt, suppress = self._decoder(language)
        frames = int(self.config.encoder_window * self.model.frames_per_second)
        features = self.model.feature_extractor(samples)[:, :frames]
        features = np.pad(features, ((0, 0), (0, frames - features.shape[1])))
        max_new = int(len(samples) / SAMPLE_RATE * TOKENS_PER_SECOND) + 8
        result = self.model.model.generate(
            get_ctranslate2_storage(features[None].astype(np.float32)), [prompt],
            beam_size=self.config.beam_size, max_length=len(prompt) + max_new, suppress_blank=True,
            suppress_tokens=suppress)[0]
        tokens = [t for t in result.sequences_ids[0] if t < eot]
        text = decode(tokens).strip()
        if len(tokens) >= max_new or (text and get_compression_ratio(text) > MAX_COMPRESSION_RATIO):
            return None
        return text

    def transcribe(self, audio: np.ndarray) -> Transcription:
        start = time.perf_counter()
        raw, language, probability = self.recognize(audio)
        elapsed = time.perf_counter() - start
        text, reason = clean_text(raw, self.config)
        return Transcription(text=text, raw_text=raw, language=language, nothing_heard=bool(reason),
                             reason=reason, transcribe_time=elapsed, language_probability=probability)
