"""Check that every part the assistant runs works on this machine, before calling it ready.

    python -m heisenberg_bringup.check                 # all parts (scripts/setup.sh --check)
    python -m heisenberg_bringup.check llama          # one part
    python -m heisenberg_bringup.check --llama-server /path/llama-server --model my.gguf llama

Each part runs the real model the way the nodes do: llama-server serves the GGUF and
generates a few tokens; Piper speaks the sample question; openWakeWord hears "Hey Jarvis"
in it; Whisper transcribes it; espeak-ng speaks the French sample and the multilingual
Whisper, told it is French, hears it. One line per part; a failing part is named with its reason
(for llama-server: how it ended and the last lines of its log) and the exit code is 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import numpy as np

from heisenberg_bringup.run_assistant import FRENCH_QUESTION  # the run script's samples
from heisenberg_bringup.run_assistant import SAMPLE_QUESTION as SAMPLE

HEARD_WORDS = ('capital', 'france')
FRENCH_WORDS = ('capitale',)   # 'France' is heard as 'force' at times
PARTS = ('llama', 'piper', 'wake_word', 'whisper', 'french')
LABELS = {'llama': 'llama-server', 'piper': 'Piper voice', 'wake_word': 'openWakeWord',
          'whisper': 'Whisper', 'french': 'French (espeak-ng, whisper-base)'}


class CheckFailed(RuntimeError):
    """A part does not work; the message says why."""


@dataclasses.dataclass
class Context:
    llama_server: str = ''
    model: str = ''
    log_dir: Path = Path(tempfile.gettempdir())
    speech: np.ndarray | None = None  # Piper's rendition of SAMPLE, 16 kHz int16
    tokens_per_second: float = float('nan')


def check_llama(ctx: Context) -> str:
    from heisenberg_brain.core.llama_server import (
        LlamaServerConfig, LlamaServerError, LlamaServerProcess)

    overrides = {'model_path': ctx.model} if ctx.model else {}
    config = LlamaServerConfig(binary=ctx.llama_server, port=0, nice=0, **overrides)
    server = LlamaServerProcess(config, log_path=ctx.log_dir / 'check-llama-server.log')
    try:
        server.start()
        request = urllib.request.Request(
            server.completion_url, headers={'Content-Type': 'application/json'},
            data=json.dumps({'prompt': 'The capital of France is', 'n_predict': 8,
                             'temperature': 0.0, 'cache_prompt': False}).encode())
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.loads(response.read().decode())
        except (urllib.error.URLError, OSError) as exc:
            code = server.returncode
            if code is not None:
                raise CheckFailed(server.death_message(code, 'while generating with')) from None
            raise CheckFailed(f'no completion from {server.completion_url}: {exc}') from None
    except LlamaServerError as exc:
        raise CheckFailed(str(exc)) from None
    finally:
        server.stop()
    tokens = int(answer.get('tokens_predicted', 0))
    if tokens < 1 or not answer.get('content', '').strip():
        raise CheckFailed(f'served {Path(server.model_file).name} but generated nothing: {answer!r}')
    ctx.tokens_per_second = float(answer.get('timings', {}).get('predicted_per_second', float('nan')))
    return (f'{Path(server.model_file).name} answered {" ".join(answer["content"].split())!r} '
            f'({tokens} tokens, {ctx.tokens_per_second:.0f} tok/s)')


def check_piper(ctx: Context) -> str:
    from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig

    synthesizer = Synthesizer(VoiceConfig(), output_sample_rate=16000)
    audio = synthesizer.synthesize(SAMPLE)
    seconds = len(audio) / 16000
    peak = float(np.abs(audio).max()) / 32768 if len(audio) else 0.0
    if seconds < 1.0 or peak < 0.05:
        raise CheckFailed(f'{synthesizer.name} made {seconds:.2f} s of audio peaking at {peak:.3f}')
    silence = np.zeros(16000, dtype=np.int16)
    ctx.speech = np.concatenate([silence, audio, silence])
    return f'{synthesizer.name} spoke {seconds:.1f} s'


def check_wake_word(ctx: Context) -> str:
    from heisenberg_audio.core.wake_word import FRAME_SAMPLES, NS_PER_SAMPLE, WakeWordConfig, WakeWordDetector

    speech = _needs_speech(ctx)
    detector = WakeWordDetector(WakeWordConfig())
    best = 0.0
    detections = []
    for start in range(0, len(speech) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        detections += detector.process(speech[start:start + FRAME_SAMPLES], start * NS_PER_SAMPLE)
        best = max([best, *detector.last_scores.values()])
    if not detections:
        raise CheckFailed(f'"Hey Jarvis" not detected in the Piper sample (best score {best:.2f}, '
                          f'threshold {detector.config.threshold})')
    return f'heard {detections[0].keyword} (score {detections[0].score:.2f})'


def check_whisper(ctx: Context) -> str:
    from heisenberg_audio.core.stt.config import SttConfig
    from heisenberg_audio.core.stt.transcriber import Transcriber

    speech = _needs_speech(ctx)
    transcriber = Transcriber(SttConfig())
    heard = transcriber.recognize(speech)[0]
    if not all(word in heard.lower() for word in HEARD_WORDS):
        raise CheckFailed(f'{transcriber.model_dir.name} heard {heard!r} for {SAMPLE!r}')
    return f'{transcriber.model_dir.name} heard {heard!r}'


def check_french(ctx: Context) -> str:
    from heisenberg_audio.core.stt.config import SttConfig
    from heisenberg_audio.core.stt.transcriber import Transcriber
    from heisenberg_audio.core.tts.voices import EspeakVoice

    voice = EspeakVoice('fr', 16000)
    silence = np.zeros(16000, dtype=np.int16)
    transcription = Transcriber(SttConfig(language='fr')).transcribe(
        np.concatenate([silence, voice.synthesize(FRENCH_QUESTION), silence]))
    heard = transcription.text.lower()
    if transcription.language != 'fr' or not all(word in heard for word in FRENCH_WORDS):
        raise CheckFailed(f'whisper-base heard {transcription.text!r} ({transcription.language}) for '
                          f'{voice.name} saying {FRENCH_QUESTION!r}')
    return (f'{voice.name} spoke, whisper-base heard {transcription.text!r} '
            f'({transcription.language} {transcription.language_probability:.2f})')


def _needs_speech(ctx: Context) -> np.ndarray:
    if ctx.speech is None:
        check_piper(ctx)
    return ctx.speech


CHECKS: dict[str, Callable[[Context], str]] = {
    'llama': check_llama, 'piper': check_piper, 'wake_word': check_wake_word, 'whisper': check_whisper,
    'french': check_french}


def run(parts, ctx: Context, out=print) -> list[str]:
    """Run the named checks in order; print a line each; return the names of those that failed."""
    failed = []
    for part in parts:
        started = time.monotonic()
        try:
            detail = CHECKS[part](ctx)
        except Exception as exc:  # any failure is the part's verdict: say it, go on with the rest
            reason = str(exc) if isinstance(exc, CheckFailed) else f'{type(exc).__name__}: {exc}'
            head, _, tail = reason.partition('\n')
            out(f'    check {LABELS[part]}: FAILED ({time.monotonic() - started:.1f} s): {head}')
            for line in tail.splitlines():
                out(f'        {line}')
            failed.append(part)
        else:
            out(f'    check {LABELS[part]}: ok ({time.monotonic() - started:.1f} s): {detail}')
    return failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('parts', nargs='*', metavar='PART',
                        help=f'parts to check: {", ".join(PARTS)} (default: all)')
    parser.add_argument('--llama-server', default='',
                        help='llama-server binary (default: as the node finds it)')
    parser.add_argument('--model', default='', help='GGUF to serve (default: the node\'s default model)')
    parser.add_argument('--log-dir', type=Path, default=Path(tempfile.gettempdir()),
                        help="where llama-server's log goes")
    args = parser.parse_args(argv)
    unknown = [part for part in args.parts if part not in PARTS]
    if unknown:
        parser.error(f'unknown part(s) {", ".join(unknown)}: choose from {", ".join(PARTS)}')
    args.log_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(llama_server=args.llama_server, model=args.model, log_dir=args.log_dir)
    failed = run(args.parts or list(PARTS), ctx, out=lambda line: print(line, flush=True))
    if failed:
        print(f'    not working: {", ".join(LABELS[p] for p in failed)}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
