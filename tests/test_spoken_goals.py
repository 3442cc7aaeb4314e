"""A spoken Respond goal ends when it has been heard, and its cancel silences it.

Real parts: the brain over DDS against a real llama-server with the registry GGUF, and a real
tts node speaking with Piper (the Rig of test_faults). What is asserted is the order in which
this client receives things: a goal's result, set against the brain's state messages and
tts's speech_activity (each audio chunk, the stop), and the playback stamps tts gives its
audio. Speed is not asserted anywhere.
"""

from __future__ import annotations

import time

import pytest
from action_msgs.msg import GoalStatus

from heisenberg_common.stamps import seconds_of
from heisenberg_testing.graph_params import STORYTELLER
from test_faults import Rig, dedupe

pytestmark = pytest.mark.llm

STORY = 'Tell me a long story about a brave little robot.'


@pytest.fixture(scope='module')
def rig(llama_server, tmp_path_factory):
    rig = Rig(tmp_path_factory.mktemp('spoken'), 'spoken', llama_server.completion_url, {})
    yield rig
    rig.close()


class Ending:
    """A goal's result as this client receives it, and how many monitor events had arrived before it.

    The result callback runs on the monitor's executor, the thread that records every topic
    message, so the events before it are exactly those received before the result.
    """

    def __init__(self, rig: Rig, handle):
        self.rig = rig
        self.result = None
        self.seen = 0
        self.wall = 0.0          # wall clock at arrival (tts stamps playback times on the wall clock)
        self.at = 0.0            # monotonic, as the monitor's events
        handle.get_result_async().add_done_callback(self._arrived)

    def _arrived(self, future) -> None:
        self.seen = len(self.rig.monitor.events)
        self.wall, self.at = time.time(), time.monotonic()
        self.result = future.result()

    def wait(self, timeout: float) -> bool:
        return self.rig.wait(lambda: self.result is not None, timeout)

    def before(self, kind: str, since: float) -> list:
        """Messages of one kind received after since and before the result."""
        return [msg for k, msg, at in self.rig.monitor.events[:self.seen] if k == kind and at >= since]


def turn_of(rig: Rig, since: float) -> int:
    return next(s.turn_id for s in rig.monitor.of('state', since) if s.state_name == 'THINKING')


def chunks(messages: list, utterance: str) -> list:
    return [m for m in messages if m.utterance_id == utterance and m.speaking and m.chunk_duration > 0]


def stops(messages: list, utterance: str) -> list:
    return [m for m in messages if m.utterance_id == utterance and not m.speaking]


def wait_tts_quiet(rig: Rig, since: float, timeout: float = 30.0) -> bool:
    """tts reports (diagnostics, after since) nothing playing and nothing queued: no more audio comes."""
    def quiet():
        for array in rig.monitor.of('diagnostics', since):
            for status in array.status:
                values = {kv.key: kv.value for kv in status.values}
                if (status.name.startswith(f'/{rig.namespace}/tts:') and values.get('speaking') == 'false'
                        and values.get('queue_length') == '0'):
                    return True
        return False
    return rig.wait(quiet, timeout)


def test_a_spoken_goals_result_arrives_after_its_last_audio(rig):
    since = time.monotonic()
    feedback = []
    handle = rig.send(STORY, feedback, speak=True, max_tokens=32, personality=STORYTELLER, session_id='heard')
    ending = Ending(rig, handle)
    assert ending.wait(180), rig.states(since)
    result = ending.result
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.text.strip() and result.result.text == ''.join(f.delta for f in feedback)
    utterance = str(turn_of(rig, since))
    assert wait_tts_quiet(rig, ending.at)

    # Before the result: the brain's SPEAKING -> IDLE by SPEECH_FINISHED, and tts's end of the reply.
    states = ending.before('state', since)
    assert dedupe([s.state_name for s in states]) == ['THINKING', 'SPEAKING', 'IDLE'], rig.states(since)
    assert states[-1].cause == 'SPEECH_FINISHED'
    activity = rig.monitor.of('speech_activity', since)
    heard = chunks(activity, utterance)
    assert sum(m.chunk_duration for m in heard) > 2.0, 'the reply was too short to show anything'
    assert chunks(ending.before('speech_activity', since), utterance) == heard   # no audio after the result
    assert [m.flushed for m in stops(ending.before('speech_activity', since), utterance)] == [False]
    # and its last sample's playback time had passed (tts stamps playback times on the wall clock)
    last = heard[-1]
    assert seconds_of(last.audio_start) + last.chunk_duration <= ending.wall


def test_a_cancel_while_the_complete_reply_is_spoken_silences_it_and_ends_canceled(rig):
    since = time.monotonic()
    feedback = []
    max_tokens = 48
    handle = rig.send(STORY, feedback, speak=True, max_tokens=max_tokens, personality=STORYTELLER,
                      session_id='cancelled')
    ending = Ending(rig, handle)
    # The whole text has been generated (its last token streamed) and tts is speaking it.
    assert rig.wait(lambda: any(f.delta and f.token_index == max_tokens - 1 for f in feedback), 180), \
        f'the story did not reach {max_tokens} tokens: {"".join(f.delta for f in feedback)!r}'
    assert rig.wait(lambda: 'SPEAKING' in rig.states(since), 60), rig.states(since)
    utterance = str(turn_of(rig, since))
    assert ending.result is None and stops(rig.monitor.of('speech_activity', since), utterance) == []
    handle.cancel_goal_async()
    assert ending.wait(30), rig.states(since)

    result = ending.result
    assert result.status == GoalStatus.STATUS_CANCELED, result.result.error
    assert result.result.finish_reason == 'cancelled'
    assert result.result.token_count == max_tokens
    assert result.result.text == ''.join(f.delta for f in feedback)   # all of it
    # The brain left SPEAKING the way a cancel does (before the result), and stays IDLE.
    states = ending.before('state', since)
    assert dedupe([s.state_name for s in states]) == ['THINKING', 'SPEAKING', 'IDLE'], rig.states(since)
    assert states[-1].cause == 'GOAL_CANCELLED'
    assert wait_tts_quiet(rig, ending.at)
    assert rig.states(since) == ['THINKING', 'SPEAKING', 'IDLE']
    # tts flushed the reply: no audio of it after the flush (stamps on tts's own playback timeline).
    activity = rig.monitor.of('speech_activity', since)
    [stop] = stops(activity, utterance)
    assert stop.flushed
    silenced = seconds_of(stop.audio_start)
    assert chunks(activity, utterance) and all(seconds_of(m.audio_start) < silenced
                                               for m in chunks(activity, utterance))


def test_a_silent_goal_still_ends_with_its_text_and_says_nothing(rig):
    since = time.monotonic()
    result = rig.ask('What is the capital of France?', max_tokens=24, session_id='silent')
    assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
    assert result.result.text.strip() and result.result.finish_reason in ('stop', 'length')
    assert rig.wait_idle(since, 10), rig.states(since)
    assert rig.states(since) == ['THINKING', 'IDLE']
    assert rig.monitor.of('state', since)[-1].cause == 'LLM_COMPLETE'
    assert chunks(rig.monitor.of('speech_activity', since), str(turn_of(rig, since))) == []
