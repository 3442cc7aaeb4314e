"""Heisenberg against the pipecat peer, same models, same question WAVs, one run, one table.

    python bench/bench_vs_peer.py [--peer bench/out/peer] [--questions N] [--out bench/out/vs_peer.png]
                                  [--set stt.smart_turn_after=0.15 ...]

The peer is ../shared/peer_pipecat copied to bench/out/peer with its own venv (its README says
how). Both systems hear the same questions in the Piper voice: the peer each question alone
(it has no wake word), our graph "Hey Jarvis. <question>". Two of the questions pause for
0.6 s after a hesitation ("What is, um, ... the capital of France?"): the table counts those
whose transcript holds the words after the pause (not answered half-way).

1. The peer: a llama-server from our build on the same GGUF (-t 2 -c 2048 -np 1, as its
   run_all.sh does), then its peer.py on the WAVs; voice-to-voice = first reply audio at
   its sink - push time of the input frame holding the last speech sample.
2. Our graph, the README's way (bench_voice_to_voice's Bench: Graph, config/assistant.yaml,
   streaming speech, no history like the peer's fresh conversations, temperature 0):
   voice-to-voice = WAV end of speech -> header stamp of the first audio/out chunk.

End of speech is the same for both: the end of the last 10 ms window within -35 dB of the
loudest (the peer's make_questions.py definition). A transcript is right when it matches the
question word for word (ignoring case, punctuation, "Hey Jarvis", fillers, digits for number
words, colour/color);
an answer is right when it holds one of the question's expected words.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import urllib.request
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent

from benchlib import isolate_ros_session, load_average, machine_info  # noqa: E402
from bench_voice_to_voice import Question, graph_overrides, percentile, running_bench  # noqa: E402

LEAD = 0.5          # s of silence before each question (the peer's make_questions.py)
TAIL = 2.0          # s after it
PAUSE = 0.6         # s of silence inside a paused question
WARMUP = 'Hello there, can you hear me?'


@dataclasses.dataclass(frozen=True)
class Item:
    parts: tuple[str, ...]        # spoken with PAUSE between them
    answers: tuple[str, ...]      # any of these words in the reply makes it right

    @property
    def text(self) -> str:
        return ' '.join(self.parts)


ITEMS = [Item((q,), a) for q, a in [
    ('What is the capital of France?', ('paris',)),
    ('How many legs does a spider have?', ('eight', '8')),
    ('Why is the sky blue?', ('scatter', 'light', 'wavelength')),
    ('What is two plus two?', ('four', '4')),
    ('Who wrote Romeo and Juliet?', ('shakespeare',)),
    ('What is the boiling point of water?', ('100', 'hundred', '212')),
    ('How far away is the Moon?', ('384', '238', 'kilomet', 'miles')),
    ('What do bees make?', ('honey',)),
    ('What is the largest ocean on Earth?', ('pacific',)),
    ('What colour is a ripe banana?', ('yellow',)),
    ('How many days are in a week?', ('seven', '7')),
    ('What is the tallest mountain in the world?', ('everest',)),
    ('What color is the sky on a clear day?', ('blue',)),
    ('What is the opposite of hot?', ('cold',)),
    ('Which planet do we live on?', ('earth',)),
    ('What is frozen water called?', ('ice',)),
    ('What is the capital of Japan?', ('tokyo',)),
    ('How many hours are in a day?', ('24', 'twenty-four', 'twenty four')),
    ('What animal says moo?', ('cow',)),
    ('What is the largest planet in our solar system?', ('jupiter',)),
]] + [
    Item(('What is, um,', 'the capital of France?'), ('paris',)),
    Item(('How many legs, uh,', 'does a spider have?'), ('eight', '8')),
]

NUMBERS = {'zero': '0', 'one': '1', 'two': '2', 'three': '3', 'four': '4', 'five': '5', 'six': '6',
           'seven': '7', 'eight': '8', 'nine': '9', 'ten': '10', 'colour': 'color'}
FILLERS = {'um', 'uh', 'hey', 'jarvis'}


def words(text: str) -> str:
    tokens = re.sub(r"[^\w\s']", ' ', text.lower()).split()
    return ' '.join(NUMBERS.get(t, t) for t in tokens if t not in FILLERS)


def heard_right(transcript: str, item: Item) -> bool:
    return words(transcript) == words(item.text)


def heard_whole(transcript: str, item: Item) -> bool:
    """A paused question was not cut at its pause: the words after the pause are in the transcript."""
    return ' '.join(words(item.parts[-1]).split()[:2]) in words(transcript)


def folded(text: str) -> str:
    """Lower case without accents, so « Everest » and « l'Éverest » match alike."""
    return ''.join(c for c in unicodedata.normalize('NFKD', text.lower()) if not unicodedata.combining(c))


