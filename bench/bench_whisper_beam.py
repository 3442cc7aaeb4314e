"""Whisper's beam size: transcripts right word for word and whisper's time, per beam, one table.

    python bench/bench_whisper_beam.py [--beams 1,2,3,5] [--repeat 3] [--no-espeak]

In-process, tiny.en through the stt node's own Transcriber (its 10 s encoder window, options,
int8, one thread per core), one Transcriber per beam, each clip given to every beam in turn
(the order rotating) so that all beams see the same machine load. The clips:

- piper whole: bench_vs_peer's question WAVs for our graph ("Hey Jarvis. <question>" in the Piper
  voice, 0.5 s before, 2 s after, two of them pausing 0.6 s), as they are;
- piper cut: the same audio as the speculation hands it to whisper: fed in 20 ms chunks to the
  real openWakeWord detector, Silero VAD and the stt node's Endpointer (shipped SttConfig), the
  last speculative utterance of the turn, which ends speculative_after (0.1 s) after the last
  voiced window;
- peer wav whole, peer wav cut: the peer's WAVs of the same questions (no wake phrase), as
  they are, and cut like the next ones;
- en-us cut, en-gb-x-rp cut: the 20 one-part questions in two espeak-ng English voices, cut
  the same way with the turn started 0.1 s before the speech (no wake phrase).

A transcript is right as bench_vs_peer counts it (word for word, fillers and "Hey Jarvis"
aside). Whisper's time per clip is the median of --repeat runs; the table gives its p50/p90
over the clips and the p50 of each clip's extra time over beam 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import load_average, machine_info  # noqa: E402
from bench_vs_peer import ITEMS, LEAD, TAIL, Item, heard_right, make_wavs, spoken  # noqa: E402

ESPEAK_VOICES = ('en-us', 'en-gb-x-rp')
CHUNK = 320   # samples: the graph's 20 ms audio messages


def espeak(text: str, voice: str) -> np.ndarray:
    """text spoken by espeak-ng's voice, 16 kHz mono int16."""
    import soxr
    with tempfile.NamedTemporaryFile(suffix='.wav') as out:
        subprocess.run(['espeak-ng', '-v', voice, '-w', out.name], input=text.encode(), check=True,
                       capture_output=True, timeout=30)
        with wave.open(out.name, 'rb') as wav:
            rate = wav.getframerate()
            audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype='<i2')
    audio16 = soxr.resample(audio.astype(np.float32) / 32768, rate, 16000)
    return (np.clip(audio16, -1.0, 1.0) * 32767).astype(np.int16)


def speculated(audio: np.ndarray, config, wake_at: float | None, wake_detector) -> np.ndarray | None:
    """The audio of the turn's last speculation, as the stt node would hand it to whisper.

    wake_at None: openWakeWord decides when the turn starts; else it starts at wake_at seconds.
    """
    from heisenberg_audio.core.stt.endpointing import EndOfSpeech, Endpointer, Speculation
    from heisenberg_audio.core.stt.vad import SileroVad, SpeechDetector
    detector = SpeechDetector(SileroVad(config.resolved_vad_model))
    endpointer = Endpointer(config)   # no turn judge: the speculations are the same with it
    if wake_detector is not None:
        wake_detector.reset()
    last = None
    for offset in range(0, len(audio) - CHUNK + 1, CHUNK):
        chunk, stamp = audio[offset:offset + CHUNK], offset / 16000
        events = []
        for frame in detector.push(chunk, stamp):
            events += endpointer.push(frame)
        if wake_at is None:
            for detection in wake_detector.process(chunk, offset * 62500):
                events += endpointer.start_turn(detection.stamp_ns / 1e9)
        elif wake_at <= stamp < wake_at + CHUNK / 16000:
            events += endpointer.start_turn(wake_at)
        for event in events:
            if isinstance(event, Speculation):
                last = event.utterance.audio
            elif isinstance(event, EndOfSpeech):
                return last
    return last


def clips(models: Path, work: Path, espeak_too: bool) -> dict[str, list[tuple[Item, np.ndarray]]]:
    from heisenberg_audio.core.stt.config import SttConfig
    from heisenberg_audio.core.wake_word import WakeWordConfig, WakeWordDetector
    from heisenberg_testing.speech import Speech, silence
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    _, ours, _ = make_wavs(speech, ITEMS, work)
    config = SttConfig()
    wake = WakeWordDetector(WakeWordConfig(models_dir=str(models)))
    sets = {'piper whole': [(item, q.audio) for item, q in zip(ITEMS, ours)], 'piper cut': []}
    for item, question in zip(ITEMS, ours):
        cut = speculated(question.audio, config, None, wake)
        if cut is None:
            print(f'  no speculation for {item.text!r} (wake word or VAD missed it)', file=sys.stderr)
            continue
        sets['piper cut'].append((item, cut))
    # The peer's WAVs: the question alone, no wake phrase before it (as the peer hears it).
    alone = [(item, spoken(speech, item, wake=False)) for item in ITEMS]
    sets['peer wav whole'] = alone
    sets['peer wav cut'] = [(item, cut) for item, audio in alone
                            if (cut := speculated(audio, config, LEAD - 0.1, None)) is not None]
    if espeak_too:
        for voice in ESPEAK_VOICES:
            sets[f'{voice} cut'] = []
            for item in (i for i in ITEMS if len(i.parts) == 1):
                audio = np.concatenate([silence(LEAD), espeak(item.text, voice), silence(TAIL)])
                cut = speculated(audio, config, LEAD - 0.1, None)
                if cut is None:
                    print(f'  no speculation for {voice} {item.text!r}', file=sys.stderr)
                    continue
                sets[f'{voice} cut'].append((item, cut))
    return sets


