"""SkillSource: what is said, what is announced and what reaches ROS, with a fake SkillEffects.

The effects are a test double on purpose: a missing server, a hung call, a goal that ends
aborted at a chosen moment are faults a real part cannot be made to show on demand; the
rclpy side (types resolved by name, real action servers over DDS) is tested when the brain
node takes skills in. Timeouts here are real but short; the fake clock drives timers and
the feedback period.
"""

from __future__ import annotations

import asyncio
import time
import types

import pytest
import yaml

from heisenberg_brain.core.replier import ReplyOutcome, ReplyRequest
from heisenberg_brain.core.skills import GoalResult, SkillEffectError, SkillSource, Skills, skills_from_yaml
from skills_support import FakeClock, example_yaml

DOCK = {'name': 'dock', 'description': 'dock at my charger', 'sentences': ['dock', 'go dock'],
        'service': {'type': 'std_srvs/srv/Trigger', 'name': 'dock', 'timeout': 0.05},
        'replies': {'succeeded': 'Docked: {response.message}.', 'failed': "I can't dock: {reason}."}}
LIGHTS = {'name': 'lights', 'description': 'turn my lights on or off',
          'sentences': ['turn [the] lights {state}'],
          'slots': {'state': {'values': {'on': {'data': True}, 'off': {'data': False}}}},
          'publish': {'type': 'std_msgs/msg/Bool', 'topic': 'lights', 'message': {'data': '{state.data}'}},
          'replies': {'succeeded': 'Lights {state}.', 'failed': "The lights won't: {reason}."}}


def make_skills(go_to: dict | None = None, battery: dict | None = None) -> Skills:
    """The shipped example (Nav2 + battery) with changes to its effects, plus a service and a publish."""
    data = yaml.safe_load(example_yaml())
    data['skills'][0]['action'].update(go_to or {})
    data['skills'][1]['read'].update(battery or {})
    data['skills'] += [DOCK, LIGHTS]
    return skills_from_yaml(yaml.safe_dump(data, sort_keys=False), 'skills.yaml (test)')


class FakeGoal:
    """An accepted goal whose end the test chooses; a cancel ends it 'canceled' unless told not to."""

    def __init__(self, honour_cancel: bool = True):
        self.ending = asyncio.get_running_loop().create_future()
        self.cancels = 0
        self.honour_cancel = honour_cancel
        self.on_feedback = None

    def result(self):
        return self.ending

    def cancel(self):
        self.cancels += 1
        if self.honour_cancel:
            self.finish('canceled')

    def finish(self, status, result=None):
        if not self.ending.done():
            self.ending.set_result(GoalResult(status, result))


class FakeEffects:
    """Records what reaches ROS; the test chooses how each call ends."""

    def __init__(self):
        self.goals: list[tuple[str, str, dict, FakeGoal]] = []
        self.send_error: Exception | None = None
        self.hang = False                   # the call never returns (a server that never answers)
        self.accept: asyncio.Event | None = None   # set: the goal is accepted only when the test says
        self.honour_cancel = True
        self.service_response = None
        self.published: list[tuple[str, str, dict]] = []
        self.publish_error: Exception | None = None
        self.field_value = None
        self.read_error: Exception | None = None
        self.calls: list[tuple] = []

    async def _maybe_hang(self):
        if self.hang:
            await asyncio.Event().wait()

    async def send_goal(self, action_type, action_name, goal, on_feedback, timeout):
        self.calls.append(('send_goal', action_type, action_name, timeout))
        await self._maybe_hang()
        if self.accept is not None:
            await self.accept.wait()
        if self.send_error is not None:
            raise self.send_error
        handle = FakeGoal(self.honour_cancel)
        handle.on_feedback = on_feedback
        self.goals.append((action_type, action_name, goal, handle))
        return handle

    async def call_service(self, service_type, service_name, request, timeout):
        self.calls.append(('call_service', service_type, service_name, request, timeout))
        await self._maybe_hang()
        return self.service_response

    def publish(self, message_type, topic, message):
        if self.publish_error is not None:
            raise self.publish_error
        self.published.append((message_type, topic, message))

    async def read_field(self, message_type, topic, field, timeout):
        self.calls.append(('read_field', message_type, topic, field, timeout))
        await self._maybe_hang()
        if self.read_error is not None:
            raise self.read_error
        return self.field_value


