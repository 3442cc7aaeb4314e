"""WakeWordDetector on real Piper speech with the real openWakeWord models; trigger logic as tables."""

from __future__ import annotations

import numpy as np
import pytest
from heisenberg_testing.speech import silence

from heisenberg_audio.core.wake_word import (FRAME_SAMPLES, TriggerGate, WakeWordConfig, WakeWordDetector,
                                             keyword_of, resolve_model_path)

MESSAGE = 320  # capture's 20 ms frames: the detector re-chunks them into its 80 ms frames
START_NS = 1_700_000_000 * 10**9


def run(detector: WakeWordDetector, audio: np.ndarray, start_ns: int = START_NS):
    detections = []
    for offset in range(0, len(audio), MESSAGE):
        detections += detector.process(audio[offset:offset + MESSAGE], start_ns + offset * 62500)
    return detections


@pytest.fixture(scope='module')
def detector(models_dir):
    return WakeWordDetector(WakeWordConfig(models_dir=str(models_dir)))


@pytest.mark.models
def test_hey_jarvis_fires_once(detector, speech):
    phrase = speech.say('Hey Jarvis.')
    audio = np.concatenate([silence(1.0), phrase, silence(2.0)])
    detections = run(detector, audio)
    assert len(detections) == 1, detections
    hit = detections[0]
    assert hit.keyword == 'hey_jarvis' and hit.threshold == 0.5 and hit.score > 0.5
    # stamped at the end of an 80 ms frame, after the phrase began and within 1 s of its end
    offset_samples = (hit.stamp_ns - START_NS) // 62500
    assert offset_samples % FRAME_SAMPLES == 0
    assert 16000 < offset_samples <= 16000 + len(phrase) + 16000
    assert detector.detections >= 1 and detector.frames_processed >= len(audio) // FRAME_SAMPLES


@pytest.mark.models
def test_phrase_said_twice_fires_twice_when_apart(detector, speech):
    phrase = speech.say('Hey Jarvis.')
    audio = np.concatenate([silence(0.5), phrase, silence(2.5), phrase, silence(1.0)])
    assert [d.keyword for d in run(detector, audio)] == ['hey_jarvis', 'hey_jarvis']


@pytest.mark.models
@pytest.mark.parametrize('text', ['What is the weather like today?', 'Turn on the lights please.'])
def test_other_speech_never_fires(detector, speech, text):
    detector.reset()
    audio = np.concatenate([silence(0.5), speech.say(text), silence(1.0)])
    assert run(detector, audio) == []
    assert max(detector.last_scores.values()) < 0.5


@pytest.mark.models
def test_reset_returns_to_the_same_fresh_state(detector, speech):
    """After reset() the model scores the same audio exactly as it did after the previous reset."""
    phrase = np.concatenate([silence(0.3), speech.say('Hey Jarvis.'), silence(0.3)])

    def scores_of(audio):
        scores = []
        for offset in range(0, len(audio) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            detector._model.predict(audio[offset:offset + FRAME_SAMPLES])  # bypass the gate: raw scores
            scores.append(detector._model.prediction_buffer['hey_jarvis_v0.1'][-1])
        return scores

    detector.reset()
    first = scores_of(phrase)
    scores_of(speech.say('Turn on the lights please.'))
    detector.reset()
    assert scores_of(phrase) == first and max(first) > 0.5


@pytest.mark.models
def test_missing_model_file_is_named(tmp_path):
    config = WakeWordConfig(models_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'openwakeword' / 'hey_jarvis_v0.1.onnx')):
        WakeWordDetector(config)


# ----------------------------------------------------------------------------- trigger logic

@pytest.mark.parametrize('patience, refractory, scores, fired_at', [
    # one 80 ms frame per score; fired_at = indices of the frames that fire
    (1, 0.0, [0.1, 0.6, 0.2], [1]),
    (1, 0.0, [0.5], [0]),                                  # at threshold counts
    (1, 0.0, [0.49, 0.2], []),
    (1, 0.0, [0.9, 0.9, 0.9], [0, 1, 2]),                  # no refractory: every frame
    (1, 0.2, [0.9, 0.9, 0.9, 0.9], [0, 3]),                # 0.2 s quiet = frames 1 and 2
    (1, 2.0, [0.9] + [0.0] * 23 + [0.9, 0.9, 0.9], [0, 25]),   # quiet until 2.0 s (frame 25)
    (2, 0.0, [0.9, 0.1, 0.9, 0.9], [3]),                   # patience needs consecutive frames
    (3, 0.0, [0.9, 0.9, 0.9, 0.9, 0.9, 0.9], [2, 5]),
    (3, 0.0, [0.9, 0.9, 0.2, 0.9, 0.9], []),
    (2, 1.0, [0.9] * 4 + [0.0] * 8 + [0.9] * 4, [1, 15]),   # frames inside refractory (to 1.08 s) void a run
])
def test_trigger_gate(patience, refractory, scores, fired_at):
    gate = TriggerGate(threshold=0.5, patience=patience, refractory=refractory)
    fired = [i for i, score in enumerate(scores) if gate.update(score, i * 0.08)]
    assert fired == fired_at


def test_trigger_gate_reset_forgets_refractory():
    gate = TriggerGate(0.5, refractory=10.0)
    assert gate.update(0.9, 0.0) and not gate.update(0.9, 1.0)
    gate.reset()
    assert gate.update(0.9, 1.08)


def test_trigger_gate_time_going_back_is_a_new_stream():
    gate = TriggerGate(0.5, refractory=10.0)
    assert gate.update(0.9, 100.0) and not gate.update(0.9, 101.0)
    assert gate.update(0.9, 5.0)


@pytest.mark.parametrize('name, keyword', [
    ('hey_jarvis_v0.1', 'hey_jarvis'), ('alexa_v0.1', 'alexa'), ('hey_robot', 'hey_robot'),
    ('ok_nabu_v2', 'ok_nabu'), ('timer_v0.1.2', 'timer')])
def test_keyword_of(name, keyword):
    assert keyword_of(name) == keyword


def test_model_paths_resolve_under_models_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('HEISENBERG_MODELS', '/srv/models')
    assert resolve_model_path('oww/a.onnx') == resolve_model_path('oww/a.onnx', '/srv/models')
    assert str(resolve_model_path('oww/a.onnx')) == '/srv/models/oww/a.onnx'
    assert str(resolve_model_path('oww/a.onnx', str(tmp_path))) == f'{tmp_path}/oww/a.onnx'
    assert str(resolve_model_path('/abs/a.onnx', str(tmp_path))) == '/abs/a.onnx'
    monkeypatch.delenv('HEISENBERG_MODELS')
    assert str(resolve_model_path('oww/a.onnx')) == 'models/oww/a.onnx'


@pytest.mark.parametrize('fields, message', [
    ({'model_paths': ()}, 'model_paths'),
    ({'threshold': 0.0}, 'threshold'),
    ({'threshold': 1.0}, 'threshold'),
    ({'patience': 0}, 'patience'),
    ({'refractory': -0.1}, 'refractory'),
    ({'diagnostics_period': 0.0}, 'diagnostics_period'),
])
def test_wake_word_config_rejects(fields, message):
    with pytest.raises(ValueError, match=message):
        WakeWordConfig(**fields)