def measure(sets, beams: list[int], repeat: int) -> dict:
    """(set, beam) -> list per clip of (transcript, median whisper seconds)."""
    import dataclasses

    from heisenberg_audio.core.stt.config import SttConfig
    from heisenberg_audio.core.stt.transcriber import Transcriber
    transcribers = {}
    for beam in beams:
        transcribers[beam] = Transcriber(dataclasses.replace(SttConfig(), beam_size=beam))
        transcribers[beam].warm_up()
    results = {}
    turn = 0
    for name, items in sets.items():
        for beam in beams:
            results[name, beam] = []
        for _, audio in items:
            times = {beam: [] for beam in beams}
            texts = {}
            for _ in range(repeat):
                turn += 1
                for beam in beams[turn % len(beams):] + beams[:turn % len(beams)]:
                    heard = transcribers[beam].transcribe(audio)
                    times[beam].append(heard.transcribe_time)
                    texts[beam] = heard.text
            for beam in beams:
                results[name, beam].append((texts[beam], float(np.median(times[beam]))))
    return results


def report(sets, beams, results, cpu: str, loads: dict, repeat: int) -> None:
    print(f'\nwhisper tiny.en by beam size, in-process (10 s window, int8, {os.cpu_count()} threads), '
          f'median of {repeat} runs per clip; {cpu}')
    print(f'load average: {loads}')
    header = (f'{"clips":<18}{"beam":>5}{"right":>7}{"of":>4}{"p50 ms":>8}{"p90 ms":>8}'
              f'{"extra p50 ms":>14}')
    print(header)
    print('-' * len(header))
    for name, items in sets.items():
        base = [t for _, t in results[name, beams[0]]]
        for beam in beams:
            rows = results[name, beam]
            right = sum(heard_right(text, item) for (text, _), (item, _) in zip(rows, items))
            seconds = [t for _, t in rows]
            extra = np.median(np.subtract(seconds, base)) * 1000
            print(f'{name:<18}{beam:>5}{right:>7}{len(items):>4}{np.percentile(seconds, 50) * 1000:>8.0f}'
                  f'{np.percentile(seconds, 90) * 1000:>8.0f}{extra:>14.0f}')
    print('\nclips whose verdict differs between beams (ok / x per beam ' + ' '.join(map(str, beams)) + ')')
    for name, items in sets.items():
        for index, (item, _) in enumerate(items):
            verdicts = [heard_right(results[name, beam][index][0], item) for beam in beams]
            if len(set(verdicts)) > 1:
                print(f'  {name:<16} {item.text!r}: ' + ' | '.join(
                    f'{beam} {"ok" if ok else "x"} {results[name, beam][index][0]!r}'
                    for beam, ok in zip(beams, verdicts)))
    wrong_everywhere = [(name, item.text, results[name, beams[0]][index][0])
                        for name, items in sets.items() for index, (item, _) in enumerate(items)
                        if not any(heard_right(results[name, beam][index][0], item) for beam in beams)]
    print('clips no beam hears right: ' + ('; '.join(f'{n}: {t!r} -> {h!r}' for n, t, h in wrong_everywhere)
                                           or 'none'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--beams', default='1,2,3,5',
                        help='comma-separated beam sizes (the first is the base)')
    parser.add_argument('--repeat', type=int, default=3, help='runs per clip and beam (the median is kept)')
    parser.add_argument('--no-espeak', action='store_true', help='the Piper clips only')
    args = parser.parse_args()
    beams = [int(b) for b in args.beams.split(',') if b]
    if not beams or min(beams) < 1 or args.repeat < 1:
        parser.error('--beams wants sizes >= 1 and --repeat at least 1')
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    os.environ.setdefault('HEISENBERG_MODELS', str(models))
    cpu = machine_info()
    loads = {'before': load_average()}
    print(f'machine: {cpu}; load average before: {loads["before"]}', flush=True)
    sets = clips(models, Path(tempfile.mkdtemp(prefix='bench_whisper_beam_')), not args.no_espeak)
    results = measure(sets, beams, args.repeat)
    loads['after'] = load_average()
    report(sets, beams, results, cpu, loads, args.repeat)
    return 0


if __name__ == '__main__':
    sys.exit(main())
