"""Run the whole assistant without ``ros2 launch`` and show what it does.

Starts the same nodes as assistant.launch.py with config/assistant.yaml (llama-server on
127.0.0.1 included), then prints the state transitions, what was heard, the answer as it
streams, and the latency of each turn. With no microphone it plays a sample question
("Hey Jarvis. What is the capital of France?", spoken by the Piper voice) as the
microphone, writes the spoken reply to a WAV file, and exits once the answer is spoken.
Ctrl-C stops everything, llama-server included. The exit code is 0 only when the
question was answered: a turn that ended in an error, or a node that cannot run (a missing
model, a llama-server that never starts), exits non-zero with the reason.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np

from heisenberg_bringup.graph import Graph, GraphError
from heisenberg_bringup.monitor import GraphMonitor

ROOT = Path(os.environ.get('HEISENBERG_ROOT', Path.cwd()))
MODELS = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
SAMPLE_QUESTION = 'Hey Jarvis. What is the capital of France?'
FRENCH_QUESTION = 'Quelle est la capitale de la France ?'   # after "Hey Jarvis." in English


def has_microphone() -> bool:
    try:
        import sounddevice
        return any(device['max_input_channels'] > 0 for device in sounddevice.query_devices())
    except Exception:  # no PortAudio, no devices: no microphone
        return False


def make_sample(path: Path, text: str, voice: Path = MODELS / 'piper' / 'en_US-joe-medium.onnx',
                french: str = '') -> Path:
    """Speak text with the Piper voice into a 16 kHz WAV (silence around it, like a room).

    french: a question said after text by espeak-ng's French voice (the robot's French voice).
    """
    from piper import PiperVoice
    import soxr
    chunks = list(PiperVoice.load(str(voice)).synthesize(text))
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    audio = soxr.resample(audio, chunks[0].sample_rate, 16000)
    pad = np.zeros(16000, dtype=np.float32)
    parts = [pad, audio]
    if french:
        from heisenberg_audio.core.audio_format import int16_to_float
        from heisenberg_audio.core.tts.voices import EspeakVoice
        # A pause after the wake phrase: told French, whisper wrote only 'Hey Jarvis!' for both
        # said 0.5 s apart in one utterance; after 1.5 s the question is an utterance of its own.
        parts += [pad, pad[:8000], int16_to_float(EspeakVoice('fr', 16000).synthesize(french))]
    pcm = (np.clip(np.concatenate([*parts, pad, pad]), -1, 1) * 32767).astype(np.int16)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), 'wb') as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm.tobytes())
    return path


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--source', choices=('auto', 'mic', 'file'), default='auto',
                        help='audio source; auto = the microphone if there is one, else a sample file')
    parser.add_argument('--file', type=Path, help='WAV/FLAC to play as the microphone (default: a sample)')
    parser.add_argument('--question', help='text of the generated sample (default: the capital of France, '
                        'asked in English, or after "Hey Jarvis." in French by espeak-ng with --language fr)')
    parser.add_argument('--language', choices=('en', 'fr', 'auto'),
                        help="what the assistant listens for and answers in (default: the config file's, "
                        'en); auto = the language it heard, per turn')
    parser.add_argument('--params-file', type=Path, default=ROOT / 'config' / 'assistant.yaml')
    parser.add_argument('--model', help='GGUF for llama-server (default: the config file\'s)')
    parser.add_argument('--personality', help='concise | friendly | professional | technical | robot')
    parser.add_argument('--out', type=Path, default=ROOT / 'out', help='logs, sample and reply WAVs go here')
    parser.add_argument('--keep-running', action='store_true',
                        help='with a file source, keep running after the reply instead of exiting')
    parser.add_argument('--timeout', type=float, default=300.0, help='file source: give up after this long')
    parser.add_argument('--log-level', default='warn', help='log level of the nodes (their logs: OUT/logs)')
    return parser.parse_args(argv)


def console_printer(monitor_ref: list):
    """on_event callback printing what the graph does, as it happens."""
    streaming = [False]

    def say(text: str):
        if streaming[0]:
            print()
            streaming[0] = False
        print(text, flush=True)

    def on_event(kind, msg):
        if kind == 'state':
            say(f'[state] {msg.state_name:<9} ({msg.cause}{": " + msg.detail if msg.detail else ""})')
        elif kind == 'barge_in':
            say(f'[barge-in] the user spoke over the reply ({msg.source}, {msg.score:.2f})')
        elif kind == 'transcript' and msg.is_final:
            say(f'[heard] {msg.text!r}' if not msg.nothing_heard else f'[heard] nothing ({msg.reason})')
        elif kind == 'reply':
            if not streaming[0]:
                print('[reply] ', end='')
                streaming[0] = True
            print(msg.data, end='', flush=True)
        elif kind == 'metrics':
            say(f'[latency] voice-to-voice {_ms(msg.voice_to_voice)}: endpoint {_ms(msg.endpoint_delay)}, '
                f'to transcript {_ms(msg.speech_end_to_transcript)}, to first token '
                f'{_ms(msg.transcript_to_first_token)}, to first sentence '
                f'{_ms(msg.first_token_to_first_sentence)}, to first audio '
                f'{_ms(msg.first_sentence_to_first_audio)}; {msg.token_count} tokens ({msg.finish_reason})')
    return on_event


def _ms(value: float) -> str:
    return 'n/a' if math.isnan(value) else f'{value * 1000:.0f} ms'


TURN_OVER = ('SPEECH_FINISHED', 'LLM_COMPLETE', 'NOTHING_HEARD', 'STATE_TIMEOUT')


def turn_over(monitor: GraphMonitor, since: float) -> bool:
    """A reply (or a 'nothing heard') has ended since `since`."""
    return any(msg.state_name == 'IDLE' and msg.cause in TURN_OVER for msg in monitor.of('state', since))


def main(argv=None) -> int:
    args = parse_args(argv)
    source = args.source
    if source == 'auto':
        source = 'mic' if has_microphone() and args.file is None else 'file'
    record_dir = args.out / 'replies'
    overrides = {'capture': {'source': source}, 'tts': {'record_dir': str(record_dir)}}
    if source == 'file':
        french = args.language == 'fr' and args.question is None
        question = f'Hey Jarvis. {FRENCH_QUESTION}' if french else args.question or SAMPLE_QUESTION
        audio_file = args.file or (
            make_sample(args.out / 'sample_question_fr.wav', 'Hey Jarvis.', french=FRENCH_QUESTION) if french
            else make_sample(args.out / 'sample_question.wav', question))
        overrides['capture']['file_path'] = str(audio_file)
        print(f'No microphone: playing {audio_file} ("{question}") as the microphone.'
              if args.file is None else f'Playing {audio_file} as the microphone.')
    if args.model:
        overrides['llama_server'] = {'model_path': str(Path(args.model).resolve())}
    if args.personality:
        overrides.setdefault('brain', {})['llm.personality'] = args.personality
    if args.language:
        overrides.setdefault('brain', {})['language'] = args.language
        overrides.setdefault('stt', {})['language'] = args.language
    once = source == 'file' and not args.keep_running
    if once:  # the run ends with the first answer: no follow-up window to wait out
        overrides.setdefault('brain', {})['follow_up_seconds'] = 0.0

    graph = Graph(args.params_file, args.out / 'logs', overrides, log_level=args.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    monitor = None
    print(f'Starting llama-server and the nodes (logs in {args.out / "logs"}) ...', flush=True)
    try:
        monitor = GraphMonitor(on_event=console_printer([]))
        # Everything but the microphone first: audio is only worth sending once the models listen.
        graph.start([name for name in graph.node_names if name != 'capture'])
        if not monitor.wait_ready(timeout=180, poll=graph.poll):
            print('[graph] nodes not ready after 180 s (see the logs)', file=sys.stderr)
            return 1
        started = time.monotonic()
        graph.start(['capture'])
        print('Ready. Listening.' if source == 'mic' else 'Ready. Playing the question ...', flush=True)
        while not stop.is_set():
            for line in graph.poll():
                print(f'[graph] {line}', flush=True)
            if once and turn_over(monitor, started):
                metrics = monitor.of('metrics', started)
                if not metrics or any(m.finish_reason == 'error' for m in metrics):
                    why = 'the error is above' if metrics else 'nothing was heard'
                    print(f'[graph] the question was not answered ({why}); stopping', file=sys.stderr)
                    return 1
                break
            if once and time.monotonic() - started > args.timeout:
                print(f'[graph] no complete turn within {args.timeout:.0f} s; stopping', file=sys.stderr)
                return 1
            time.sleep(0.1)
    except GraphError as exc:
        print(f'[graph] {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('\nStopping ...', flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        if monitor is not None:
            monitor.close()
        graph.stop()
    replies = sorted(record_dir.glob('*.wav'), key=lambda p: p.stat().st_mtime)
    if replies:
        print(f'Spoken reply written to {replies[-1]} (play it: aplay {replies[-1]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
