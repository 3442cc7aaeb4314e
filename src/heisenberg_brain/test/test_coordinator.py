"""The reply lifecycle as case tables, without ROS (core/coordinator.py).

The coordinator's effects are recorded (as a SpeechSink records the tts pipeline's), and the
reply's words come from a scripted source whose tokens the test releases, so preemption,
cancels, errors and flushes happen at exact moments. A stand-in for the LLM on purpose: the
real llama-server path is covered over DDS by test_brain_node, test_faults and the storm.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

from heisenberg_brain.core.config import BrainConfig
from heisenberg_brain.core.coordinator import ReplyCoordinator
from heisenberg_brain.core.llm_client import Token
from heisenberg_brain.core.llm_errors import LLMConnectionError
from heisenberg_brain.core.replier import ReplyRequest

WAIT = 5.0


class ScriptedSource:
    """Tokens of one reply; with hold set, the reply waits for release() before its last token."""

    def __init__(self, tokens=('Paris', ' is', ' the', ' capital.'), error: Exception | None = None,
                 hold: bool = False):
        self.tokens = tokens
        self.error = error
        self.released = threading.Event()
        if not hold:
            self.released.set()
        self.started = threading.Event()

    def release(self):
        self.released.set()

    async def reply(self, request, outcome, on_token, on_sentence):
        self.started.set()
        sentence = ''
        for index, text in enumerate(self.tokens):
            if index == len(self.tokens) - 1:
                while not self.released.is_set():
                    await asyncio.sleep(0.005)
            outcome.text += text
            outcome.token_count = index + 1
            on_token(Token(text, index))
            sentence += text
            if text.endswith('.'):
                on_sentence(sentence.strip())
                sentence = ''
        if self.error is not None:
            raise self.error
        outcome.finish_reason = 'stop'
        return outcome


class FakeSpeech:
    def __init__(self, text, utterance_id, on_audio, on_done):
        self.text, self.utterance_id = text, utterance_id
        self._on_audio, self._on_done = on_audio, on_done
        self.cancelled = False

    def play(self):
        self._on_audio()
        self._on_done()

    def cancel(self):
        self.cancelled = True
        self._on_done()   # tts flushes it: its goal ends


class Recorder:
    """The effects, as lists."""

    def __init__(self, tts: bool = True):
        self.tts = tts
        self.states: list[tuple[str, str]] = []   # (state, cause)
        self.windows: list[float] = []            # listen_window of each published state
        self.details: list[str] = []
        self.tokens: list[str] = []
        self.sentences: list[str] = []
        self.metrics: list[str] = []              # finish reason of each published turn
        self.spoken: list[FakeSpeech] = []
        self.logs: list[tuple[str, str]] = []

    def publish_state(self, state, previous, cause, detail, turn_id, listen_window=0.0):
        self.states.append((state.name, cause))
        self.windows.append(listen_window)
        self.details.append(detail)

    def publish_token(self, reply, token):
        self.tokens.append(token.text)

    def publish_sentence(self, reply, sentence):
        self.sentences.append(sentence)

    def publish_metrics(self, reply):
        self.metrics.append(reply.outcome.finish_reason or 'cancelled')

    def speak(self, text, utterance_id, on_audio, on_done, language=''):
        if not self.tts:
            return None
        speech = FakeSpeech(text, utterance_id, on_audio, on_done)
        speech.language = language
        self.spoken.append(speech)
        return speech

    def log(self, level, message):
        self.logs.append((level, message))

    def state_names(self):
        return [state for state, _ in self.states]


GOAL_THREAD = 'goal: '   # the name of each thread run_goal() starts begins so


class Loop:
    """The asyncio loop thread replies run on, and the coordinators made on it (closed after)."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.coordinators = []

    def close(self):
        for coordinator in self.coordinators:
            coordinator.close()   # as the node's shutdown: a goal still waiting for its speech ends
            for reply in (coordinator.active, *coordinator.replies):
                if reply is not None and reply.future is not None:
                    reply.future.cancel()
        time.sleep(0.05)   # the cancelled replies end on the loop
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        for thread in [t for t in threading.enumerate() if t.name.startswith(GOAL_THREAD)]:
            thread.join(WAIT)
            assert not thread.is_alive(), 'a goal never ended'


@pytest.fixture
def loop():
    running = Loop()
    yield running
    running.close()


