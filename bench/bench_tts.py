"""TTS: time to first audio chunk, real-time factor, cancel-to-silence, sentence seams.

    python bench/bench_tts.py [--goals 5] [--cancels 3] [--beside-llm]

1. Piper in-process (core Synthesizer, the node's voice and settings): synthesis time and
   real-time factor per sentence length, resampling to 16 kHz included.
2. The tts node as a real process over real DDS:
   - time to first audio: goal sent (from idle) -> first audio/out chunk received, and the
     node's own figure (acceptance -> chunk sent);
   - cancel-to-silence: after ~1 s of a long sentence, cancel sent -> cancel response, ->
     last chunk of that goal received (emission stopped), and -> playback end of the last
     chunk sent (when a downstream speaker that plays what it got falls silent);
   - seam: two queued sentences, gap in playback time between the first's end and the
     second's start (0 = synthesis of the next hid behind playback of the current).
3. With --beside-llm, Piper in-process on short first parts: alone, and beside a llama-server
   decoding without end, started as the llama_server node starts it (its own session, nice 10
   for its threads and its session), and the same server with its session's niceness back at 0
   (threads only, as before the session was niced; needs root to lower it again).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import isolate_ros_session, load_average, machine_info  # noqa: E402

SENTENCES = [
    'Sure.',
    'The capital of France is Paris.',
    'Paris has been the capital of France for more than a thousand years, with a few interruptions.',
]
FIRST_SENTENCES = [
    'Hello, how can I help you today?',
    'The weather looks fine this afternoon.',
    'Ten minutes is a good time for tea.',
    'I have turned on the kitchen lights.',
    'That is a very good question.',
    'Spiders have eight legs.',
]
FIRST_PARTS = [   # first parts as the brain cuts them (~32 characters)
    'The capital of France is Paris.',
    'A spider has 8 legs.',
    'The boiling point of water is',
    'The largest ocean on earth is the',
    'The opposite of hot is cold.',
    'The planet we live on is called',
]
LONG = ('This reply is deliberately long so that it can be interrupted in the middle, exactly as a '
        'person would barge in while the robot is still talking about something.')


def ms(values):
    return (f'{statistics.median(values) * 1000:7.0f} {max(values) * 1000:7.0f}' if values
            else '      -       -')


def seconds_of(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def bench_synthesis(models: Path, rounds: int = 3) -> list[tuple[str, float, float, float, float]]:
    """Per sentence: audio s, first piece s (clause split on), whole synthesis s, RTF (medians)."""
    from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig
    synthesizer = Synthesizer(VoiceConfig(), 16000, base_dir=models)
    rows = []
    for text in SENTENCES:
        firsts, totals, audio = [], [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            parts = []
            for part in synthesizer.sentences(text):
                if not parts:
                    firsts.append(time.perf_counter() - started)
                parts.append(part)
            totals.append(time.perf_counter() - started)
            audio = sum(len(p) for p in parts) / 16000
        total = statistics.median(totals)
        rows.append((f'{len(text)} chars', audio, statistics.median(firsts), total, total / audio))
    return rows


def bench_beside_llm(models: Path, rounds: int = 5) -> list[tuple[str, list[float], float]]:
    """Per setting: first-part synthesis seconds and the server's own tokens/s while they ran."""
    from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceConfig
    from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
    synthesizer = Synthesizer(VoiceConfig(), 16000, base_dir=models)

    def synthesize_all() -> list[float]:
        times = []
        for _ in range(rounds):
            for text in FIRST_PARTS:
                started = time.perf_counter()
                for _ in synthesizer.sentences(text):
                    pass
                times.append(time.perf_counter() - started)
                time.sleep(0.05)
        return times

    rows = [('alone', synthesize_all(), float('nan'))]
    config = LlamaServerConfig(model_path=str(models / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'), port=0,
                               threads=2, context_size=2048)
    with tempfile.TemporaryDirectory(prefix='bench-tts-llm-') as tmp, \
            LlamaServerProcess(config, log_path=Path(tmp) / 'llama-server.log') as server:
        body = json.dumps({'prompt': 'Tell me a long story about a robot.', 'n_predict': 64,
                           'temperature': 0, 'cache_prompt': False, 'ignore_eos': True}).encode()
        stop, speeds = threading.Event(), []

        def decode() -> None:
            while not stop.is_set():
                request = urllib.request.Request(server.base_url + '/completion', body,
                                                 {'Content-Type': 'application/json'})
                with urllib.request.urlopen(request, timeout=60) as response:
                    speeds.append(json.load(response)['timings']['predicted_per_second'])

        decoder = threading.Thread(target=decode, daemon=True)
        decoder.start()
        time.sleep(1.0)
        autogroup = Path(f'/proc/{server.pid}/autogroup')
        settings = [('beside llama-server as the node starts it', None)]
        if autogroup.is_file():
            settings.append(('the same, its session at niceness 0 (threads at 10)', '0'))
        for label, session_nice in settings:
            if session_nice is not None:
                try:
                    autogroup.write_text(session_nice)
                except OSError as exc:
                    print(f'  ({label}: skipped, {exc.strerror}: lowering a niceness needs root)')
                    continue
            speeds.clear()
            times = synthesize_all()
            rows.append((label, times, statistics.median(speeds) if speeds else float('nan')))
        stop.set()
        decoder.join(timeout=60)
    return rows


class NodeBench:
    def __init__(self, log_dir: Path):
        from heisenberg_testing.processes import NodeProcess, write_params
        from heisenberg_testing.ros_client import RosClient
        params = write_params(log_dir / 'tts.yaml', 'tts', {})
        self.process = NodeProcess('heisenberg_audio.nodes.tts', 'tts', params_files=(params,),
                                   log_dir=log_dir)
        self.client = RosClient('bench_tts_client')
        self._subscribe()

    def _subscribe(self):
        from audio_common_msgs.msg import AudioDataStamped
        from heisenberg_interfaces.action import Speak
        from heisenberg_interfaces.msg import SpeechActivity
        from heisenberg_common.actions import ActionClient

        from heisenberg_common.qos import AUDIO_OUT, EVENTS
        self.Speak = Speak
        node = self.client.node
        self.audio, self.activity = [], []
        node.create_subscription(AudioDataStamped, 'audio/out', lambda m: self.audio.append((time.time(), m)),
                                 AUDIO_OUT)
        node.create_subscription(SpeechActivity, 'speech_activity',
                                 lambda m: self.activity.append((time.time(), m)), EVENTS)
        self.action = ActionClient(node, Speak, 'speak')
        if not self.action.wait_for_server(timeout_sec=60):
            raise RuntimeError(f'tts never came up:\n{self.process.output()}')
        time.sleep(1.0)  # let the audio subscriptions match before the first goal

    def wait(self, future, timeout=30.0):
        if not self.client.wait_for(future.done, timeout):
            raise RuntimeError('timed out waiting for the tts node')
        return future.result()

    def send(self, text, utterance_id):
        return self.wait(self.action.send_goal_async(self.Speak.Goal(text=text, utterance_id=utterance_id)))

    def chunks_of(self, utterance_id):
        starts = {(m.audio_start.sec, m.audio_start.nanosec) for _, m in list(self.activity)
                  if m.utterance_id == utterance_id and m.speaking}
        return [(t, m) for t, m in list(self.audio) if (m.header.stamp.sec, m.header.stamp.nanosec) in starts]

    def idle(self, utterance_id, timeout=30.0):
        self.client.wait_for(lambda: any(m.utterance_id == utterance_id and not m.speaking
                                         for _, m in list(self.activity)), timeout)
        time.sleep(0.3)

    def first_audio(self, goals: int) -> tuple[list[float], list[float]]:
        received, reported = [], []
        for index in range(goals):
            uid = f'ttfa-{index}'
            text = FIRST_SENTENCES[index % len(FIRST_SENTENCES)]
            sent = time.time()
            handle = self.send(text, uid)
            result = self.wait(handle.get_result_async()).result
            self.client.wait_for(lambda: self.chunks_of(uid), 5)
            received.append(self.chunks_of(uid)[0][0] - sent)
            reported.append(result.time_to_first_audio)
            self.idle(uid)
        return received, reported

    def cancel_to_silence(self, cancels: int) -> dict[str, list[float]]:
        out = {'response': [], 'last_chunk': [], 'audible_end': []}
        for index in range(cancels):
            uid = f'cancel-{index}'
            handle = self.send(LONG, uid)
            self.client.wait_for(lambda: sum(len(m.audio.data) for _, m in self.chunks_of(uid)) >= 32000, 30)
            sent = time.time()
            response = self.wait(handle.cancel_goal_async())
            answered = time.time()
            assert response.goals_canceling, 'cancel was rejected'
            self.wait(handle.get_result_async())
            self.idle(uid)
            chunks = self.chunks_of(uid)
            last_time, last = chunks[-1]
            end = seconds_of(last.header.stamp) + len(last.audio.data) / 2 / 16000
            out['response'].append(answered - sent)
            out['last_chunk'].append(max(0.0, last_time - sent))
            out['audible_end'].append(max(0.0, end - sent))
        return out

    def seams(self, pairs: int = 2) -> list[float]:
        gaps = []
        for index in range(pairs):
            uids = (f'seam-{index}-a', f'seam-{index}-b')
            handles = [self.send(text, uid) for text, uid in zip(SENTENCES[1:], uids)]
            for handle in handles:
                self.wait(handle.get_result_async())
            self.idle(uids[1])
            first, second = self.chunks_of(uids[0]), self.chunks_of(uids[1])
            end = seconds_of(first[-1][1].header.stamp) + len(first[-1][1].audio.data) / 32000
            gaps.append(seconds_of(second[0][1].header.stamp) - end)
        return gaps

    def close(self):
        self.client.close()
        self.process.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--goals', type=int, default=5, help='time-to-first-audio goals')
    parser.add_argument('--cancels', type=int, default=3, help='cancel-to-silence trials')
    parser.add_argument('--beside-llm', action='store_true',
                        help='also Piper beside a decoding llama-server, its session niced and not')
    args = parser.parse_args()
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    isolate_ros_session()

    print('Piper joe-medium in-process (16 kHz out, median of 3)')
    print(f'{"sentence":<12} {"audio s":>8} {"first s":>8} {"synth s":>8} {"RTF":>6}')
    for label, audio, first, synth, rtf in bench_synthesis(models):
        print(f'{label:<12} {audio:8.2f} {first:8.3f} {synth:8.3f} {rtf:6.3f}')

    with tempfile.TemporaryDirectory(prefix='bench-tts-') as tmp:
        bench = NodeBench(Path(tmp))
        try:
            received, reported = bench.first_audio(args.goals)
            cancel = bench.cancel_to_silence(args.cancels)
            gaps = bench.seams()
        finally:
            bench.close()
    print()
    print(f'tts node over DDS                                          {"p50 ms":>7} {"max ms":>7}    n')
    rows = [
        ('time to first audio: goal sent -> first chunk received', received),
        ("time to first audio: node's own (accepted -> sent)", reported),
        ('cancel sent -> cancel response received', cancel['response']),
        ("cancel sent -> last chunk of that goal received", cancel['last_chunk']),
        ('cancel sent -> playback end of last chunk sent (audible)', cancel['audible_end']),
        ('seam between two queued sentences (playback gap)', gaps),
    ]
    for label, values in rows:
        print(f'{label:<58} {ms(values)} {len(values):4d}')
    if args.beside_llm:
        print(f'\nPiper on first parts (~32 characters), p50 / p90 ms; {machine_info()}, '
              f'load {load_average()}')
        for label, times, speed in bench_beside_llm(models):
            p50, p90 = (float(np.percentile(times, q)) * 1000 for q in (50, 90))
            tokens = f'{speed:5.0f} tok/s' if speed == speed else ''
            print(f'{label:<58} {p50:5.0f} / {p90:4.0f}  {tokens}')
    return 0


if __name__ == '__main__':
    np.set_printoptions(precision=3)
    sys.exit(main())
