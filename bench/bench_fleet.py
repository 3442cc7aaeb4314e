"""Several robots, one LLM server: who waits, and for how long, when 1, 2 or 3 robots ask at once.

    python bench/bench_fleet.py [--rounds 3] [--max-tokens 48] [--robots 3]

One llama-server with -np 3 (a slot per robot), started by the bench on loopback with an
API key, as a shared server would run. Robots robot1..robot3 each run their own graph
(capture, wake_word, stt, tts, brain; heisenberg_bringup.graph.Graph, config/assistant.yaml,
namespace robotN) with llm.slot_id N-1 and the key. Robot 1 runs alone first, then robot 2
joins, then robot 3: with n graphs running, the first n robots ask together, each its own
question ("Hey Jarvis. <question>", the Piper voice), `--rounds` times; the captures are
started in parallel threads, so the questions begin within about a second of each other.

Per robot and fleet size: voice-to-voice p50/p90 (the brain's TurnMetrics: stt's last voiced
frame -> first reply audio) and where it went (end of speech -> transcript, transcript -> first
token: who waits for Whisper, who for the LLM), the reply's right answer (its keyword) and
whether it carried another robot's answer instead; per fleet size: the server's total tokens/s,
generated tokens (llama-server's /metrics) over the time any slot was busy (/slots polled every
50 ms). Greedy decoding, no history (max_history_turns 0), so a round repeats the same prompts.
Everything shares this machine's cores: on 2 cores the absolute figures are slow; the point is
the shape.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import isolate_ros_session, load_average, machine_info  # noqa: E402

# (question, keyword of a right answer): different per robot, so a crossed answer shows.
QUESTIONS = [('What is the capital of France?', 'paris'),
             ('What do bees make?', 'honey'),
             ('What is the largest ocean on Earth?', 'pacific')]
API_KEY = 'fleet-bench-key'
ROBOT_NODES = ('tts', 'capture', 'wake_word', 'stt', 'brain')


class Robot:
    """One robot's graph and monitor, and its question."""

    def __init__(self, index: int, server, work: Path, key_file: Path, wav: Path, max_tokens: int):
        from heisenberg_bringup.graph import Graph
        from heisenberg_bringup.monitor import GraphMonitor
        from heisenberg_testing.graph_params import TEST_BRAIN
        self.name = f'robot{index + 1}'
        self.question, self.keyword = QUESTIONS[index]
        self.wav = wav
        overrides = {
            'capture': {'source': 'file', 'file_path': str(work / 'quiet.wav')},
            'brain': {**TEST_BRAIN, 'llm.endpoint': server.completion_url, 'llm.api_key_file': str(key_file),
                      'llm.slot_id': index, 'llm.max_tokens': max_tokens, 'llm.max_history_turns': 0},
        }
        self.graph = Graph(ROOT / 'config' / 'assistant.yaml', work / self.name, overrides,
                           nodes=ROBOT_NODES, namespace=self.name, log_level='warn')
        self.monitor = GraphMonitor(namespace=self.name)
        self.graph.start([name for name in self.graph.node_names if name != 'capture'])

    def ready(self) -> bool:
        return self.monitor.wait_ready(timeout=240, poll=self.graph.poll)

    def ask(self) -> float:
        started = time.monotonic()
        self.graph.restart('capture', {'source': 'file', 'file_path': str(self.wav), 'pad_silence': True})
        return started

    def turn_over(self, since: float) -> bool:
        """Back in IDLE after the turn (spoken, failed or nothing heard)."""
        names = self.monitor.state_names(since)
        return bool(names) and names[-1] == 'IDLE' and any(name != 'IDLE' for name in names)

    def result(self, since: float, others: list['Robot']) -> dict:
        metrics = [m for m in self.monitor.of('metrics', since) if m.source == 'voice']
        reply = ''.join(msg.data for msg in self.monitor.of('reply', since)).lower()
        last = metrics[-1] if metrics else None
        return {
            'v2v': last.voice_to_voice if last else math.nan,
            'stt': last.speech_end_to_transcript if last else math.nan,
            'llm': last.transcript_to_first_token if last else math.nan,
            'right': self.keyword in reply,
            'crossed': self.keyword not in reply and any(o.keyword in reply for o in others if o is not self),
        }

    def close(self) -> None:
        self.monitor.close()
        self.graph.stop()


def percentile(values, q):
    values = [v for v in values if not math.isnan(v)]
    return float(np.percentile(values, q)) if values else math.nan


