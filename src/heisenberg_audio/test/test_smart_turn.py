"""The smart-turn model on Piper speech: done after a question, not done after a hesitation."""

from __future__ import annotations

import numpy as np
import pytest

from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.stt.turn import SmartTurn
from heisenberg_testing.speech import silence

pytestmark = pytest.mark.models
THRESHOLD = SttConfig().smart_turn_threshold


@pytest.fixture(scope='module')
def smart_turn(models_dir):
    model = SmartTurn(models_dir / 'smart-turn' / 'smart-turn-v3.2-cpu.onnx')
    model.warm_up()
    return model


@pytest.mark.parametrize('text', ['What is the capital of France?', 'How many legs does a spider have?',
                                  'Set a timer for five minutes.', 'Why is the sky blue?'])
def test_a_whole_question_is_done(text, smart_turn, speech):
    audio = np.concatenate([silence(0.2), speech.say(text), silence(0.2)])
    assert smart_turn.probability(audio) >= THRESHOLD + 0.3


@pytest.mark.parametrize('text', ['What is, um,', 'What is the capital of, um,', 'Can you tell me, uh,'])
def test_a_hesitation_is_not_done(text, smart_turn, speech):
    audio = np.concatenate([silence(0.2), speech.say(text), silence(0.2)])
    assert smart_turn.probability(audio) < THRESHOLD - 0.3


def test_only_the_last_eight_seconds_count(smart_turn, speech):
    hesitation = np.concatenate([silence(0.2), speech.say('What is, um,'), silence(0.2)])
    long_before = np.concatenate([speech.say('How many legs does a spider have?'), silence(8.0), hesitation])
    assert smart_turn.probability(long_before) == pytest.approx(smart_turn.probability(hesitation), abs=1e-4)


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='smart-turn model not found'):
        SmartTurn(tmp_path / 'nope.onnx')