class Fallback:
    """The LLM's place: records what reached it."""

    def __init__(self):
        self.prompts = []

    async def reply(self, request, outcome, on_token, on_sentence):
        self.prompts.append(request.prompt)
        outcome.text, outcome.finish_reason = 'Paris.', 'stop'
        on_sentence('Paris.')
        return outcome


class Rig:
    """A SkillSource with its fakes, and what it said and announced."""

    def __init__(self, skills: Skills | None = None, effects: FakeEffects | None = 'fake'):
        self.effects = FakeEffects() if effects == 'fake' else effects
        self.clock = FakeClock()
        self.announced: list[str] = []
        self.fallback = Fallback()
        self.languages: list[str] = []   # of each announcement
        self.source = SkillSource(skills or make_skills(), self.effects, self._announce,
                                  fallback=self.fallback, clock=self.clock)

    def _announce(self, text: str, language: str) -> None:
        self.announced.append(text)
        self.languages.append(language)

    async def ask(self, text: str) -> tuple[ReplyOutcome, list[str]]:
        """One turn: its outcome and the sentences it sent to tts."""
        sentences: list[str] = []
        outcome = await self.source.reply(ReplyRequest(prompt=text), ReplyOutcome(),
                                          on_sentence=sentences.append)
        return outcome, sentences

    async def say(self, text: str) -> str:
        outcome, sentences = await self.ask(text)
        assert outcome.finish_reason == 'stop'
        assert ' '.join(sentences) == outcome.text
        return outcome.text


async def settle():
    """Let the goal tasks run what is ready."""
    for _ in range(5):
        await asyncio.sleep(0)


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario(), 10))


# ---------------------------------------------------------------- action goals

def test_a_goal_is_accepted_in_the_turn_and_its_success_announced_after():
    async def scenario():
        rig = Rig()
        outcome, sentences = await rig.ask('Go to the kitchen.')
        assert sentences == ['Going to the kitchen.'] and outcome.text == 'Going to the kitchen.'
        assert outcome.finish_reason == 'stop' and outcome.token_count == 1
        action_type, name, goal, handle = rig.effects.goals[0]
        assert (action_type, name) == ('nav2_msgs/action/NavigateToPose', 'navigate_to_pose')
        assert goal == {'pose': {'header': {'frame_id': 'map'},
                                 'pose': {'position': {'x': 1.0, 'y': 2.0},
                                          'orientation': {'z': 0.0, 'w': 1.0}}}}
        running = [(info.skill, dict(info.slots)) for info in rig.source.running()]
        assert running == [('go_to', {'place': 'kitchen'})]
        assert rig.announced == []
        handle.finish('succeeded')
        await settle()
        assert rig.announced == ["I'm at the kitchen."]
        assert rig.source.running() == ()
    run(scenario)


def test_the_yaw_of_a_place_becomes_its_quaternion():
    async def scenario():
        rig = Rig()
        await rig.say('Drive to the charger please')
        orientation = rig.effects.goals[0][2]['pose']['pose']['orientation']
        assert orientation['z'] == pytest.approx(1.0, abs=1e-3)
        assert orientation['w'] == pytest.approx(0.0, abs=1e-3)
    run(scenario)


def test_an_aborted_goal_is_announced_as_a_failure():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        rig.effects.goals[0][3].finish('aborted')
        await settle()
        assert rig.announced == ["I couldn't get to the kitchen: the navigate to pose action server gave up "
                                 'on the goal.']
    run(scenario)


def test_stop_cancels_the_goal_and_says_so_once():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        handle = rig.effects.goals[0][3]
        stop = rig.source.skills.match('Stop.')
        assert await rig.say('Stop.') == 'I stopped going to the kitchen.'
        assert stop.kind.name == 'STOP' and handle.cancels == 1
        await settle()
        assert rig.announced == []          # the stop turn said it; the cancellation is not announced again
        assert rig.source.running() == ()
        assert rig.fallback.prompts == []   # stop never reaches the LLM
    run(scenario)


def test_stop_with_nothing_running_says_nothing():
    async def scenario():
        rig = Rig()
        outcome, sentences = await rig.ask('Never mind.')
        assert (outcome.text, sentences, outcome.finish_reason) == ('', [], 'stop')
        assert rig.source.stop_all() == ()
    run(scenario)


