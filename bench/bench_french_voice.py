"""How espeak-ng's French voice sounds to Whisper base, and what it costs to make.

    python bench/bench_french_voice.py

For each espeak-ng French voice variant and rate: the synthesis time and real-time factor
of the sample question, the language Whisper base detects (its three likeliest), what it
hears when it detects, and what it hears when told the language is French. A table; no
assertion (the tests check behaviour, this shows the weak spot in numbers).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

from heisenberg_audio.core.audio_format import int16_to_float
from heisenberg_audio.core.tts.voices import ESPEAK_WORDS_PER_MINUTE, EspeakVoice
from heisenberg_bringup.run_assistant import FRENCH_QUESTION

MODELS = Path(os.environ.get('HEISENBERG_MODELS', 'models'))
VARIANTS = ('fr', 'fr+m3', 'fr+f2')
RATES = (1.0, 1.2)   # length_scale: 1 = espeak-ng's 175 words per minute


def cpu_model() -> str:
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor()


def main() -> None:
    from faster_whisper import WhisperModel
    whisper = WhisperModel(str(MODELS / 'whisper-base'), device='cpu', compute_type='int8')
    pad = np.zeros(16000, dtype=np.float32)
    print(f'CPU: {cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; '
          f'question: {FRENCH_QUESTION!r}')
    print('| voice | rate (wpm) | audio s | synth ms | RTF | detected (top 3) | heard (detected) '
          '| heard (told fr) |')
    print('|---|---|---|---|---|---|---|---|')
    for variant in VARIANTS:
        for scale in RATES:
            voice = EspeakVoice(variant, 16000, scale)
            started = time.perf_counter()
            audio = voice.synthesize(FRENCH_QUESTION)
            synth = time.perf_counter() - started
            seconds = len(audio) / 16000
            samples = np.concatenate([pad, int16_to_float(audio), pad])
            _, _, probabilities = whisper.detect_language(samples)
            top = ', '.join(f'{lang} {p:.2f}' for lang, p in sorted(probabilities, key=lambda x: -x[1])[:3])
            heard = {}
            for language in (None, 'fr'):
                segments, _ = whisper.transcribe(samples, language=language, beam_size=1,
                                                 without_timestamps=True, vad_filter=False)
                heard[language] = ' '.join(s.text.strip() for s in segments)
            print(f'| {variant} | {round(ESPEAK_WORDS_PER_MINUTE / scale)} | {seconds:.2f} | '
                  f'{synth * 1000:.0f} | {synth / seconds:.3f} | {top} | {heard[None]} | {heard["fr"]} |',
                  flush=True)


if __name__ == '__main__':
    main()
