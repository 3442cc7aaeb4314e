"""Voice-to-voice latency of the whole graph: streaming speech vs. speaking the full reply, in one run.

    python bench/bench_voice_to_voice.py [--questions 10] [--max-tokens 48] [--llm-threads N]
                                         [--speculative-after S] [--out bench/out/voice_to_voice.png]

The graph is started the README's way (heisenberg_bringup.graph.Graph, config/assistant.yaml,
its own llama-server on a free port); each turn plays "Hey Jarvis. <question>" spoken by the
Piper voice (1.5 s silence before, 2 s after) through the capture node's file source and
waits until the reply has been spoken (IDLE, cause SPEECH_FINISHED). Two configurations of
the brain: `stream_speech: true` (each sentence to tts as it closes) and false (the whole
reply first). Greedy decoding, a fixed seed, the same max_tokens and no history
(max_history_turns 0) so both configurations get the same prompts and the same replies.
The configurations take turns (S F F S S F ...: one brain restart per question, followed by
a Respond warm-up goal), so both see the same machine load.

Two voice-to-voice figures per turn:
- the brain's own (TurnMetrics.voice_to_voice: the stt's last voiced frame -> first audio);
- measured outside the graph: the question's last loud sample in the WAV -> header stamp of
  the first `audio/out` chunk of the turn (tts stamps a chunk with the playback time of its
  first sample). Capture stamps are the file's start + samples / 16 kHz; the start is found
  from the first loud `audio/in` frame the bench receives, located in the WAV by its samples
  (audio/in is best effort, so the bench may miss the first frames while discovery settles).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import QUESTIONS, isolate_ros_session, load_average, machine_info  # noqa: E402

WARMUP_QUESTION = 'What is your name?'
LEAD_SILENCE, TAIL_SILENCE = 1.5, 2.0
LOUD = 300  # int16 amplitude above which a sample counts as speech (true end of speech)
CONFIGS = {'streaming': True, 'full reply': False}
# (TurnMetrics field or derived key, label, plot colour); the first five add up to voice-to-voice.
STAGES = [
    ('endpoint_delay', 'turn decided (turn model)', '#9ecae1'),
    ('whisper', 'stt after endpoint', '#3182bd'),
    ('transcript_to_first_token', 'transcript -> 1st token', '#fdae6b'),
    ('first_token_to_first_sentence', '1st token -> 1st sentence', '#e6550d'),
    ('first_sentence_to_first_audio', '1st sentence -> 1st audio', '#31a354'),
]
TOTALS = [
    ('speech_end_to_transcript', 'speech end -> transcript'),
    ('voice_to_voice', 'voice-to-voice (brain)'),
    ('measured', 'voice-to-voice (measured)'),
]


@dataclasses.dataclass
class Question:
    text: str
    wav: Path
    speech_end: float   # seconds from the start of the WAV to the question's last loud sample
    audio: np.ndarray   # the WAV's samples (16 kHz int16)


@dataclasses.dataclass
class Turn:
    config: str
    question: str
    ok: bool
    stages: dict = dataclasses.field(default_factory=dict)   # key -> seconds
    transcript: str = ''
    reply: str = ''
    note: str = ''


def prepare_questions(speech, texts: list[str], directory: Path) -> list[Question]:
    from heisenberg_testing.speech import silence, write_wav
    questions = []
    for index, text in enumerate(texts):
        spoken = speech.say(f'Hey Jarvis. {text}')
        loud = np.nonzero(np.abs(spoken.astype(np.int32)) > LOUD)[0]
        audio = np.concatenate([silence(LEAD_SILENCE), spoken, silence(TAIL_SILENCE)])
        wav = write_wav(directory / f'q{index:02d}.wav', audio)
        questions.append(Question(text, wav, LEAD_SILENCE + (loud[-1] + 1) / 16000, audio))
    return questions


class CaptureStart:
    """Where the played WAV starts on the capture clock, from one loud `audio/in` frame of it."""

    def __init__(self, node):
        from audio_common_msgs.msg import AudioDataStamped

        from heisenberg_common.qos import AUDIO_IN
        self._after = math.inf
        self._frame: tuple[float, np.ndarray] | None = None
        self._lock = threading.Lock()
        node.create_subscription(AudioDataStamped, 'audio/in', self._on_audio, AUDIO_IN)

    def arm(self, after_wall_time: float) -> None:
        with self._lock:
            self._after, self._frame = after_wall_time, None

    def _on_audio(self, msg) -> None:
        stamp = seconds(msg.header.stamp)
        with self._lock:
            if self._frame is not None or stamp < self._after:
                return
            samples = np.frombuffer(bytes(msg.audio.data), dtype=np.int16)
            if np.abs(samples.astype(np.int32)).max() > LOUD:  # silence cannot be located in the file
                self._frame = (stamp, samples)

    def start_of(self, audio: np.ndarray) -> float | None:
        """The capture stamp of the WAV's first sample (frames start at multiples of their size)."""
        with self._lock:
            if self._frame is None:
                return None
            stamp, samples = self._frame
        size = len(samples)
        frames = audio[:len(audio) // size * size].reshape(-1, size).astype(np.int32)
        index = int(np.argmin(np.abs(frames - samples.astype(np.int32)).sum(axis=1)))
        return stamp - index * size / 16000


def seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class Bench:
    """The running graph, a monitor, and one turn at a time."""

    def __init__(self, graph, monitor, max_tokens: int):
        from heisenberg_common.actions import ActionClient

        from heisenberg_interfaces.action import Respond
        self.graph = graph
        self.monitor = monitor
        self.max_tokens = max_tokens
        self.capture_start = CaptureStart(monitor.node)
        self.respond = ActionClient(monitor.node, Respond, 'respond')
        self.stream_speech = True

    def wait_state(self, name: str, since: float, timeout: float, cause: str | None = None) -> bool:
        def seen():
            return any(s.state_name == name and (cause is None or s.cause == cause)
                       for s in self.monitor.of('state', since))
        return self.monitor.wait_for(seen, timeout, poll=self.graph.poll)

    def use(self, config: str) -> None:
        """Restart the brain with the configuration's stream_speech unless it already has it."""
        if CONFIGS[config] == self.stream_speech:
            return
        restarted = time.monotonic()
        self.graph.restart('brain', {'stream_speech': CONFIGS[config]})
        if not self.wait_state('IDLE', restarted, 60, cause='STARTUP'):
            raise RuntimeError('the brain did not come back after a restart')
        self.stream_speech = CONFIGS[config]
        self.warm_up()

    def warm_up(self) -> None:
        """One short Respond goal (not spoken): the new brain's HTTP session and server props."""
        from heisenberg_interfaces.action import Respond
        if not self.respond.wait_for_server(timeout_sec=30):
            raise RuntimeError('no Respond action server')
        goal = Respond.Goal(prompt='Hello.', max_tokens=4, session_id='warm-up')
        future = self.respond.send_goal_async(goal)
        if not self.monitor.wait_for(future.done, 10):
            raise RuntimeError('Respond warm-up goal not accepted')
        result = future.result().get_result_async()
        self.monitor.wait_for(result.done, 60)
        self.wait_state('IDLE', time.monotonic() - 60, 10)

    def turn(self, config: str, question: Question) -> Turn:
        self.use(config)
        turn = Turn(config, question.text, ok=False)
        since = time.monotonic()
        # Three readers of audio/in: wake_word, stt and this bench (else the bench's match could
        # let capture start before wake_word's, which then misses "Hey Jarvis").
        self.graph.restart('capture', {'source': 'file', 'file_path': str(question.wav), 'pad_silence': True,
                                       'wait_for_subscribers': 3})
        # Armed once the old capture is gone (its silence is stamped up to now), before the new one plays.
        self.capture_start.arm(time.time())
        if not self.wait_state('LISTENING', since, 20):
            turn.note = 'wake word not heard'
            return turn
        if not self.wait_state('IDLE', since, 120, cause='SPEECH_FINISHED'):
            turn.note = 'no spoken reply: ' + ' '.join(self.monitor.state_names(since))
            return turn
        self._collect(turn, question, since)
        return turn

    def _collect(self, turn: Turn, question: Question, since: float) -> None:
        finals = [t for t in self.monitor.of('transcript', since) if t.is_final and not t.nothing_heard]
        metrics = [m for m in self.monitor.of('metrics', since) if m.source == 'voice']
        chunks = self.monitor.of('audio/out', since)
        turn.transcript = finals[-1].text if finals else ''
        turn.reply = ''.join(msg.data for msg in self.monitor.of('reply', since))
        wav_start = self.capture_start.start_of(question.audio)
        if not (metrics and chunks and wav_start is not None):
            turn.note = 'missing metrics, audio or capture start'
            return
        m = metrics[-1]
        turn.stages = {name: getattr(m, name) for name in (
            'endpoint_delay', 'speech_end_to_transcript', 'transcript_to_first_token',
            'first_token_to_first_sentence', 'first_sentence_to_first_audio', 'voice_to_voice')}
        turn.stages['whisper'] = m.speech_end_to_transcript - m.endpoint_delay
        turn.stages['tokens_per_second'] = m.tokens_per_second
        file_speech_end = wav_start + question.speech_end
        first_audio = seconds(chunks[0].header.stamp)
        turn.stages['measured'] = first_audio - file_speech_end
        if finals:  # where the stt put the end of speech vs. the WAV's last loud sample
            turn.stages['vad_end_offset'] = seconds(finals[-1].speech_end) - file_speech_end
            turn.stages['measured_from_vad_end'] = first_audio - seconds(finals[-1].speech_end)
        turn.ok = not any(math.isnan(turn.stages[key]) for key, *_ in STAGES)


@contextlib.contextmanager
def running_bench(overrides: dict, work: Path, max_tokens: int):
    """The graph but capture (started per question) and a monitor, ready and warmed up, as a Bench."""
    from heisenberg_bringup.graph import Graph
    from heisenberg_bringup.monitor import GraphMonitor
    graph = Graph(ROOT / 'config' / 'assistant.yaml', work / 'logs', overrides)
    monitor = GraphMonitor()
    try:
        graph.start([name for name in graph.node_names if name != 'capture'])
        if not monitor.wait_ready(timeout=180, poll=graph.poll):
            raise RuntimeError(f'graph not ready; logs in {work / "logs"}')
        bench = Bench(graph, monitor, max_tokens)
        bench.warm_up()
        yield bench
    finally:
        monitor.close()
        graph.stop()


def percentile(values: list[float], q: float) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.percentile(values, q)) if values else math.nan