def test_a_goal_that_ends_otherwise_in_spite_of_the_stop_is_announced():
    async def scenario():
        rig = Rig()
        rig.effects.honour_cancel = False
        await rig.say('Go to the kitchen.')
        stopped = rig.source.stop_all()
        assert [(info.skill, info.text) for info in stopped] == [('go_to', 'Go to the kitchen.')]
        rig.effects.goals[0][3].finish('succeeded')
        await settle()
        assert rig.announced == ["I'm at the kitchen."]
    run(scenario)


def test_a_goal_cancelled_by_someone_else_is_announced_as_cancelled():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        rig.effects.goals[0][3].finish('canceled')
        await settle()
        assert rig.announced == ['I stopped going to the kitchen.']
    run(scenario)


def test_a_new_goal_of_the_same_skill_replaces_the_running_one_without_a_word():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        assert await rig.say('Go to the charger.') == 'Going to the charger.'
        first, second = rig.effects.goals[0][3], rig.effects.goals[1][3]
        assert first.cancels == 1 and second.cancels == 0
        await settle()
        assert [dict(info.slots) for info in rig.source.running()] == [{'place': 'charger'}]
        second.finish('succeeded')
        await settle()
        assert rig.announced == ["I'm at the charger."]
    run(scenario)


def test_a_missing_action_server_is_a_spoken_failure():
    async def scenario():
        rig = Rig()
        rig.effects.send_error = SkillEffectError('no navigate to pose action server is running')
        assert await rig.say('Go to the kitchen.') == \
            "I couldn't get to the kitchen: no navigate to pose action server is running."
        assert rig.source.running() == () and rig.announced == []
    run(scenario)


def test_a_server_that_never_answers_is_a_spoken_failure_within_the_timeout():
    async def scenario():
        rig = Rig(make_skills(go_to={'server_timeout': 0.05}))
        rig.effects.hang = True
        started = time.monotonic()
        text = await rig.say('Go to the kitchen.')
        assert time.monotonic() - started < 1.0
        assert text == ("I couldn't get to the kitchen: the navigate to pose action server did not answer "
                        'within 0.05 seconds.')
        assert rig.effects.calls[0] == ('send_goal', 'nav2_msgs/action/NavigateToPose', 'navigate_to_pose',
                                        0.05)
        assert rig.source.running() == ()
    run(scenario)


def test_a_broken_effects_object_is_a_spoken_failure_not_a_crash():
    async def scenario():
        rig = Rig()
        rig.effects.send_error = RuntimeError('rclpy exploded')
        assert await rig.say('Go to the kitchen.') == \
            "I couldn't get to the kitchen: sending the goal to the navigate to pose action server failed."
    run(scenario)


def test_no_effects_at_all_is_a_spoken_failure():
    async def scenario():
        rig = Rig(effects=None)
        assert await rig.say('Go to the kitchen.') == \
            "I couldn't get to the kitchen: I have no connection to the robot."
    run(scenario)


def test_a_goal_that_takes_too_long_is_cancelled_and_announced_failed():
    async def scenario():
        rig = Rig(make_skills(go_to={'timeout': 0.05}))
        rig.effects.honour_cancel = False
        await rig.say('Go to the kitchen.')
        await asyncio.sleep(0.2)
        assert rig.effects.goals[0][3].cancels == 1
        assert rig.announced == ["I couldn't get to the kitchen: it took longer than 0.05 seconds."]
        assert rig.source.running() == ()
    run(scenario)


def test_feedback_is_said_at_most_once_per_feedback_period():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        on_feedback = rig.effects.goals[0][3].on_feedback
        on_feedback({'distance_remaining': 7.2})       # too soon after acceptance
        rig.clock.advance(20)
        on_feedback(types.SimpleNamespace(distance_remaining=6.6))   # a message object works as a dict does
        rig.clock.advance(5)
        on_feedback({'distance_remaining': 3.1})       # too soon after the last one said
        rig.clock.advance(15)
        on_feedback({'distance_remaining': 0.4})
        on_feedback({'no_such_field': 1})              # skipped, not a crash
        assert rig.announced == ['7 meters to the kitchen.', '0 meters to the kitchen.']
    run(scenario)