class Coordinator(ReplyCoordinator):
    """Remembers every reply it started, so the test can end them all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.replies = []

    def _start_reply(self, request, goal):
        reply = super()._start_reply(request, goal)
        self.replies.append(reply)
        return reply


def make(loop, source, tts=True, **config):
    """A coordinator on the loop; the follow-up window is off unless asked (its own cases below)."""
    config.setdefault('follow_up_seconds', 0.0)
    effects = Recorder(tts)
    coordinator = Coordinator(
        BrainConfig(**config), source, effects,
        submit=lambda coroutine: asyncio.run_coroutine_threadsafe(coroutine, loop.loop), now=time.monotonic)
    loop.coordinators.append(coordinator)
    coordinator.start()
    return coordinator, effects


def wait(predicate, within: float = WAIT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def run_goal(coordinator, prompt='What is the capital of France?', cancel=lambda: False, **request):
    """execute_goal in a thread (as the action server's); returns (thread, box with the ending)."""
    box = []
    # A daemon, so that a goal a failing test leaves waiting cannot hang the interpreter's exit;
    # Loop.close() fails the test that leaves one.
    thread = threading.Thread(target=lambda: box.append(coordinator.execute_goal(
        ReplyRequest(prompt=prompt, **request), object(), cancel)), name=GOAL_THREAD + prompt, daemon=True)
    thread.start()
    return thread, box


# ---------------------------------------------------------------- a turn from start to end

def test_a_spoken_voice_turn_speaks_each_sentence_then_ends_when_the_audio_has_played(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris', ' is', ' nice.', ' Yes.')))
    coordinator.on_wake_word('hey_jarvis')
    reply = coordinator.on_transcript('What is the capital of France?')
    assert wait(lambda: len(effects.spoken) == 2)
    assert [s.text for s in effects.spoken] == ['Paris is nice.', 'Yes.']
    assert [s.utterance_id for s in effects.spoken] == ['1', '1']
    assert effects.state_names()[-1] == 'THINKING'   # nothing heard yet
    effects.spoken[0].play()
    assert effects.state_names()[-1] == 'SPEAKING'
    effects.spoken[1].play()
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    assert effects.states == [('IDLE', 'STARTUP'), ('LISTENING', 'WAKEWORD_DETECTED'),
                              ('THINKING', 'TRANSCRIPTION_FINAL'), ('SPEAKING', 'SPEECH_STARTED'),
                              ('IDLE', 'SPEECH_FINISHED')]
    assert effects.tokens == ['Paris', ' is', ' nice.', ' Yes.'] and effects.metrics == ['stop']
    assert coordinator.active is None and reply.outcome.text == 'Paris is nice. Yes.'


@pytest.mark.parametrize('speak, tts, voiced', [
    (False, True, False),   # a silent Respond goal
    (True, False, False),   # a spoken one with no tts running: answered, not voiced, warned once
    (True, True, True),
], ids=['silent goal', 'tts absent', 'spoken goal'])
def test_a_goal_succeeds_whether_or_not_it_is_voiced(loop, speak, tts, voiced):
    coordinator, effects = make(loop, ScriptedSource(('One.', ' Two.')), tts=tts)
    thread, ending = run_goal(coordinator, speak=speak)
    if voiced:
        assert wait(lambda: len(effects.spoken) == 2)
        for speech in effects.spoken:
            speech.play()
    thread.join(WAIT)
    assert ending[0].status == 'succeeded' and ending[0].outcome.text == 'One. Two.'
    assert effects.sentences == ['One.', 'Two.']
    assert bool(effects.spoken) == voiced
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    assert effects.states[-1] == ('IDLE', 'SPEECH_FINISHED' if voiced else 'LLM_COMPLETE')
    warnings = [message for level, message in effects.logs if level == 'warning']
    no_tts = 'no tts "speak" action server: the reply is not voiced'
    assert warnings == ([] if tts or not speak else [no_tts])


# ---------------------------------------------------------------- a spoken goal ends once heard

def run_spoken_goal(coordinator, effects, cancel=lambda: False, tokens_said=('One.', 'Two.')):
    """A spoken goal whose text is complete and sent to tts; returns (thread, box).

    The box gets the goal's ending, then the states published before it ended.
    """
    box = []

    def run():
        box.append(coordinator.execute_goal(ReplyRequest(prompt='Count.', speak=True), object(), cancel))
        box.append(list(effects.states))

    thread = threading.Thread(target=run)
    thread.start()
    assert wait(lambda: [s.text for s in effects.spoken] == list(tokens_said))
    assert wait(lambda: coordinator.replies and coordinator.replies[-1].generation_done)
    effects.spoken[0]._on_audio()   # the first sentence is playing
    assert effects.state_names()[-1] == 'SPEAKING'
    return thread, box


def test_a_spoken_goal_ends_when_its_last_sentence_has_been_heard(loop):
    coordinator, effects = make(loop, ScriptedSource(('One.', ' Two.')))
    thread, box = run_spoken_goal(coordinator, effects)
    effects.spoken[0].play()
    time.sleep(0.1)
    assert thread.is_alive() and not box   # the text is complete, the second sentence is not heard yet
    effects.spoken[1].play()
    thread.join(WAIT)
    ending, seen = box
    assert ending.status == 'succeeded' and ending.outcome.finish_reason == 'stop'
    assert ending.outcome.text == 'One. Two.'
    assert seen[-2:] == [('SPEAKING', 'SPEECH_STARTED'), ('IDLE', 'SPEECH_FINISHED')]   # before the result


def test_a_cancel_while_the_complete_text_is_spoken_silences_it_and_ends_canceled(loop):
    coordinator, effects = make(loop, ScriptedSource(('One.', ' Two.')))
    cancelled = threading.Event()
    thread, box = run_spoken_goal(coordinator, effects, cancel=cancelled.is_set)
    cancelled.set()
    thread.join(WAIT)
    ending, seen = box
    assert ending.status == 'canceled' and ending.outcome.finish_reason == 'cancelled'
    assert ending.outcome.text == 'One. Two.' and ending.outcome.token_count == 2   # all of it
    assert all(speech.cancelled for speech in effects.spoken)
    assert seen[-1] == ('IDLE', 'GOAL_CANCELLED') and effects.states[-1] == ('IDLE', 'GOAL_CANCELLED')
    assert coordinator.active is None


@pytest.mark.parametrize('newcomer, cause', [
    ('goal', 'RESPOND_GOAL'), ('voice turn', 'TRANSCRIPTION_FINAL'), ('barge-in', 'BARGE_IN'),
    ('wake word', 'WAKEWORD_DETECTED'), ('stalled tts', 'STATE_TIMEOUT')])
def test_a_spoken_goal_whose_speech_is_cut_ends_aborted_with_all_its_text(loop, newcomer, cause):
    coordinator, effects = make(loop, ScriptedSource(('One.', ' Two.')), speak_stall_timeout=0.1)
    thread, box = run_spoken_goal(coordinator, effects)
    coordinator.source = ScriptedSource(('Three.',))
    if newcomer == 'goal':
        second, _ = run_goal(coordinator, speak=False)
        second.join(WAIT)
    elif newcomer == 'voice turn':
        coordinator.on_transcript('And then?')
    elif newcomer == 'barge-in':
        coordinator.on_barge_in('vad')
    elif newcomer == 'wake word':
        coordinator.on_wake_word('hey_jarvis')
    else:   # tts says nothing more for longer than speak_stall_timeout
        time.sleep(0.2)
        coordinator.tick()
    thread.join(WAIT)
    ending, seen = box
    assert ending.status == 'aborted' and ending.outcome.finish_reason == 'cancelled'
    assert ending.error == f'preempted by {cause}' and ending.outcome.text == 'One. Two.'
    assert all(speech.cancelled for speech in effects.spoken[:2])
    assert ('SPEAKING', 'SPEECH_STARTED') in seen and seen[-1][0] != 'SPEAKING'   # left before the result


def test_a_spoken_goal_waiting_for_its_speech_ends_when_the_coordinator_closes(loop):
    coordinator, effects = make(loop, ScriptedSource(('One.', ' Two.')))
    thread, box = run_spoken_goal(coordinator, effects)
    coordinator.close()
    thread.join(WAIT)
    assert box and not thread.is_alive()


# ---------------------------------------------------------------- the newest request wins

@pytest.mark.parametrize('newcomer', ['goal', 'voice turn'])
def test_a_new_request_preempts_the_running_goal(loop, newcomer):
    first = ScriptedSource(hold=True)
    coordinator, effects = make(loop, first)
    thread, ending = run_goal(coordinator, prompt='first')
    assert wait(lambda: len(effects.tokens) == 3)   # all but the held last token
    coordinator.source = ScriptedSource(('Second.',))
    if newcomer == 'goal':
        second_thread, second = run_goal(coordinator, prompt='second')
        second_thread.join(WAIT)
        assert second[0].status == 'succeeded'
    else:
        coordinator.on_transcript('second')
    thread.join(WAIT)
    cause = 'RESPOND_GOAL' if newcomer == 'goal' else 'TRANSCRIPTION_FINAL'
    assert ending[0].status == 'aborted' and ending[0].outcome.finish_reason == 'cancelled'
    assert ending[0].error == f'preempted by {cause}'
    assert ending[0].outcome.text == 'Paris is the'   # what it had said
    assert effects.metrics[0] == 'cancelled'


def test_a_goal_cancelled_before_it_runs_leaves_the_running_reply_alone(loop):
    running = ScriptedSource(hold=True)
    coordinator, effects = make(loop, running)
    thread, first = run_goal(coordinator, prompt='first')
    assert running.started.wait(WAIT)
    _, ending = run_goal(coordinator, prompt='second', cancel=lambda: True)
    assert wait(lambda: ending)
    assert ending[0].status == 'canceled' and ending[0].outcome.finish_reason == 'cancelled'
    assert coordinator.active is not None and coordinator.active.request.prompt == 'first'
    running.release()
    thread.join(WAIT)
    assert first[0].status == 'succeeded'


def test_a_client_cancel_ends_the_goal_with_its_partial_text_and_silences_it(loop):
    source = ScriptedSource(('Paris.', ' is', ' big.'), hold=True)
    coordinator, effects = make(loop, source)
    cancelled = threading.Event()
    thread, ending = run_goal(coordinator, speak=True, cancel=cancelled.is_set)
    assert wait(lambda: effects.spoken and len(effects.tokens) == 2)
    cancelled.set()
    thread.join(WAIT)
    assert ending[0].status == 'canceled' and ending[0].outcome.text == 'Paris. is'
    assert effects.spoken[0].cancelled
    assert effects.states[-1] == ('IDLE', 'GOAL_CANCELLED')


@pytest.mark.parametrize('interruption', ['wake word', 'barge-in'])
def test_the_user_interrupting_a_spoken_reply_silences_it_and_listens(loop, interruption):
    source = ScriptedSource(('Paris.', ' Next', ' one.'), hold=True)
    coordinator, effects = make(loop, source)
    reply = coordinator.on_transcript('Tell me about Paris.')
    assert wait(lambda: effects.spoken)
    effects.spoken[0]._on_audio()   # playing, not finished
    assert effects.state_names()[-1] == 'SPEAKING'
    if interruption == 'wake word':
        coordinator.on_wake_word('hey_jarvis')
    else:
        coordinator.on_barge_in('voice')
    assert effects.state_names()[-1] == 'LISTENING' and effects.spoken[0].cancelled
    assert wait(reply.done.is_set) and reply.outcome.finish_reason == 'cancelled'
    source.release()
    time.sleep(0.05)
    assert effects.state_names()[-1] == 'LISTENING'   # the cancelled reply ends nothing more


def test_a_tentative_barge_in_onset_is_not_an_interruption(loop):
    source = ScriptedSource(('Paris.', ' Next', ' one.'), hold=True)
    coordinator, effects = make(loop, source)
    reply = coordinator.on_transcript('Tell me about Paris.')
    assert wait(lambda: effects.spoken)
    effects.spoken[0]._on_audio()
    coordinator.on_barge_in('onset')   # tts pauses on it; the confirmation ('vad') may follow
    assert effects.state_names()[-1] == 'SPEAKING' and not effects.spoken[0].cancelled
    coordinator.on_barge_in('withdrawn')   # tts resumes on it (a cough); still no interruption
    assert effects.state_names()[-1] == 'SPEAKING' and not effects.spoken[0].cancelled
    assert not reply.done.is_set()
    coordinator.on_barge_in('vad')
    assert effects.state_names()[-1] == 'LISTENING' and effects.spoken[0].cancelled
    source.release()


# ---------------------------------------------------------------- errors and apologies

@pytest.mark.parametrize('speak, tts, apology', [
    (True, True, True),     # a spoken reply fails: sorry, then IDLE once said
    (True, False, False),   # no tts to say it: ERROR shown, then IDLE at once
    (False, True, False),   # a silent goal fails: no apology
], ids=['spoken', 'tts absent', 'silent'])
def test_a_failed_reply_apologizes_only_when_it_was_to_be_heard(loop, speak, tts, apology):
    error = LLMConnectionError('http://127.0.0.1:8080/completion', 'connection refused')
    coordinator, effects = make(loop, ScriptedSource(('Hm',), error=error), tts=tts)
    coordinator.server_down_report = 'llama-server crashed with SIGSEGV while loading m.gguf'
    thread, ending = run_goal(coordinator, speak=speak)
    thread.join(WAIT)
    assert ending[0].status == 'aborted'
    assert ending[0].error.startswith('llama-server is down: llama-server crashed with SIGSEGV')
    assert effects.metrics == ['error']
    if apology:
        assert [s.utterance_id for s in effects.spoken] == ['1-apology']
        assert effects.state_names()[-1] == 'ERROR'
        effects.spoken[0].play()
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    assert effects.state_names()[-2:] == ['ERROR', 'IDLE']
    assert effects.states[-1][1] == 'SPEECH_FINISHED'


@pytest.mark.parametrize('language, heard, said', [
    ('auto', 'fr', ('Désolé, je ne peux pas répondre pour le moment.', 'fr')),
    ('auto', 'en', ("Sorry, I can't answer that right now.", 'en')),
    ('fr', '', ('Désolé, je ne peux pas répondre pour le moment.', 'fr')),
    ('auto', 'es', ("Sorry, I can't answer that right now.", 'en')),   # answered in English, sorry too
], ids=['auto, French heard', 'auto, English heard', 'fr', 'auto, Spanish heard'])
def test_the_apology_is_in_the_language_of_the_turn(loop, language, heard, said):
    coordinator, effects = make(loop, ScriptedSource(('Hm',), error=LLMConnectionError('u', 'refused')),
                                language=language)
    coordinator.on_transcript('Quelle est la capitale de la France ?', language=heard)
    assert wait(lambda: [s.utterance_id for s in effects.spoken] == ['1-apology'])
    assert (effects.spoken[0].text, effects.spoken[0].language) == said
    effects.spoken[0].play()
    assert wait(lambda: effects.state_names()[-2:] == ['ERROR', 'IDLE'])


def test_an_apology_set_in_the_parameters_is_said_in_every_language(loop):
    coordinator, effects = make(loop, ScriptedSource(('Hm',), error=LLMConnectionError('u', 'refused')),
                                language='fr', apology='Oups.')
    coordinator.on_transcript('Quelle est la capitale de la France ?', language='fr')
    assert wait(lambda: [(s.text, s.language) for s in effects.spoken] == [('Oups.', 'fr')])


def test_a_new_question_during_the_apology_flushes_it(loop):
    coordinator, effects = make(loop, ScriptedSource(('Hm',), error=LLMConnectionError('u', 'refused')))
    coordinator.on_transcript('What?')
    assert wait(lambda: [s.utterance_id for s in effects.spoken] == ['1-apology'])
    coordinator.source = ScriptedSource(('Fine.',))
    coordinator.on_wake_word('hey_jarvis')
    assert effects.spoken[0].cancelled and effects.state_names()[-1] == 'LISTENING'
    assert ('IDLE', 'SPEECH_FINISHED') not in effects.states   # the flushed apology ends nothing


def test_a_stalled_reply_times_out_into_an_apology(loop):
    source = ScriptedSource(hold=True)
    coordinator, effects = make(loop, source, think_timeout=0.2)
    reply = coordinator.on_transcript('Hello?')
    assert source.started.wait(WAIT)
    time.sleep(0.3)
    coordinator.tick()
    assert effects.states[-1] == ('ERROR', 'STATE_TIMEOUT')
    assert wait(reply.done.is_set) and reply.outcome.finish_reason == 'cancelled'
    assert [s.utterance_id for s in effects.spoken] == ['1-apology']


# ---------------------------------------------------------------- bounds on a spoken reply

class RecordingSource(ScriptedSource):
    """Also keeps the requests it was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.requests = []

    async def reply(self, request, outcome, on_token, on_sentence):
        self.requests.append(request)
        return await super().reply(request, outcome, on_token, on_sentence)


@pytest.mark.parametrize('speak, asked, given', [
    (True, 0, 64),        # the default (llm.max_tokens 512) is bounded
    (True, 1000, 64),
    (True, 20, 20),       # a goal may ask for fewer
    (False, 0, 0),        # a silent goal keeps llm.max_tokens (0 = the replier's default)
    (False, 1000, 1000),
])
def test_a_reply_to_be_spoken_asks_for_at_most_max_spoken_tokens(loop, speak, asked, given):
    source = RecordingSource()
    coordinator, _ = make(loop, source, max_spoken_tokens=64)
    thread, box = run_goal(coordinator, speak=speak, max_tokens=asked)
    thread.join(WAIT)
    assert [r.max_tokens for r in source.requests] == [given]


def test_a_voice_turn_asks_for_at_most_max_spoken_tokens(loop):
    source = RecordingSource()
    coordinator, _ = make(loop, source, max_spoken_tokens=64)
    coordinator.on_transcript('Tell me everything.')
    assert source.started.wait(WAIT) and source.requests[0].max_tokens == 64


def test_a_reply_is_stopped_after_max_speech_seconds_of_audio(loop):
    source = ScriptedSource(('One.', ' Two.', ' Three.', ' Four.'), hold=True)
    coordinator, effects = make(loop, source, max_speech_seconds=2.0)
    reply = coordinator.on_transcript('Count for ever.')
    assert wait(lambda: len(effects.spoken) == 3)          # the last token is held: still generating
    for _ in range(10):                                   # tts reports 0.1 s chunks of the first sentence
        coordinator.on_speech_activity(True, '1', 0.0, 0.1)
    assert effects.state_names()[-1] == 'SPEAKING' and not effects.spoken[0].cancelled
    for _ in range(10):
        coordinator.on_speech_activity(True, '1', 0.0, 0.1)
    assert wait(reply.done.is_set)
    assert all(speech.cancelled for speech in effects.spoken)   # flushed, also the unplayed ones
    assert reply.outcome.finish_reason == 'length' and reply.outcome.text == 'One. Two. Three.'
    assert effects.states[-1] == ('IDLE', 'SPEECH_FINISHED') and coordinator.active is None
    assert effects.metrics == ['length']


def test_audio_of_an_apology_or_another_turn_does_not_count_against_the_reply(loop):
    coordinator, effects = make(loop, ScriptedSource(hold=True), max_speech_seconds=1.0)
    reply = coordinator.on_transcript('Hello?')
    for utterance in ('1-apology', '0', '2'):
        coordinator.on_speech_activity(True, utterance, 0.0, 5.0)
    assert not reply.speech_limited and not reply.done.is_set()


# ---------------------------------------------------------------- languages

@pytest.mark.parametrize('configured, heard, replied', [
    ('en', 'fr', 'en'), ('fr', 'en', 'fr'),           # a fixed language whatever was heard
    ('auto', 'fr', 'fr'), ('auto', 'en', 'en'),       # auto: the language heard ...
    ('auto', 'de', 'en'), ('auto', '', 'en'),         # ... if replies can be in it
])
def test_a_voice_turn_is_spoken_in_the_configured_or_heard_language(loop, configured, heard, replied):
    source = RecordingSource()
    coordinator, effects = make(loop, source, language=configured)
    coordinator.on_transcript('Quelle est la capitale de la France ?', language=heard)
    assert wait(lambda: len(effects.spoken) == 1)
    assert source.requests[0].language == replied and effects.spoken[0].language == replied


def test_a_session_may_switch_language_between_voice_turns(loop):
    source = RecordingSource()
    coordinator, effects = make(loop, source, language='auto')
    for number, heard in enumerate(('fr', 'en', 'fr'), 1):
        coordinator.on_transcript('Question?', language=heard)
        assert wait(lambda: len(effects.spoken) == number)
        effects.spoken[-1].play()
        assert wait(lambda: coordinator.active is None)
    assert [r.language for r in source.requests] == ['fr', 'en', 'fr']
    assert {r.session_id for r in source.requests} == {'voice'}


# ---------------------------------------------------------------- stale events

def test_audio_of_an_earlier_turn_does_not_start_speaking(loop):
    coordinator, effects = make(loop, ScriptedSource(hold=True))
    coordinator.on_transcript('One?')
    coordinator.on_transcript('Two?')   # preempts turn 1
    coordinator.on_speech_activity(True, '1', 0.0)
    assert effects.state_names()[-1] == 'THINKING'
    coordinator.on_speech_activity(True, '2', 0.0)
    assert effects.state_names()[-1] == 'SPEAKING'


def test_a_live_config_change_applies_to_the_next_reply(loop):
    coordinator, _ = make(loop, ScriptedSource())
    new = dataclasses.replace(BrainConfig(), apology='Oops.')
    coordinator.apply_config(new)
    assert coordinator.config.apology == 'Oops.'


# ---------------------------------------------------------------- the node's Speak goal adapter

class FakeFuture:
    def __init__(self):
        self.callbacks = []
        self.value = None

    def add_done_callback(self, callback):
        self.callbacks.append(callback)

    def result(self):
        return self.value

    def complete(self, value=None):
        self.value = value
        for callback in self.callbacks:
            callback(self)


class FakeHandle:
    def __init__(self, accepted=True):
        self.accepted = accepted
        self.cancels = 0
        self.result_future = FakeFuture()

    def cancel_goal_async(self):
        self.cancels += 1

    def get_result_async(self):
        return self.result_future


class FakeSpeakClient:
    def __init__(self):
        self.sent = FakeFuture()
        self.feedback = None

    def send_goal_async(self, goal, feedback_callback=None):
        self.feedback = feedback_callback
        return self.sent


@pytest.mark.parametrize('plan, accepted, cancels, done', [
    ('cancel before accept', True, 1, 1),   # flushed before tts accepted it: cancelled on acceptance
    ('cancel after accept', True, 1, 1),
    ('play to the end', True, 0, 1),
    ('rejected', False, 0, 1),
])
def test_a_speak_goal_is_cancelled_whenever_asked_and_ends_once(plan, accepted, cancels, done):
    from heisenberg_brain.nodes.brain import SpeakGoal

    client, handle = FakeSpeakClient(), FakeHandle(accepted)
    audio, ended = [], []
    speech = SpeakGoal(client, 'Hello.', '3', lambda: audio.append(1), lambda: ended.append(1))
    if plan == 'cancel before accept':
        speech.cancel()
    client.sent.complete(handle)
    if plan == 'cancel after accept':
        speech.cancel()
    if accepted:
        client.feedback(type('Msg', (), {'feedback': type('Fb', (), {'audio_emitted': 1600})()})())
        handle.result_future.complete()
        handle.result_future.complete()   # a late duplicate must not end it twice
    assert handle.cancels == cancels and len(ended) == done
    assert audio == ([1] if accepted else [])


@pytest.mark.parametrize('value', [8, 161])
def test_first_chunk_max_chars_is_zero_or_a_sensible_length(value):
    with pytest.raises(ValueError, match='first_chunk_max_chars'):
        BrainConfig(first_chunk_max_chars=value)


# ---------------------------------------------------------------- announcements (a timer rang)

def test_an_announcement_waits_for_the_reply_to_end_then_is_spoken_on_its_own(loop):
    source = ScriptedSource(('Paris', ' is', ' nice.'))
    coordinator, effects = make(loop, source)
    coordinator.on_transcript('What is the capital of France?')
    assert wait(lambda: len(effects.spoken) == 1)
    coordinator.announce('Your five minute timer is done.')   # while the reply is heard: it waits
    coordinator.tick()
    effects.spoken[0].play()
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    coordinator.tick()   # the watchdog tick starts what waited
    assert wait(lambda: len(effects.spoken) == 2)
    assert effects.spoken[1].text == 'Your five minute timer is done.'
    assert effects.spoken[1].utterance_id == '2'   # a turn of its own, not a reply's tail
    effects.spoken[1].play()
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    assert effects.states[-3:] == [('THINKING', 'ANNOUNCEMENT'), ('SPEAKING', 'SPEECH_STARTED'),
                                   ('IDLE', 'SPEECH_FINISHED')]
    assert source.started.is_set() and effects.tokens[-1] == 'Your five minute timer is done.'


def test_an_announcement_when_idle_is_spoken_at_once_and_a_question_still_preempts_it(loop):
    coordinator, effects = make(loop, ScriptedSource(('Four.',)))
    coordinator.announce('The robot reached the kitchen.')
    assert wait(lambda: len(effects.spoken) == 1)
    assert effects.states[-1] == ('THINKING', 'ANNOUNCEMENT')
    coordinator.on_wake_word('hey_jarvis')   # the newest request wins, as for any reply
    assert effects.spoken[0].cancelled
    coordinator.on_transcript('What is two plus two?')
    assert wait(lambda: len(effects.spoken) == 2) and effects.spoken[1].text == 'Four.'


def test_an_announcement_is_spoken_in_the_voice_of_its_language(loop):
    coordinator, effects = make(loop, ScriptedSource(('Four.',)))
    coordinator.announce("C'est l'heure ! Votre minuteur de 5 minutes est terminé.", 'fr')
    assert wait(lambda: len(effects.spoken) == 2)
    assert [(s.text, s.language) for s in effects.spoken] == [
        ("C'est l'heure!", 'fr'), ('Votre minuteur de 5 minutes est terminé.', 'fr')]   # as tts gets it


# ---------------------------------------------------------------- the follow-up window

def speak_a_reply(coordinator, effects, text='What is the capital of France?'):
    """A voice turn whose reply plays to its end."""
    coordinator.on_transcript(text)
    assert wait(lambda: effects.spoken and not effects.spoken[-1].cancelled)
    count = len(effects.spoken)
    effects.spoken[-1].play()
    assert wait(lambda: ('IDLE', 'SPEECH_FINISHED') in effects.states[-2:]), effects.states
    return count


def test_a_reply_heard_to_its_end_opens_the_window_and_a_follow_up_is_answered(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris.',)), follow_up_seconds=4.0)
    speak_a_reply(coordinator, effects)
    assert effects.states[-2:] == [('IDLE', 'SPEECH_FINISHED'), ('LISTENING', 'FOLLOW_UP')]
    assert effects.windows[-2:] == [0.0, 4.0]   # stt waits this long for speech
    turn = coordinator.turn_id
    coordinator.source = ScriptedSource(('Rome.',))
    coordinator.on_transcript('And of Italy?')   # no wake word
    assert wait(lambda: len(effects.spoken) == 2) and effects.spoken[1].text == 'Rome.'
    assert effects.states[-1] == ('THINKING', 'TRANSCRIPTION_FINAL')
    assert coordinator.turn_id == turn and effects.spoken[1].utterance_id == str(turn)


def test_nobody_speaking_in_the_window_closes_it_quietly(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris.',)), follow_up_seconds=4.0)
    spoken = speak_a_reply(coordinator, effects)
    coordinator.on_nothing_heard('no follow-up within 4.0 s')
    assert effects.states[-2:] == [('LISTENING', 'FOLLOW_UP'), ('IDLE', 'NOTHING_HEARD')]
    assert len(effects.spoken) == spoken and coordinator.active is None   # nothing said


@pytest.mark.parametrize('case', ['off', 'silent goal', 'apology', 'cancelled'])
def test_no_window_where_no_reply_was_heard_to_its_end_or_it_is_off(loop, case):
    error = LLMConnectionError('u', 'refused') if case == 'apology' else None
    tokens = ('Hm',) if case == 'apology' else ('Paris.',)   # the apology is the only speech
    coordinator, effects = make(loop, ScriptedSource(tokens, error=error),
                                follow_up_seconds=0.0 if case == 'off' else 4.0)
    if case == 'off':
        speak_a_reply(coordinator, effects)
    elif case == 'silent goal':
        thread, _ = run_goal(coordinator, speak=False)
        thread.join(WAIT)
    elif case == 'apology':
        coordinator.on_transcript('What?')
        assert wait(lambda: [s.utterance_id for s in effects.spoken] == ['1-apology'])
        effects.spoken[0].play()
    else:   # the user's "Hey Jarvis" stops the reply while it plays
        coordinator.on_transcript('Tell me a story.')
        assert wait(lambda: effects.spoken)
        effects.spoken[0]._on_audio()
        coordinator.on_wake_word('hey_jarvis')
        coordinator.on_nothing_heard('no speech within 5.0 s of the wake word')
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    time.sleep(0.05)
    assert 'FOLLOW_UP' not in [cause for _, cause in effects.states], effects.states


def test_a_waiting_announcement_goes_first_and_its_own_end_opens_the_window(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris.',), hold=True), follow_up_seconds=4.0)
    coordinator.on_transcript('What is the capital of France?')
    coordinator.announce('Your timer is done.')
    coordinator.source.release()
    assert wait(lambda: effects.spoken)
    effects.spoken[0].play()
    coordinator.tick()
    assert wait(lambda: len(effects.spoken) == 2)
    assert ('LISTENING', 'FOLLOW_UP') not in effects.states
    effects.spoken[1].play()
    assert wait(lambda: effects.states[-1] == ('LISTENING', 'FOLLOW_UP')), effects.states


def test_the_watchdog_gives_a_follow_up_its_window_on_top_of_listen_timeout(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris.',)), follow_up_seconds=0.4,
                                listen_timeout=0.2)
    speak_a_reply(coordinator, effects)
    time.sleep(0.3)   # past listen_timeout, inside listen_timeout + the window
    coordinator.tick()
    assert effects.states[-1] == ('LISTENING', 'FOLLOW_UP')
    time.sleep(0.4)   # no nothing-heard from stt (none running): the watchdog ends it
    coordinator.tick()
    assert effects.states[-1] == ('IDLE', 'STATE_TIMEOUT')


@pytest.mark.parametrize('value', [-1.0, 31.0])
def test_a_follow_up_window_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match='follow_up_seconds'):
        BrainConfig(follow_up_seconds=value)


def test_an_announcement_waits_for_the_open_window_to_close(loop):
    coordinator, effects = make(loop, ScriptedSource(('Paris.',)), follow_up_seconds=4.0)
    spoken = speak_a_reply(coordinator, effects)
    coordinator.announce('Your timer is done.')   # the user may be about to speak: not now
    coordinator.tick()
    assert effects.states[-1] == ('LISTENING', 'FOLLOW_UP') and len(effects.spoken) == spoken
    coordinator.on_nothing_heard('no follow-up within 4.0 s')
    coordinator.tick()
    assert wait(lambda: len(effects.spoken) == spoken + 1)
    assert effects.spoken[-1].text == 'Your timer is done.'
    assert effects.states[-2:] == [('IDLE', 'NOTHING_HEARD'), ('THINKING', 'ANNOUNCEMENT')]


# ---------------------------------------------------------------- a skill takes the request

class SkillLikeSource(ScriptedSource):
    """Says, as the skill source does on a match, that the skill go_to took the request."""

    def __init__(self, coordinator_box: list, **kwargs):
        super().__init__(**kwargs)
        self.box = coordinator_box

    async def reply(self, request, outcome, on_token, on_sentence):
        self.box[0].on_skill(outcome, 'go_to')
        return await super().reply(request, outcome, on_token, on_sentence)


def test_a_request_a_skill_takes_is_shown_on_the_state_topic_before_its_reply(loop):
    box = []
    source = SkillLikeSource(box, tokens=('Going', ' to', ' the', ' kitchen.'), hold=True)
    coordinator, effects = make(loop, source)
    box.append(coordinator)
    coordinator.on_wake_word('hey_jarvis')
    coordinator.on_transcript('Go to the kitchen.')
    assert wait(lambda: ('THINKING', 'SKILL') in effects.states)
    assert effects.states[-2:] == [('THINKING', 'TRANSCRIPTION_FINAL'), ('THINKING', 'SKILL')]
    assert effects.details[-1] == 'go_to' and effects.spoken == []   # shown while the skill works
    source.release()
    assert wait(lambda: effects.spoken)
    effects.spoken[0].play()
    assert wait(lambda: effects.state_names()[-1] == 'IDLE')
    assert effects.states[-2:] == [('SPEAKING', 'SPEECH_STARTED'), ('IDLE', 'SPEECH_FINISHED')]


def test_a_skill_match_of_a_reply_no_longer_running_is_not_shown(loop):
    coordinator, effects = make(loop, ScriptedSource(hold=True))
    first = coordinator.on_transcript('Go to the kitchen.')
    coordinator.on_transcript('What is the capital of France?')   # preempts the first
    coordinator.on_skill(first.outcome, 'go_to')
    assert 'SKILL' not in [cause for _, cause in effects.states]