class ServerWatch:
    """How long any slot of the server was busy, and how many tokens it generated meanwhile."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.busy = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _get(self, path: str):
        request = urllib.request.Request(self.base_url + path, headers={'Authorization': f'Bearer {API_KEY}'})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.read().decode()

    def predicted_total(self) -> float:
        for line in self._get('/metrics').splitlines():
            if line.startswith('llamacpp:tokens_predicted_total'):
                return float(line.split()[-1])
        raise RuntimeError('llama-server /metrics has no llamacpp:tokens_predicted_total')

    def _poll(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.05):
            now = time.monotonic()
            if any(slot.get('is_processing') for slot in json.loads(self._get('/slots'))):
                self.busy += now - last
            last = now

    def __enter__(self) -> 'ServerWatch':
        self.tokens_before = self.predicted_total()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.tokens = self.predicted_total() - self.tokens_before


def run_round(robots: list[Robot], server, timeout: float = 240.0) -> tuple[list[dict], float]:
    """The robots ask together; each one's result and the server's tokens/s while busy."""
    since = time.monotonic()
    with ServerWatch(server.base_url) as watch:
        threads = [threading.Thread(target=robot.ask) for robot in robots]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(robot.turn_over(since) for robot in robots):
            for robot in robots:
                robot.graph.poll()
            time.sleep(0.1)
    results = [robot.result(since, robots) for robot in robots]
    return results, watch.tokens / watch.busy if watch.busy > 0 else math.nan


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rounds', type=int, default=3, help='rounds per fleet size')
    parser.add_argument('--max-tokens', type=int, default=48)
    parser.add_argument('--robots', type=int, default=3, choices=(1, 2, 3))
    args = parser.parse_args(argv)
    isolate_ros_session()
    from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
    from heisenberg_testing.speech import Speech, silence, write_wav

    print(f'{machine_info()}; load before: {load_average()}', flush=True)
    work = Path(tempfile.mkdtemp(prefix='bench-fleet-'))
    key_file = work / 'llm.key'
    key_file.write_text(API_KEY + '\n')
    speech = Speech(ROOT / 'models' / 'piper' / 'en_US-joe-medium.onnx')
    write_wav(work / 'quiet.wav', silence(0.5))
    wavs = [write_wav(work / f'q{i}.wav', silence(1.5), speech.say(f'Hey Jarvis. {question}'), silence(2.0))
            for i, (question, _) in enumerate(QUESTIONS)]
    config = LlamaServerConfig(model_path='llm/SmolLM2-135M-Instruct.Q4_1.gguf', port=0, threads=2,
                               parallel_slots=3, api_key_file=str(key_file))
    rows = []
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(LlamaServerProcess(config, log_path=work / 'llama-server.log'))
        fleet: list[Robot] = []
        for size in range(1, args.robots + 1):
            robot = Robot(size - 1, server, work, key_file, wavs[size - 1], args.max_tokens)
            stack.callback(robot.close)
            fleet.append(robot)
            if not robot.ready():
                print(f'{robot.name} not ready; logs in {work / robot.name}', file=sys.stderr)
                return 1
            run_round(fleet, server)   # a warm-up round for the new fleet size, not counted
            results, rates = {robot.name: [] for robot in fleet}, []
            for _ in range(args.rounds):
                round_results, rate = run_round(fleet, server)
                rates.append(rate)
                for robot, result in zip(fleet, round_results):
                    results[robot.name].append(result)
            rows.append((size, results, rates))
            print(f'{size} robot(s) done; load {load_average()}', flush=True)
    print_table(rows, args)
    print(f'load after: {load_average()}; logs in {work}')
    return 0


def print_table(rows, args) -> None:
    print(f'\nvoice-to-voice per robot, ms ({args.rounds} rounds per fleet size, all asking together; '
          f'SmolLM2-135M, -np 3, max_tokens {args.max_tokens})')
    header = (f'{"robots":>6} {"robot":<8}{"v2v p50":>8}{"p90":>7}{"stt p50":>9}{"llm p50":>9}{"right":>7}'
              f'{"crossed":>9}{"server tok/s":>14}')
    print(header)
    print('-' * len(header))
    for size, results, rates in rows:
        for i, (name, turns) in enumerate(results.items()):
            def p50(key):
                return percentile([t[key] * 1000 for t in turns], 50)
            rate = f'{percentile(rates, 50):>14.0f}' if i == 0 else ''
            p90 = percentile([t['v2v'] * 1000 for t in turns], 90)
            print(f'{size:>6} {name:<8}{p50("v2v"):>8.0f}{p90:>7.0f}'
                  f'{p50("stt"):>9.0f}{p50("llm"):>9.0f}{sum(t["right"] for t in turns):>5}/{len(turns)}'
                  f'{sum(t["crossed"] for t in turns):>9}{rate}')
    print('(stt: end of speech -> transcript; llm: transcript -> first token; server tok/s: p50 over rounds '
          'of tokens generated / time any slot was busy)')


if __name__ == '__main__':
    sys.exit(main())
