"""End of speech -> final transcript: whisper tiny.en vs base, speculation (and when) vs off.

    python bench/bench_stt.py [--questions 5] [--models whisper-tiny.en,whisper-base]
                              [--speculative-after 0.2,0.1]

One stt node per configuration runs as a real process (each in its own namespace); the
bench plays capture and wake_word over real DDS: "Hey Jarvis. <question>" spoken by the
Piper voice, 20 ms frames at real-time pace stamped with their capture time, the wake
word message 0.2 s after the phrase (stamped where openWakeWord fires), then silence
until the transcript arrives. Questions go round the configurations in turn, so all see
the same machine load.

Latency = transcript received - true end of speech (last loud sample of the question),
the figure the voice-to-voice headline starts from; its split: the node's endpoint delay
(trailing silence it waited for) and whisper's own time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from benchlib import isolate_ros_session  # noqa: E402

QUESTIONS = [
    ('What is the capital of France?', ('capital', 'france')),
    ('How many legs does a spider have?', ('legs', 'spider')),
    ('Turn on the kitchen lights.', ('kitchen', 'lights')),
    ('Who wrote Romeo and Juliet?', ('romeo', 'juliet')),
    ('What is the weather like tomorrow?', ('weather', 'tomorrow')),
    ('Set a timer for ten minutes.', ('timer', 'minutes')),
]
FRAME = 320
LOUD = 300  # int16 amplitude above which a sample counts as speech (true end of speech)


def percentile(values, q):
    return float(np.percentile(values, q)) * 1000 if values else float('nan')


class Configuration:
    """One stt node process and the topics to talk to it."""

    def __init__(self, index, model, speculative_after, models, log_dir, client):
        """speculative_after: seconds into the trailing silence, or None for no speculation."""
        from heisenberg_testing.processes import NodeProcess, write_params
        self.model = model.replace('whisper-', '')
        self.speculative_after = speculative_after
        spec = 'off' if speculative_after is None else f'{speculative_after:g} s'
        self.label = f'{self.model} spec {spec}'
        self.namespace = f'bench_stt_{index}'
        speculation = ({'speculative': False} if speculative_after is None
                       else {'speculative': True, 'speculative_after': speculative_after})
        params = write_params(log_dir / f'{self.namespace}.yaml', 'stt', {
            'model_dir': str(models / model), **speculation}, namespace=self.namespace)
        self.process = NodeProcess('heisenberg_audio.nodes.stt', 'stt', namespace=self.namespace,
                                   params_files=(params,), log_dir=log_dir / self.namespace)
        self._make_topics(client)
        self.samples = []  # (latency, endpoint_delay, transcribe_time, correct)

    def _make_topics(self, client):
        from audio_common_msgs.msg import AudioDataStamped, AudioInfo
        from heisenberg_interfaces.msg import Transcript, WakeWordDetection

        from heisenberg_audio.nodes.audio_messages import info_message
        from heisenberg_common.qos import AUDIO_IN, EVENTS, LATCHED
        node = client.node
        self.audio = node.create_publisher(AudioDataStamped, f'/{self.namespace}/audio/in', AUDIO_IN)
        self.wake = node.create_publisher(WakeWordDetection, f'/{self.namespace}/wake_word', EVENTS)
        self.info = node.create_publisher(AudioInfo, f'/{self.namespace}/audio/info', LATCHED)
        self.info.publish(info_message())
        self.received = []
        node.create_subscription(Transcript, f'/{self.namespace}/transcript',
                                 lambda m: self.received.append((time.time(), m)), EVENTS)
        self._node = node

    def ready(self) -> bool:
        return (self.audio.get_subscription_count() > 0 and self.wake.get_subscription_count() > 0
                and self._node.count_publishers(f'/{self.namespace}/transcript') > 0)

    def ask(self, audio, wake_at, speech_end, keywords, timeout=8.0):
        """Play one question in real time; keep the 'mic' open with silence until answered."""
        from heisenberg_interfaces.msg import WakeWordDetection
        from rclpy.time import Time

        from heisenberg_audio.nodes.audio_messages import audio_message
        self.received.clear()
        t0, clock0 = time.time(), time.monotonic()
        woke = False
        silence = np.zeros(FRAME, np.int16)
        for index in range(int((len(audio) / 16000 + timeout) / 0.02)):
            start = index * FRAME
            if start >= len(audio) and self.received:
                break
            delay = clock0 + (start + FRAME) / 16000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            chunk = audio[start:start + FRAME] if start < len(audio) else silence
            stamp = Time(nanoseconds=int((t0 + start / 16000) * 1e9)).to_msg()
            self.audio.publish(audio_message(chunk, stamp))
            if not woke and (start + FRAME) / 16000 >= wake_at + 0.2:
                msg = WakeWordDetection(keyword='hey_jarvis', score=0.99, threshold=0.5)
                msg.header.stamp = Time(nanoseconds=int((t0 + wake_at) * 1e9)).to_msg()
                self.wake.publish(msg)
                woke = True
        if not self.received:
            print(f'  {self.label}: no transcript', file=sys.stderr)
            return
        arrived, msg = self.received[0]
        correct = not msg.nothing_heard and all(k in msg.text.lower() for k in keywords)
        self.samples.append((arrived - (t0 + speech_end), msg.endpoint_delay, msg.transcribe_time, correct))
        print(f'  {self.label:18s} {arrived - (t0 + speech_end):6.3f} s  "{msg.text}"', file=sys.stderr)


def prepare(speech, question):
    phrase, asked = speech.say('Hey Jarvis.'), speech.say(question)
    lead = np.zeros(4800, np.int16)
    audio = np.concatenate([lead, phrase, asked])
    wake_at = (len(lead) + len(phrase)) / 16000 + 0.05
    loud = np.nonzero(np.abs(asked.astype(np.int32)) > LOUD)[0]
    speech_end = (len(lead) + len(phrase) + loud[-1] + 1) / 16000
    return audio, wake_at, speech_end


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--questions', type=int, default=5)
    parser.add_argument('--models', default='whisper-tiny.en,whisper-base')
    parser.add_argument('--speculative-after', default='0.2',
                        help='comma-separated seconds into the trailing silence, each compared with none')
    args = parser.parse_args()
    spec_values = [float(v) for v in args.speculative_after.split(',') if v] + [None]
    isolate_ros_session()
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))

    from heisenberg_testing.ros_client import RosClient
    from heisenberg_testing.speech import Speech
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    questions = [(prepare(speech, q), keys) for q, keys in QUESTIONS[:args.questions]]
    log_dir = Path(tempfile.mkdtemp(prefix='bench_stt_'))
    client = RosClient('bench_stt')
    configs = []
    try:
        for model in args.models.split(','):
            for speculative_after in spec_values:
                (log_dir / f'bench_stt_{len(configs)}').mkdir()
                configs.append(Configuration(len(configs), model, speculative_after, models, log_dir, client))
        if not RosClient.wait_for(lambda: all(c.ready() for c in configs), 120):
            print('stt nodes did not come up; logs in', log_dir, file=sys.stderr)
            return 1
        time.sleep(1.0)
        for (audio, wake_at, speech_end), keywords in questions:
            for config in configs:
                config.ask(audio, wake_at, speech_end, keywords)
        report(configs, len(questions))
    finally:
        for config in configs:
            config.process.stop()
        client.close()
    return 0


def report(configs, count):
    print(f'\nstt: end of speech -> final transcript over DDS, {count} Piper questions, '
          f'{os.cpu_count()} cores, load avg {os.getloadavg()[0]:.1f}')
    header = (f"{'config':20s} {'n':>2s} {'ok':>3s} {'p50 ms':>7s} {'p90 ms':>7s} "
              f"{'endpoint p50':>12s} {'whisper p50':>11s}")
    print(header)
    print('-' * len(header))
    p50 = {}
    for config in configs:
        latency = [s[0] for s in config.samples]
        p50[config.model, config.speculative_after] = percentile(latency, 50)
        print(f'{config.label:20s} {len(latency):2d} {sum(s[3] for s in config.samples):3d} '
              f'{percentile(latency, 50):7.0f} {percentile(latency, 90):7.0f} '
              f'{percentile([s[1] for s in config.samples], 50):12.0f} '
              f'{percentile([s[2] for s in config.samples], 50):11.0f}')
    for (model, after), value in p50.items():
        if after is not None and (model, None) in p50:
            print(f'{model}: speculation after {after:g} s / off, p50 ratio {value / p50[model, None]:.2f}')


if __name__ == '__main__':
    sys.exit(main())
