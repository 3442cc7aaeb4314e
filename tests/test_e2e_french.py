"""French end to end over the whole graph: real audio, models, llama-server, DDS.

The graph starts with language 'fr': "Hey Jarvis." said in English by Piper (the wake phrase
stays English), then « Quelle est la capitale de la France ? » said by espeak-ng's French voice,
through the capture node's file source. Then stt and the brain restart in 'auto' and the same
graph is asked the question in English. Each reply's recording is transcribed again by Whisper
base: in French for the French reply (espeak-ng's French is not detected as French by whisper-base:
it hears Spanish), detecting the language for the English one.
"""

from __future__ import annotations

import difflib
import re
import time
import wave

import numpy as np
import pytest

from heisenberg_brain.core.llama_server import free_port
from heisenberg_brain.core.loops import find_loop
from heisenberg_bringup.graph import Graph
from heisenberg_bringup.monitor import GraphMonitor
from heisenberg_testing.graph_params import graph_overrides
from heisenberg_testing.speech import silence, write_wav

pytestmark = [pytest.mark.llm, pytest.mark.models]
ROOT_CONFIG = 'config/assistant.yaml'
FRENCH_WORDS = {'le', 'la', 'les', 'est', 'de', 'du', 'des', 'un', 'une', 'et', 'je', 'il', 'elle'}
ENGLISH_WORDS = {'the', 'is', 'of', 'a', 'an', 'and', 'it', 'to', 'i', 'you', 'capital'}


def language_of(text: str) -> str:
    """'fr' or 'en' by their commonest words ('' when neither shows)."""
    words = re.findall(r'[a-zà-ÿ]+', text.lower().replace("'", ' '))
    french, english = sum(w in FRENCH_WORDS for w in words), sum(w in ENGLISH_WORDS for w in words)
    return 'fr' if french > english else 'en' if english > french else ''


class Turn:
    """What one spoken turn produced: the final transcript, the reply, what Whisper hears in its audio."""

    def __init__(self, transcript, reply: str, spoken: str, spoken_language: str, states: list[str]):
        self.transcript, self.reply, self.spoken = transcript, reply, spoken
        self.spoken_language, self.states = spoken_language, states


@pytest.fixture(scope='module')
def turns(tmp_path_factory, speech, models_dir):
    """The French turn with language 'fr', then the English one after a restart in 'auto'."""
    from faster_whisper import WhisperModel
    judge = WhisperModel(str(models_dir / 'whisper-base'), device='cpu', compute_type='int8')
    tmp = tmp_path_factory.mktemp('e2e_french')
    record_dir = tmp / 'replies'
    port = free_port()
    quiet = write_wav(tmp / 'quiet.wav', silence(0.5))
    overrides = graph_overrides(port, {'source': 'file', 'file_path': str(quiet)},
                                tts={'record_dir': str(record_dir)}, llama_server={'threads': 2},
                                brain={'language': 'fr'})
    overrides['stt'] = {'language': 'fr'}
    graph = Graph(ROOT_CONFIG, tmp / 'logs', overrides)
    monitor = GraphMonitor()
    played = {}
    try:
        graph.start([name for name in graph.node_names if name != 'capture'])
        assert monitor.wait_ready(timeout=180, poll=graph.poll), f'graph not ready; logs in {tmp / "logs"}'
        clips = {'fr': speech.say_french('Quelle est la capitale de la France ?'),
                 'en': speech.say('What is the capital of France?')}
        for language, question in clips.items():
            if language == 'en':
                restarted = time.monotonic()
                for name in ('stt', 'brain'):
                    graph.restart(name, {'language': 'auto'})

                def back():
                    stt = any(status.name.startswith('/heisenberg/stt')
                              for array in monitor.of('diagnostics', restarted) for status in array.status)
                    return stt and any(s.cause == 'STARTUP' for s in monitor.of('state', restarted))
                assert monitor.wait_for(back, 120, poll=graph.poll), 'stt and brain not back in auto'
            # A pause after the wake phrase: told French, whisper wrote only 'Hey Jarvis!' for
            # "Hey Jarvis." and the French question in one utterance (0.5 s apart).
            path = write_wav(tmp / f'{language}.wav', silence(1.5), speech.say('Hey Jarvis.'), silence(1.5),
                             question, silence(2.0))
            start = time.monotonic()
            graph.restart('capture', {'source': 'file', 'file_path': str(path), 'pad_silence': True})

            def over():
                return any(s.state_name == 'IDLE' and s.cause in ('SPEECH_FINISHED', 'LLM_COMPLETE')
                           for s in monitor.of('state', start))
            assert monitor.wait_for(over, 150, poll=graph.poll), monitor.state_names(start)
            transcript = [t for t in monitor.of('transcript', start) if t.is_final][-1]
            reply = ''.join(msg.data for msg in monitor.of('reply', start))
            recording = sorted(record_dir.glob('*.wav'), key=lambda p: p.stat().st_mtime)[-1]
            with wave.open(str(recording)) as wav:
                audio = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
            segments, info = judge.transcribe(audio.astype(np.float32) / 32768, beam_size=5,
                                              language='fr' if language == 'fr' else None)
            played[language] = Turn(transcript, reply, ' '.join(s.text for s in segments), info.language,
                                    monitor.state_names(start))
        yield played
    finally:
        monitor.close()
        graph.stop()


def similarity(heard: str, said: str) -> float:
    """0..1: how alike two sentences are, letters and spaces only, case and accents kept."""
    def norm(text: str) -> str:
        return ' '.join(re.sub(r"[^a-zà-ÿ ]", ' ', text.lower()).split())
    return difflib.SequenceMatcher(None, norm(heard), norm(said)).ratio()


def test_a_french_question_is_heard_in_french_and_answered_aloud_in_french(turns):
    turn = turns['fr']
    print(vars(turn))
    assert (turn.transcript.language, turn.transcript.language_probability) == ('fr', 1.0)
    # espeak-ng's « France » is often heard as « force »: the question's other words must be there.
    assert re.search(r'quelle est la capitale de la \w+', turn.transcript.text.lower()), turn.transcript.text
    assert turn.states[-1] == 'IDLE' and 'SPEAKING' in turn.states
    assert language_of(turn.reply) == 'fr', turn.reply
    # What was said is the reply up to a loop, if it looped (the reply topic streams every token;
    # SmolLM2 said « La capitale de la force est la capitale de la force. » twice), in French:
    # Whisper, told it is French, writes it down again.
    said = turn.reply[:loop.cut] if (loop := find_loop(turn.reply)) else turn.reply
    assert language_of(turn.spoken) == 'fr' and similarity(turn.spoken, said) >= 0.6, (turn.spoken, said)


@pytest.mark.xfail(strict=True, reason='SmolLM2-135M, the default model, answers « La capitale de la France '
                   'est la France. » (0 of 22 French questions in bench_answers.py; no licensed model '
                   'on the registries answers better: bench/README.md)')
def test_the_french_answer_is_right(turns):
    assert 'paris' in turns['fr'].reply.lower(), turns['fr'].reply


def test_the_same_graph_in_auto_answers_an_english_question_in_english_right_after(turns):
    turn = turns['en']
    print(vars(turn))
    assert turn.transcript.language == 'en' and turn.transcript.language_probability > 0.5
    assert language_of(turn.reply) == 'en' and 'paris' in turn.reply.lower(), turn.reply
    assert turn.spoken_language == 'en' and 'paris' in turn.spoken.lower(), turn.spoken