def print_table(turns: list[Turn]) -> None:
    by_config = {name: [t for t in turns if t.config == name and t.ok] for name in CONFIGS}
    streaming, full = by_config.values()
    counts = ', '.join(f'{name} {len(ok)}/{sum(t.config == name for t in turns)} turns ok'
                       for name, ok in by_config.items())
    print(f'\nvoice-to-voice, ms ({counts})')
    header = (f'{"stage":<28}{"stream p50":>11}{"p90":>7}{"full p50":>10}{"p90":>7}'
              f'{"ratio p50":>11}{"ratio p90":>10}')
    print(header)
    print('-' * len(header))
    rows = [(key, label) for key, label, _ in STAGES] + TOTALS
    for key, label in rows:
        s = [percentile([t.stages[key] for t in streaming], q) * 1000 for q in (50, 90)]
        f = [percentile([t.stages[key] for t in full], q) * 1000 for q in (50, 90)]
        ratios = [a / b if b else math.nan for a, b in zip(s, f)]
        print(f'{label:<28}{s[0]:>11.0f}{s[1]:>7.0f}{f[0]:>10.0f}{f[1]:>7.0f}'
              f'{ratios[0]:>11.2f}{ratios[1]:>10.2f}')
    print('(ratio = streaming / full reply; "measured" = WAV end of speech -> first audio/out stamp)')
    print('llama-server decode tok/s p50: ' + ', '.join(
        f'{name} {percentile([t.stages["tokens_per_second"] for t in ok], 50):.0f}'
        for name, ok in by_config.items()))
    report_agreement([t for t in turns if t.ok])


