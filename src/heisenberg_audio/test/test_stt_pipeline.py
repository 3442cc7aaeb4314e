"""capture (from a WAV file) -> wake_word -> stt, all three real processes over real DDS.

The issue's own scenario: "Hey Jarvis. What is the capital of France?" spoken by the
Piper voice, played by capture at real-time pace, wakes openWakeWord, and stt turns the
question said in the same breath into a final transcript without the wake phrase.
"""

from __future__ import annotations

from heisenberg_interfaces.msg import Transcript, WakeWordDetection
import pytest
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient
from heisenberg_testing.speech import silence, write_wav

from heisenberg_common.qos import EVENTS

pytestmark = pytest.mark.models


def start(tmp_path, started, module, name, **params) -> NodeProcess:
    params_file = write_params(tmp_path / f'{name}.yaml', name, params)
    process = NodeProcess(module, name, params_files=(params_file,), log_dir=tmp_path)
    started.append(process)
    return process


def test_question_from_a_file_through_capture_wake_word_and_stt(tmp_path, speech, models_dir):
    wav = write_wav(tmp_path / 'question.wav', silence(0.5),
                    speech.say('Hey Jarvis. What is the capital of France?'), silence(1.0))
    started = []
    with RosClient('stt_pipeline_probe') as client:
        transcripts, wakes = [], []
        client.node.create_subscription(Transcript, 'transcript', transcripts.append, EVENTS)
        client.node.create_subscription(WakeWordDetection, 'wake_word', wakes.append, EVENTS)
        try:
            stt = start(tmp_path, started, 'heisenberg_audio.nodes.stt', 'stt',
                        model_dir=str(models_dir / 'whisper-tiny.en'))
            start(tmp_path, started, 'heisenberg_audio.nodes.wake_word', 'wake_word')
            assert client.wait_for(lambda: client.node.count_subscribers('audio/in') >= 2
                                   and client.node.count_publishers('transcript') >= 1, 90), stt.output()
            # capture holds its first frame until both listeners are matched, then plays the
            # file in real time and keeps the "room" going with silence.
            start(tmp_path, started, 'heisenberg_audio.nodes.capture', 'capture', source='file',
                  file_path=str(wav), realtime=True, pad_silence=True, wait_for_subscribers=2)
            assert client.wait_for(lambda: transcripts, 30), stt.output()
        finally:
            for process in started:
                process.stop()
    assert len(wakes) == 1
    (msg,) = transcripts
    assert msg.is_final and not msg.nothing_heard, msg
    text = msg.text.lower()
    assert 'capital' in text and 'france' in text and 'jarvis' not in text, msg.text
