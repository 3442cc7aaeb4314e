"""Soak: hundreds of spoken turns through the whole graph; latency and memory per turn, no growth.

    python bench/bench_soak.py [--turns 200] [--questions 10] [--max-tokens 32]
                               [--out bench/out/soak.png]

The graph is started the README's way (heisenberg_bringup.graph.Graph, config/assistant.yaml,
its own llama-server on a free port) and runs for the whole soak: no node is restarted, so
each node's memory is its own over every turn. The questions ("Hey Jarvis. <question>",
cycled) are spoken by the Piper voice into WAV files first; a microphone stand-in then
plays them from those files into the capture node's topic source (capture `source: topic`,
as on a robot with its own audio driver), 20 ms frames at real-time pace, with silence in
between like a quiet room. Each turn waits until the reply has been spoken (IDLE after
SPEECH_FINISHED), then prints the brain's voice-to-voice latency (TurnMetrics: the last
voiced frame -> first reply audio) and the RSS of every node process (with its children:
llama_server's includes the llama-server it runs). At the end: a table of the first 10%
of turns against the last 10% (latency p50, RSS per node) and a plot (--out).
History stays on (the voice session's sliding window and summary, as configured): a soak
should run the configuration a robot runs.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import math
import multiprocessing
import os
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import QUESTIONS, isolate_ros_session, load_average, machine_info  # noqa: E402

FRAME_SECONDS = 0.02
SAMPLE_RATE = 16000
TAIL_SILENCE = 2.0        # after the question, inside the clip (the endpointer needs silence)
PAUSE_BETWEEN_TURNS = 1.0  # quiet room after a reply, before the next question
NODES = ('llama_server', 'tts', 'capture', 'wake_word', 'stt', 'brain')


@dataclasses.dataclass
class TurnRecord:
    index: int
    question: str
    ok: bool = False
    voice_to_voice: float = math.nan   # seconds
    seconds: float = math.nan          # whole turn, question start -> reply spoken
    transcript: str = ''
    reply: str = ''
    note: str = ''
    rss: dict = dataclasses.field(default_factory=dict)   # node -> bytes after the turn


class Microphone:
    """Plays clips into `audio_driver/audio` at real-time pace; silence when there is nothing to play.

    It runs in a process of its own, as a robot's audio driver would: in the bench's process
    the monitor (which takes every reply audio chunk) could delay frames, and a late burst
    of best-effort frames loses some of them.
    """

    def __init__(self):
        context = multiprocessing.get_context('spawn')
        self._clips = context.Queue()
        self._played = context.Event()
        self._stop = context.Event()
        self._process = context.Process(target=play_microphone,
                                        args=(self._clips, self._played, self._stop, os.getpid()),
                                        name='soak-microphone', daemon=True)
        self._process.start()

    def play(self, samples: np.ndarray) -> None:
        """Queue a clip; wait_played() returns once its last frame is out."""
        self._played.clear()
        self._clips.put(samples)

    def wait_played(self, timeout: float) -> bool:
        return self._played.wait(timeout)

    def close(self) -> None:
        self._stop.set()
        self._process.join(5)
        if self._process.is_alive():
            self._process.terminate()


def play_microphone(clips, played, stop, bench_pid: int) -> None:
    """The microphone process: 20 ms frames, stamped on the audio's own timeline.

    Stamps are the wall time of the first frame + frames x 20 ms, as a driver stamps capture
    time; a late wake-up catches up rather than stretching the timeline. It stops with the
    bench, also when the bench is killed (a daemon process is only ended on a clean exit).
    """
    import rclpy
    from audio_common_msgs.msg import AudioDataStamped, AudioInfo

    from heisenberg_audio.nodes.audio_messages import audio_message, info_message
    from heisenberg_common.qos import AUDIO_IN, LATCHED
    from heisenberg_common.stamps import time_msg
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('soak_microphone', namespace='heisenberg', context=context)
    try:
        audio = node.create_publisher(AudioDataStamped, 'audio_driver/audio', AUDIO_IN)
        node.create_publisher(AudioInfo, 'audio_driver/audio_info', LATCHED).publish(info_message())
        size = int(SAMPLE_RATE * FRAME_SECONDS)
        silence = np.zeros(size, dtype=np.int16)
        pending: collections.deque = collections.deque()
        start_wall, start = time.time(), time.monotonic()
        sent = 0
        while not stop.is_set() and os.getppid() == bench_pid:
            if not pending and not clips.empty():
                clip = clips.get()
                pending.extend(np.pad(clip, (0, -len(clip) % size)).reshape(-1, size))
            frame = pending.popleft() if pending else silence
            audio.publish(audio_message(frame, time_msg(start_wall + sent * FRAME_SECONDS), 'soak'))
            if frame is not silence and not pending:
                played.set()
            sent += 1
            delay = start + sent * FRAME_SECONDS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == SAMPLE_RATE and wav.getnchannels() == 1
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)


def speak_questions(texts: list[str], directory: Path, models: Path) -> list[Path]:
    """The questions spoken by the Piper voice, as WAV files (the soak plays these files)."""
    from heisenberg_testing.speech import Speech, silence, write_wav
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    return [write_wav(directory / f'q{i:02d}.wav', speech.say(f'Hey Jarvis. {text}'), silence(TAIL_SILENCE))
            for i, text in enumerate(texts)]


def tree_rss(pid: int) -> int:
    import psutil
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


class Soak:
    """The running graph, its monitor and microphone, one turn at a time."""

    def __init__(self, graph, monitor, microphone):
        self.graph = graph
        self.monitor = monitor
        self.microphone = microphone
        self.respawns: list[str] = []

    def poll(self) -> None:
        self.respawns += self.graph.poll()

    def wait_state(self, name: str, since: float, timeout: float, cause: str | None = None) -> bool:
        def seen():
            return any(s.state_name == name and (cause is None or s.cause == cause)
                       for s in self.monitor.of('state', since))
        return self.monitor.wait_for(seen, timeout, poll=self.poll)

    def turn(self, index: int, question: str, clip: np.ndarray) -> TurnRecord:
        record = TurnRecord(index, question)
        since = time.monotonic()
        self.microphone.play(clip)
        if not self.wait_state('LISTENING', since, 30):
            record.note = 'wake word not heard'
        elif not self.wait_state('IDLE', since, 120, cause='SPEECH_FINISHED'):
            record.note = 'no spoken reply: ' + ' '.join(self.monitor.state_names(since)[-6:])
        else:
            self._collect(record, since)
        self.microphone.wait_played(30)
        self.wait_state('IDLE', since, 60)  # a failed turn still ends before the next one
        record.seconds = time.monotonic() - since
        record.rss = {name: tree_rss(self.graph.processes[name].process.pid) for name in NODES}
        return record

    def _collect(self, record: TurnRecord, since: float) -> None:
        finals = [t for t in self.monitor.of('transcript', since) if t.is_final and not t.nothing_heard]
        metrics = [m for m in self.monitor.of('metrics', since) if m.source == 'voice']
        record.transcript = finals[-1].text.strip() if finals else ''
        record.reply = ''.join(msg.data for msg in self.monitor.of('reply', since)).strip()
        if not metrics or math.isnan(metrics[-1].voice_to_voice):
            record.note = 'no voice-to-voice figure'
            return
        record.voice_to_voice = metrics[-1].voice_to_voice
        record.ok = True


def percentile(values: list[float], q: float) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.percentile(values, q)) if values else math.nan


def mib(value: float) -> float:
    return value / 2**20


def print_turn(record: TurnRecord) -> None:
    rss = ' '.join(f'{name} {mib(record.rss[name]):6.1f}' for name in NODES)
    head = (f'{record.index:4d} v2v {record.voice_to_voice * 1000:5.0f} ms' if record.ok
            else f'{record.index:4d} FAILED ({record.note})')
    print(f'{head} | RSS MiB {rss} | heard "{record.transcript[:40]}" -> "{record.reply[:40]}"', flush=True)


def summary(records: list[TurnRecord]) -> str:
    window = max(1, len(records) // 10)
    first, last = records[:window], records[-window:]
    lines = [f'first {window} turns vs last {window} turns (10% each of {len(records)}; '
             f'{sum(r.ok for r in records)} turns ok)']
    header = f'{"":<28}{"first":>10}{"last":>10}{"last-first":>12}{"ratio":>8}'
    lines += [header, '-' * len(header)]

    def row(label: str, a: float, b: float, unit: str, digits: int) -> str:
        ratio = b / a if a else math.nan
        return f'{label:<28}{a:>10.{digits}f}{b:>10.{digits}f}{b - a:>+12.{digits}f}{ratio:>8.2f}  {unit}'
    for q in (50, 90):
        lines.append(row(f'voice-to-voice p{q}', percentile([r.voice_to_voice for r in first], q) * 1000,
                         percentile([r.voice_to_voice for r in last], q) * 1000, 'ms', 0))
    lines.append(row('turn duration p50', percentile([r.seconds for r in first], 50),
                     percentile([r.seconds for r in last], 50), 's', 1))
    for name in NODES:
        lines.append(row(f'RSS {name} (median)', mib(np.median([r.rss[name] for r in first])),
                         mib(np.median([r.rss[name] for r in last])), 'MiB', 1))
    total_first = np.median([sum(r.rss.values()) for r in first])
    total_last = np.median([sum(r.rss.values()) for r in last])
    lines.append(row('RSS all nodes (median)', mib(total_first), mib(total_last), 'MiB', 1))
    return '\n'.join(lines)


def rolling_median(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if len(values) else math.nan


def plot(records: list[TurnRecord], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 8), sharex=True)
    x = [r.index for r in records]
    v2v = np.array([r.voice_to_voice * 1000 for r in records])
    top.plot(x, v2v, '.', color='#3182bd', label='voice-to-voice per turn')
    window = max(1, len(records) // 10)
    rolling = [rolling_median(v2v[max(0, i - window + 1):i + 1]) for i in range(len(v2v))]
    top.plot(x, rolling, '-', color='#e6550d', label=f'rolling median ({window} turns)')
    failed = [r.index for r in records if not r.ok]
    if failed:
        top.plot(failed, [0] * len(failed), 'rx', label='failed turn')
    top.set_ylabel('ms')
    top.legend(fontsize=8)
    top.grid(alpha=0.3)
    for name in NODES:
        bottom.plot(x, [mib(r.rss[name]) for r in records], label=name)
    bottom.set_ylabel('RSS MiB (node + children)')
    bottom.set_xlabel('turn')
    bottom.legend(fontsize=8, ncol=3)
    bottom.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def graph_overrides(port: int, max_tokens: int) -> dict:
    return {
        'llama_server': {'port': port},
        'brain': {'llm.endpoint': f'http://127.0.0.1:{port}/completion', 'llm.max_tokens': max_tokens,
                  'llm.first_token_timeout': 60.0, 'llm.token_timeout': 30.0, 'think_timeout': 90.0,
                  # every question begins with the wake word, and a turn starts at LISTENING by it
                  'follow_up_seconds': 0.0},
        'capture': {'source': 'topic'},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--turns', type=int, default=200, help='spoken turns (questions are cycled)')
    parser.add_argument('--questions', type=int, default=10, help=f'distinct questions, 1..{len(QUESTIONS)}')
    parser.add_argument('--max-tokens', type=int, default=32, help='llm.max_tokens (keeps replies short)')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench' / 'out' / 'soak.png', help='PNG plot')
    args = parser.parse_args(argv)
    if args.turns < 10:
        parser.error('--turns must be >= 10 (the summary compares the first and last 10%)')
    if not 1 <= args.questions <= len(QUESTIONS):
        parser.error(f'--questions must be in 1..{len(QUESTIONS)}')
    isolate_ros_session()

    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_bringup.graph import Graph
    from heisenberg_bringup.monitor import GraphMonitor

    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    print(f'machine: {machine_info()}; load average before: {load_average()}', flush=True)
    work = Path(tempfile.mkdtemp(prefix='bench_soak_'))
    texts = QUESTIONS[:args.questions]
    clips = [read_wav(path) for path in speak_questions(texts, work, models)]
    overrides = graph_overrides(free_port(), args.max_tokens)
    graph = Graph(ROOT / 'config' / 'assistant.yaml', work / 'logs', overrides)
    microphone = Microphone()
    monitor = GraphMonitor()
    records: list[TurnRecord] = []
    started = time.monotonic()
    try:
        graph.start()
        if not monitor.wait_ready(NODES, timeout=180, poll=graph.poll):
            print(f'graph not ready; logs in {work / "logs"}', file=sys.stderr)
            return 1
        soak = Soak(graph, monitor, microphone)
        print(f'{args.turns} turns over {len(texts)} questions, max_tokens {args.max_tokens}; '
              f'logs in {work / "logs"}', flush=True)
        for index in range(1, args.turns + 1):
            question = (index - 1) % len(texts)
            records.append(soak.turn(index, texts[question], clips[question]))
            print_turn(records[-1])
            time.sleep(PAUSE_BETWEEN_TURNS)
    finally:
        microphone.close()
        monitor.close()
        graph.stop()
    after = load_average()
    print(f'\n{len(records)} turns in {(time.monotonic() - started) / 60:.1f} min; respawns: '
          f'{len(soak.respawns) if records else "n/a"}; load average after: {after}')
    print(summary(records))
    plot(records, args.out, f'soak: {len(records)} turns, {machine_info()}, load after {after}')
    print(f'plot: {args.out}')
    return 0 if records and any(r.ok for r in records) else 1


if __name__ == '__main__':
    sys.exit(main())