def report_agreement(turns: list[Turn]) -> None:
    """Does the brain's voice-to-voice agree with the one measured outside the graph?"""
    if not turns:
        return
    diff = [(t.stages['measured'] - t.stages['voice_to_voice']) * 1000 for t in turns]
    offset = [t.stages.get('vad_end_offset', math.nan) * 1000 for t in turns]
    from_vad = [(t.stages.get('measured_from_vad_end', math.nan) - t.stages['voice_to_voice']) * 1000
                for t in turns]
    worst = max(diff, key=abs)
    verdict = 'agree' if abs(percentile(diff, 50)) <= 50 and abs(worst) <= 100 else 'DISAGREE'
    print(f'measured - brain voice-to-voice: p50 {percentile(diff, 50):+.0f} ms, worst {worst:+.0f} ms '
          f'-> {verdict} (within 50 ms p50 / 100 ms worst)')
    print(f'  end of speech: stt speech_end - WAV last loud sample p50 {percentile(offset, 50):+.0f} ms; '
          f'first audio: audio/out stamp - brain first audio p50 {percentile(from_vad, 50):+.0f} ms')


def plot(turns: list[Turn], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(CONFIGS), figsize=(13, 5.5), sharey=True)
    for ax, name in zip(axes, CONFIGS):
        ok = [t for t in turns if t.config == name and t.ok]
        x = np.arange(len(ok))
        bottom = np.zeros(len(ok))
        for key, label, colour in STAGES:
            height = np.array([t.stages[key] * 1000 for t in ok])
            ax.bar(x, height, bottom=bottom, color=colour, label=label, width=0.7)
            bottom += height
        ax.plot(x, [t.stages['measured'] * 1000 for t in ok], 'k_', markersize=18, mew=2,
                label='measured (WAV -> audio/out)')
        p50 = percentile([t.stages['voice_to_voice'] for t in ok], 50) * 1000
        ax.axhline(p50, color='grey', linestyle='--', linewidth=1, label=f'p50 brain {p50:.0f} ms')
        ax.set_title(f'{name} ({len(ok)} turns)')
        ax.set_xticks(x, [short(t.question) for t in ok], rotation=60, ha='right', fontsize=8)
        ax.grid(axis='y', alpha=0.3)
    axes[0].set_ylabel('ms from end of speech')
    axes[-1].legend(fontsize=8, loc='upper left')
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def short(question: str) -> str:
    return question if len(question) <= 22 else question[:20] + '…'