def test_a_turn_cancelled_while_its_goal_is_sent_leaves_the_goal_running():
    async def scenario():
        rig = Rig()
        rig.effects.accept = asyncio.Event()
        turn = asyncio.ensure_future(rig.ask('Go to the kitchen.'))
        await settle()
        turn.cancel()                     # the person said something else meanwhile
        with pytest.raises(asyncio.CancelledError):
            await turn
        rig.effects.accept.set()
        await settle()
        assert len(rig.effects.goals) == 1 and rig.effects.goals[0][3].cancels == 0
        assert rig.announced == []        # the acceptance belonged to the turn that is gone
        rig.effects.goals[0][3].finish('succeeded')
        await settle()
        assert rig.announced == ["I'm at the kitchen."]
    run(scenario)


def test_a_goal_whose_turn_is_gone_announces_its_failure_to_send():
    async def scenario():
        rig = Rig()
        rig.effects.accept = asyncio.Event()
        turn = asyncio.ensure_future(rig.ask('Go to the kitchen.'))
        await settle()
        turn.cancel()
        rig.effects.send_error = SkillEffectError('the goal was rejected')
        rig.effects.accept.set()
        await settle()
        assert rig.announced == ["I couldn't get to the kitchen: the goal was rejected."]
    run(scenario)


def test_stop_while_a_goal_is_sent_cancels_it_once_accepted():
    async def scenario():
        rig = Rig()
        rig.effects.accept = asyncio.Event()
        turn = asyncio.ensure_future(rig.ask('Go to the kitchen.'))
        await settle()
        assert await rig.say('Stop.') == 'I stopped going to the kitchen.'
        rig.effects.accept.set()
        outcome, sentences = await turn
        assert sentences == []            # stopped before it was accepted: no "Going to the kitchen"
        assert rig.effects.goals[0][3].cancels == 1
        await settle()
        assert rig.announced == [] and rig.source.running() == ()
    run(scenario)


def test_close_cancels_the_goals_and_the_timers():
    async def scenario():
        rig = Rig()
        await rig.say('Go to the kitchen.')
        await rig.say('Set a timer for five seconds.')
        rig.source.close()
        await settle()
        assert rig.effects.goals[0][3].cancels == 1
        rig.clock.advance(10)
        assert rig.announced == [] and rig.source.running() == ()
    run(scenario)


# ---------------------------------------------------------------- services, topics

def test_read_field_is_formatted_into_the_reply():
    async def scenario():
        rig = Rig()
        rig.effects.field_value = 0.853
        assert await rig.say('What is your battery level?') == 'My battery is at 85%.'
        assert rig.effects.calls == [('read_field', 'sensor_msgs/msg/BatteryState', 'battery_state',
                                      'percentage', 3.0)]
    run(scenario)


def test_a_topic_without_messages_is_a_spoken_failure_within_the_timeout():
    async def scenario():
        rig = Rig(make_skills(battery={'timeout': 0.05}))
        rig.effects.hang = True
        started = time.monotonic()
        assert await rig.say('How much battery do you have left?') == \
            "I can't tell my battery level: no message came on battery state within 0.05 seconds."
        assert time.monotonic() - started < 1.0
        rig.effects.hang = False
        rig.effects.read_error = SkillEffectError('nothing publishes battery_state')
        assert await rig.say('Battery level.') == \
            "I can't tell my battery level: nothing publishes battery_state."
    run(scenario)


def test_a_value_the_format_does_not_fit_is_said_plainly():
    async def scenario():
        rig = Rig()
        rig.effects.field_value = 'unknown'
        assert await rig.say('What is your battery level?') == 'My battery is at unknown.'
    run(scenario)


def test_a_service_call_and_its_reported_failure():
    async def scenario():
        rig = Rig()
        rig.effects.service_response = {'success': True, 'message': 'on the charger'}
        assert await rig.say('Dock.') == 'Docked: on the charger.'
        assert rig.effects.calls[-1] == ('call_service', 'std_srvs/srv/Trigger', 'dock', {}, 0.05)
        rig.effects.service_response = types.SimpleNamespace(success=False, message='the dock is occupied')
        assert await rig.say('Dock.') == "I can't dock: the dock is occupied."
        rig.effects.hang = True
        assert await rig.say('Dock.') == "I can't dock: the dock service did not answer within 0.05 seconds."
    run(scenario)


def test_publish_fills_the_message_from_the_slot():
    async def scenario():
        rig = Rig()
        assert await rig.say('Turn the lights off.') == 'Lights off.'
        assert rig.effects.published == [('std_msgs/msg/Bool', 'lights', {'data': False})]
        rig.effects.publish_error = SkillEffectError('no lights topic type std_msgs/msg/Bool')
        assert await rig.say('Turn the lights on.') == \
            "The lights won't: no lights topic type std_msgs/msg/Bool."
    run(scenario)


