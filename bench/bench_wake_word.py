"""Wake word real-time factor on ~30 s of Piper speech, printed as a table.

    python bench/bench_wake_word.py [--repeat 1]

The same audio goes through WakeWordDetector the way the node feeds it (20 ms messages,
re-chunked to 80 ms frames, trigger logic and stamps) and through openWakeWord's
Model.predict directly on 80 ms frames, so the wrapper's cost shows as a ratio. The audio
holds three "Hey Jarvis." among ordinary sentences, so hits and misses show too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from heisenberg_testing.speech import Speech, silence  # noqa: E402

from heisenberg_audio.core.wake_word import FRAME_SAMPLES, WakeWordConfig, WakeWordDetector  # noqa: E402

SENTENCES = [
    'Hey Jarvis.', 'What is the weather like today?', 'Turn on the lights please.',
    'The robot drove to the kitchen and waited by the door.', 'Hey Jarvis.',
    'Could you tell me how far it is to the station?', 'I would like a cup of tea with milk.',
    'Remind me to water the plants tomorrow morning.', 'Hey Jarvis.',
    'The meeting moved to half past three on Thursday.', 'Please close the window in the bedroom.',
]
PHRASES = SENTENCES.count('Hey Jarvis.')


def corpus(models: Path) -> np.ndarray:
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    parts = []
    for text in SENTENCES:
        parts += [speech.say(text), silence(1.2)]
    return np.concatenate(parts)


def run_detector(detector: WakeWordDetector, audio: np.ndarray) -> tuple[float, list[float], int]:
    frame_ms, hits = [], 0
    start = time.perf_counter()
    for offset in range(0, len(audio), 320):
        before = time.perf_counter()
        hits += len(detector.process(audio[offset:offset + 320], offset * 62500))
        frame_ms.append((time.perf_counter() - before) * 1000)
    return time.perf_counter() - start, frame_ms, hits


def run_raw(detector: WakeWordDetector, audio: np.ndarray) -> tuple[float, list[float], int]:
    model, frame_ms, hits = detector._model, [], 0  # noqa: SLF001 - the bare model, for comparison
    model.reset()
    start = time.perf_counter()
    for offset in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        before = time.perf_counter()
        scores = model.predict(audio[offset:offset + FRAME_SAMPLES])
        frame_ms.append((time.perf_counter() - before) * 1000)
        hits += max(scores.values()) >= 0.5
    return time.perf_counter() - start, frame_ms, hits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=1, help='passes over the audio per row')
    args = parser.parse_args()
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))

    audio = corpus(models)
    seconds = len(audio) / 16000
    load_start = time.perf_counter()
    detector = WakeWordDetector(WakeWordConfig(models_dir=str(models)))
    load_s = time.perf_counter() - load_start

    paths = (('WakeWordDetector.process, 20 ms messages', run_detector, '20 ms msg'),
             ('openwakeword Model.predict, 80 ms frames', run_raw, '80 ms frame'))
    totals, calls, hits = [0.0, 0.0], [[], []], [0, 0]
    for _ in range(args.repeat):  # alternate the paths so both see the same machine load
        for index, (_, runner, _) in enumerate(paths):
            elapsed, per_call, hits[index] = runner(detector, audio)
            totals[index] += elapsed
            calls[index] += per_call
    rows = [(name, totals[i] / (seconds * args.repeat), unit, np.percentile(calls[i], 50),
             np.percentile(calls[i], 90), max(calls[i]), hits[i]) for i, (name, _, unit) in enumerate(paths)]

    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    print(f'wake word: {seconds:.1f} s of Piper speech, {PHRASES} x "Hey Jarvis.", '
          f'model load {load_s:.2f} s, '
          f'{os.cpu_count()} CPUs, load average {load}\n')
    print(f"| {'path':42} | {'RTF':>6} | {'x real time':>11} | {'per':11} | {'p50 ms':>6} | {'p90 ms':>6} "
          f"| {'max ms':>6} | {'hits':>4} |")
    print(f"|{'-' * 44}|{'-' * 8}|{'-' * 13}|{'-' * 13}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 6}|")
    for name, rtf, unit, p50, p90, worst, hits in rows:
        print(f'| {name:42} | {rtf:6.3f} | {1 / rtf:11.0f} | {unit:11} | {p50:6.2f} | {p90:6.2f} '
              f'| {worst:6.2f} | {hits:4} |')
    print(f'\nwrapper / raw RTF ratio: {rows[0][1] / rows[1][1]:.2f}   '
          f'(hits: detections for the detector, frames >= 0.5 for the raw model)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