def print_turn(index: int, turn: Turn) -> None:
    if turn.ok:
        s = turn.stages
        print(f'  {index:2d} {turn.config:<10} v2v {s["voice_to_voice"] * 1000:5.0f} ms '
              f'(measured {s["measured"] * 1000:5.0f}) heard "{turn.transcript.strip()}" '
              f'-> "{turn.reply.strip()[:60]}"', flush=True)
    else:
        print(f'  {index:2d} {turn.config:<10} FAILED ({turn.note}) heard "{turn.transcript.strip()}"',
              flush=True)


def schedule(count: int) -> list[tuple[str, int]]:
    """S F, F S, S F, ...: alternate who goes first, one configuration switch per question."""
    names = list(CONFIGS)
    order = []
    for index in range(count):
        order += [(name, index) for name in (names if index % 2 == 0 else names[::-1])]
    return order


def graph_overrides(port: int, max_tokens: int, quiet_wav: Path, llm_threads: int | None,
                    speculative_after: float | None) -> dict:
    overrides = {
        'llama_server': {'port': port, **({} if llm_threads is None else {'threads': llm_threads})},
        'brain': {'llm.endpoint': f'http://127.0.0.1:{port}/completion', 'llm.temperature': 0.0,
                  'llm.seed': 42, 'llm.max_tokens': max_tokens, 'llm.max_history_turns': 0,
                  'llm.first_token_timeout': 60.0, 'llm.token_timeout': 30.0, 'think_timeout': 90.0,
                  'stream_speech': True,
                  # every question begins with the wake word, and a turn starts at LISTENING by it
                  'follow_up_seconds': 0.0},
        'capture': {'source': 'file', 'file_path': str(quiet_wav)},
    }
    if speculative_after is not None:
        overrides['stt'] = {'speculative_after': speculative_after}
    return overrides


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--questions', type=int, default=10,
                        help=f'how many of the {len(QUESTIONS)} questions')
    parser.add_argument('--max-tokens', type=int, default=48, help='llm.max_tokens for both configurations')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench' / 'out' / 'voice_to_voice.png',
                        help='PNG plot of the per-turn stages')
    parser.add_argument('--llm-threads', type=int, default=None,
                        help="llama-server threads (default: config/assistant.yaml's; 0 = all cores)")
    parser.add_argument('--speculative-after', type=float, default=None,
                        help="stt's seconds of trailing silence before it starts transcribing "
                             "(default: config/assistant.yaml's)")
    args = parser.parse_args(argv)
    if not 1 <= args.questions <= len(QUESTIONS):
        parser.error(f'--questions must be in 1..{len(QUESTIONS)}')
    isolate_ros_session()

    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_testing.speech import Speech, silence, write_wav

    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    print(f'machine: {machine_info()}; load average before: {load_average()}', flush=True)
    work = Path(tempfile.mkdtemp(prefix='bench_v2v_'))
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    warmup, *questions = prepare_questions(speech, [WARMUP_QUESTION] + QUESTIONS[:args.questions], work)
    del speech  # the Piper voice is not needed any more; free its memory for the graph
    overrides = graph_overrides(free_port(), args.max_tokens, write_wav(work / 'quiet.wav', silence(0.5)),
                                args.llm_threads, args.speculative_after)
    turns: list[Turn] = []
    try:
        with running_bench(overrides, work, args.max_tokens) as bench:
            print_turn(0, bench.turn('streaming', warmup))  # first whisper/piper/llama runs: not counted
            print(f'{args.questions} questions x {len(CONFIGS)} configurations, max_tokens '
                  f'{args.max_tokens}, temperature 0, seed 42; logs in {work / "logs"}', flush=True)
            for index, (config, q) in enumerate(schedule(len(questions)), start=1):
                turns.append(bench.turn(config, questions[q]))
                print_turn(index, turns[-1])
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    after = load_average()
    threads = 'config' if args.llm_threads is None else args.llm_threads
    speculation = 'config' if args.speculative_after is None else f'{args.speculative_after} s'
    print(f'{len(questions)} questions, max_tokens {args.max_tokens}, temperature 0, seed 42, '
          f'no history, llama-server threads {threads}, speculation after {speculation}; '
          f'load average after: {after}')
    print_table(turns)
    plot(turns, args.out, f'voice-to-voice per turn, {machine_info()}, load after {after}')
    print(f'plot: {args.out}')
    return 0 if any(t.ok for t in turns) else 1


if __name__ == '__main__':
    sys.exit(main())