# ---------------------------------------------------------------- built-ins and the LLM's share

def test_builtins_answer_from_the_clock():
    async def scenario():
        rig = Rig()
        assert await rig.say('What time is it?') == "It's 3:05 PM."
        assert await rig.say("What's the date today?") == 'Today is Tuesday, March 4th, 2025.'
        assert await rig.say('Hey Jarvis, set a timer for three seconds.') == 'Timer set for 3 seconds.'
        assert await rig.say('Set a timer for five minutes.') == 'Timer set for 5 minutes.'
        rig.clock.advance(1)
        assert await rig.say('How long is left on the timer?') == (
            'You have 2 timers. The 3 second timer has 2 seconds left. '
            'The 5 minute timer has 4 minutes and 59 seconds left.')
        rig.clock.advance(2)
        assert rig.announced == ["Time's up! Your 3 second timer is done."]
        assert await rig.say('Cancel the timer.') == 'Timer cancelled.'
        rig.clock.advance(600)
        assert rig.announced == ["Time's up! Your 3 second timer is done."]
    run(scenario)


def test_what_can_you_do_lists_the_skills_from_their_descriptions():
    async def scenario():
        rig = Rig()
        assert await rig.say('What can you do?') == (
            "I can tell the time, tell the date, run timers, remember your name, stop what I'm doing, go to "
            'the kitchen or the charger, tell my battery level, dock at my charger and turn my lights on or '
            'off. '
            "Anything else, I'll try to answer.")
    run(scenario)


def test_what_no_skill_takes_goes_to_the_fallback():
    async def scenario():
        rig = Rig()
        outcome, sentences = await rig.ask('What is the capital of France?')
        assert rig.fallback.prompts == ['What is the capital of France?']
        assert sentences == ['Paris.'] and rig.effects.calls == []
        alone = SkillSource(make_skills(), None, lambda text: None)
        with pytest.raises(LookupError, match='no skill takes'):
            await alone.reply(ReplyRequest(prompt='What is the capital of France?'), ReplyOutcome())
    run(scenario)


# ---------------------------------------------------------------- in the real coordinator

def test_the_coordinator_runs_skill_turns_and_llm_turns_alike():
    from test_coordinator import Loop, ScriptedSource, make, wait

    loop = Loop()
    try:
        announced = []
        effects = FakeEffects()
        box = []
        source = SkillSource(make_skills(), effects, announced.append, fallback=ScriptedSource(),
                             clock=FakeClock(), on_skill=lambda outcome, name: box[0].on_skill(outcome, name))
        coordinator, recorded = make(loop, source)
        box.append(coordinator)
        coordinator.on_wake_word('hey_jarvis')
        coordinator.on_transcript('Go to the kitchen.')
        assert wait(lambda: len(recorded.spoken) == 1)
        assert recorded.spoken[0].text == 'Going to the kitchen.'
        recorded.spoken[0].play()
        assert wait(lambda: recorded.state_names()[-1] == 'IDLE')
        assert recorded.metrics == ['stop'] and recorded.sentences == ['Going to the kitchen.']
        assert recorded.states[2:4] == [('THINKING', 'TRANSCRIPTION_FINAL'), ('THINKING', 'SKILL')]
        assert recorded.details[3] == 'go_to'
        shown = len(recorded.states)

        coordinator.on_transcript('What is the capital of France?')     # the LLM's, the goal runs on
        assert wait(lambda: len(recorded.spoken) == 2)
        assert recorded.spoken[1].text == 'Paris is the capital.'
        recorded.spoken[1].play()
        assert wait(lambda: recorded.state_names()[-1] == 'IDLE')
        assert 'SKILL' not in [cause for _, cause in recorded.states[shown:]]   # the LLM answered

        coordinator.on_transcript('Stop.')
        assert wait(lambda: len(recorded.spoken) == 3)
        assert recorded.spoken[2].text == 'I stopped going to the kitchen.'
        assert effects.goals[0][3].cancels == 1 and wait(lambda: source.running() == ())
        recorded.spoken[2].play()
        assert wait(lambda: recorded.state_names()[-1] == 'IDLE') and announced == []
        assert recorded.details[-4:-2] == ['Stop.', 'stop']   # THINKING by the transcript, then SKILL
    finally:
        loop.close()