def answered_right(reply: str, item: Item) -> bool:
    return any(folded(answer) in folded(reply) for answer in item.answers)


def speech_end(pcm: np.ndarray, rel_db: float = -35.0) -> float:
    """Seconds to the end of the last 10 ms window within rel_db of the loudest (as the peer)."""
    x = pcm[:len(pcm) // 160 * 160].astype(np.float64).reshape(-1, 160)
    rms = np.sqrt((x ** 2).mean(axis=1)) + 1e-9
    loud = np.nonzero(rms > rms.max() * 10 ** (rel_db / 20))[0]
    return (loud[-1] + 1) * 0.01


def spoken(speech, item: Item, wake: bool) -> np.ndarray:
    from heisenberg_testing.speech import silence
    parts = [speech.say(('Hey Jarvis. ' if wake and index == 0 else '') + part)
             for index, part in enumerate(item.parts)]
    joined = [parts[0]]
    for part in parts[1:]:
        joined += [silence(PAUSE), part]
    return np.concatenate([silence(LEAD), *joined, silence(TAIL)])


def make_wavs(speech, items: list[Item], directory: Path) -> tuple[Path, list[Question], Question]:
    """The peer's folder (q00 warm-up, q01.. + questions.json) and our Questions, same speech."""
    from heisenberg_testing.speech import write_wav
    peer_dir = directory / 'peer_questions'
    peer_dir.mkdir(parents=True)
    meta = []
    ours = []
    for index, item in enumerate([Item((WARMUP,), ())] + items):
        peer_audio = spoken(speech, item, wake=False)
        write_wav(peer_dir / f'q{index:02d}.wav', peer_audio)
        if index:
            meta.append({'file': f'q{index:02d}.wav', 'text': item.text, 'samples': len(peer_audio),
                         'speech_end_s': speech_end(peer_audio)})
        our_audio = spoken(speech, item, wake=True)
        wav = write_wav(directory / f'ours_{index:02d}.wav', our_audio)
        ours.append(Question(item.text, wav, speech_end(our_audio), our_audio))
    (peer_dir / 'questions.json').write_text(json.dumps(meta, indent=1))
    return peer_dir, ours[1:], ours[0]


# ------------------------------------------------------------------------------------ peer

def run_peer(peer: Path, questions_dir: Path, out: Path, models: Path) -> list[dict]:
    from heisenberg_brain.core.llama_server import find_binary, free_port
    port = free_port()
    server = subprocess.Popen(
        [find_binary(), '-m', str(models / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'), '--host', '127.0.0.1',
         '--port', str(port), '-t', '2', '-c', '2048', '-np', '1', '--no-webui'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=1).read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError('the peer\'s llama-server did not come up')
        command = [str(peer / '.venv' / 'bin' / 'python'), str(peer / 'peer.py'),
                   '--llm-url', f'http://127.0.0.1:{port}/v1',
                   '--whisper-model', str(models / 'whisper-tiny.en'),
                   '--piper-voice', str(models / 'piper' / 'en_US-joe-medium.onnx'),
                   '--questions', str(questions_dir), '--out', str(out), '--label', 'pipecat']
        log = out.parent / 'peer.log'
        with open(log, 'w') as sink:
            result = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT,
                                    env={**os.environ, 'HF_HUB_OFFLINE': '1'}, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError(f'peer.py failed ({result.returncode}); see {log}')
        return json.loads((out / 'results.json').read_text())['rows']
    finally:
        server.terminate()
        server.wait(timeout=10)


# ------------------------------------------------------------------------------------ ours

def run_ours(questions: list[Question], warmup: Question, work: Path, settings: dict) -> list:
    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_testing.speech import silence, write_wav
    overrides = graph_overrides(free_port(), 64, write_wav(work / 'quiet.wav', silence(0.5)), None, None)
    for node, params in settings.items():
        overrides.setdefault(node, {}).update(params)
    turns = []
    with running_bench(overrides, work, 64) as bench:
        bench.turn('streaming', warmup)
        for index, question in enumerate(questions, start=1):
            turns.append(bench.turn('streaming', question))
            turn = turns[-1]
            v2v = f'{turn.stages["measured"] * 1000:5.0f} ms' if turn.ok else f'FAILED ({turn.note})'
            print(f'  ours q{index:02d}: v2v {v2v} | heard: {turn.transcript.strip()!r} | '
                  f'reply: {turn.reply.strip()[:70]!r}', flush=True)
    return turns


# ------------------------------------------------------------------------------------ report

def ms(values: list[float | None], q: float) -> float:
    return percentile([v for v in values if v is not None], q)


def print_table(items: list[Item], peer_rows: list[dict], our_turns: list, cpu: str, loads: dict) -> dict:
    peer_v2v = [r['v2v_ms'] for r in peer_rows]
    ours_v2v = [t.stages['measured'] * 1000 if t.ok else None for t in our_turns]
    summary = {'peer': (ms(peer_v2v, 50), ms(peer_v2v, 90)), 'ours': (ms(ours_v2v, 50), ms(ours_v2v, 90))}
    heard = {'peer': sum(heard_right(r['transcript'], i) for r, i in zip(peer_rows, items)),
             'ours': sum(heard_right(t.transcript, i) for t, i in zip(our_turns, items))}
    answered = {'peer': sum(answered_right(r['reply'], i) for r, i in zip(peer_rows, items)),
                'ours': sum(answered_right(t.reply, i) for t, i in zip(our_turns, items))}
    paused = [k for k, item in enumerate(items) if len(item.parts) > 1]
    whole = {'peer': sum(heard_whole(peer_rows[k]['transcript'], items[k]) for k in paused),
             'ours': sum(heard_whole(our_turns[k].transcript, items[k]) for k in paused)}
    n = len(items)
    print(f'\nHeisenberg vs pipecat peer, {n} questions ({len(paused)} with a {PAUSE} s pause); {cpu}')
    print(f'load average: {loads}')
    print(f'{"":<34}{"peer":>10}{"ours":>10}{"ours/peer":>11}')
    for label, key in [('voice-to-voice p50, ms', 0), ('voice-to-voice p90, ms', 1)]:
        p, o = summary['peer'][key], summary['ours'][key]
        print(f'{label:<34}{p:>10.0f}{o:>10.0f}{o / p:>11.2f}')
    print(f'{"turns measured":<34}{sum(v is not None for v in peer_v2v):>10}'
          f'{sum(v is not None for v in ours_v2v):>10}')
    print(f'{"transcripts right":<34}{heard["peer"]:>10}{heard["ours"]:>10}')
    print(f'{"paused questions not cut":<34}{whole["peer"]:>10}{whole["ours"]:>10}   (of {len(paused)})')
    print(f'{"answers right":<34}{answered["peer"]:>10}{answered["ours"]:>10}')
    print('\nwhere the time goes, p50 ms after the end of speech')
    print(f'{"peer: VAD stop / transcript / turn stop / 1st LLM text":<68}' + ' / '.join(
        f'{ms([r[k] for r in peer_rows], 50):.0f}'
        for k in ('vad_stop_ms', 'transcript_ms', 'user_turn_stop_ms', 'llm_first_text_ms')))
    ok = [t for t in our_turns if t.ok]
    first_token = [t.stages['speech_end_to_transcript'] + t.stages['transcript_to_first_token'] for t in ok]
    first_part = [f + t.stages['first_token_to_first_sentence'] for f, t in zip(first_token, ok)]
    print(f'{"ours: turn decided / transcript / 1st token / 1st part / 1st audio":<68}' + ' / '.join(
        [f'{percentile([t.stages[k] for t in ok], 50) * 1000:.0f}'
         for k in ('endpoint_delay', 'speech_end_to_transcript')]
        + [f'{percentile(v, 50) * 1000:.0f}' for v in (first_token, first_part)]
        + [f'{ms(ours_v2v, 50):.0f}']))
    print(f'{"ours: 1st token -> 1st part -> 1st audio (each p50)":<68}' + ' / '.join(
        f'{percentile([t.stages[k] for t in ok], 50) * 1000:.0f}'
        for k in ('first_token_to_first_sentence', 'first_sentence_to_first_audio')))
    print('\nper question: peer v2v / ours v2v, ms | heard (peer | ours) | answered')
    for k, item in enumerate(items):
        r, t = peer_rows[k], our_turns[k]
        o = f'{t.stages["measured"] * 1000:.0f}' if t.ok else 'fail'
        print(f'  {item.text[:44]:<46}{r["v2v_ms"] or 0:>6.0f} /{o:>6} | '
              f'{"ok" if heard_right(r["transcript"], item) else "x":>2} | '
              f'{"ok" if heard_right(t.transcript, item) else "x":>2} | '
              f'{"ok" if answered_right(r["reply"], item) else "x":>2} | '
              f'{"ok" if answered_right(t.reply, item) else "x":>2}')
    return summary


def plot(peer_rows: list[dict], our_turns: list, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    peer = sorted(r['v2v_ms'] for r in peer_rows if r['v2v_ms'] is not None)
    ours = sorted(t.stages['measured'] * 1000 for t in our_turns if t.ok)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for values, label in [(peer, 'pipecat peer'), (ours, 'Heisenberg')]:
        fractions = np.arange(1, len(values) + 1) / len(values)
        ax.plot(values, fractions, drawstyle='steps-post',
                label=f'{label} (p50 {percentile(values, 50):.0f} ms)')
    ax.axvline(700, color='grey', linestyle='--', linewidth=1, label='goal p50 700 ms')
    ax.set_xlabel('end of speech -> first reply audio, ms')
    ax.set_ylabel('fraction of questions')
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--peer', type=Path, default=ROOT / 'bench' / 'out' / 'peer',
                        help='the peer folder with its .venv (see ../shared/peer_pipecat/README.md)')
    parser.add_argument('--questions', type=int, default=len(ITEMS), help=f'how many of the {len(ITEMS)}')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench' / 'out' / 'vs_peer.png')
    parser.add_argument('--set', action='append', default=[], metavar='NODE.PARAM=VALUE',
                        help='a parameter of our graph for this run (a YAML value), '
                             'e.g. stt.smart_turn_after=0.15')
    args = parser.parse_args(argv)
    settings: dict = {}
    for setting in args.set:
        name, _, value = setting.partition('=')
        node, _, param = name.partition('.')
        if not (node and param and value):
            parser.error(f'--set wants NODE.PARAM=VALUE, got {setting!r}')
        settings.setdefault(node, {})[param] = yaml.safe_load(value)
    if not (args.peer / '.venv' / 'bin' / 'python').exists():
        parser.error(f'no peer venv in {args.peer}: copy ../shared/peer_pipecat there and install it '
                     '(its README)')
    items = ITEMS[-args.questions:] if args.questions < len(ITEMS) else ITEMS
    isolate_ros_session()
    from heisenberg_testing.speech import Speech
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    cpu = machine_info()
    loads = {'before': load_average()}
    print(f'machine: {cpu}; load average before: {loads["before"]}', flush=True)
    work = Path(tempfile.mkdtemp(prefix='bench_vs_peer_'))
    peer_dir, ours, warmup = make_wavs(Speech(models / 'piper' / 'en_US-joe-medium.onnx'), items, work)
    print(f'{len(items)} questions in {work}; the peer first', flush=True)
    peer_rows = run_peer(args.peer, peer_dir, work / 'peer_out', models)
    loads['after peer'] = load_average()
    print('our graph', flush=True)
    our_turns = run_ours(ours, warmup, work, settings)
    loads['after ours'] = load_average()
    if settings:
        print(f'our graph with {settings}')
    print_table(items, peer_rows, our_turns, cpu, loads)
    plot(peer_rows, our_turns, args.out, f'{cpu}; load {loads}')
    print(f'plot: {args.out}; logs and WAVs in {work}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
