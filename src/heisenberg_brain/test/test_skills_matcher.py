"""What each phrasing asks for: a skill with its slots, or nothing (the LLM's), as a case table.

The phrasings are written both clean and the way Whisper tiny.en writes them (capitals,
final punctuation, digits or number words, the wake word in front, "please" behind). The
skills are the shipped skills.yaml with its Nav2 + battery example switched on.
"""

from __future__ import annotations

import time

import pytest

from heisenberg_brain.core.skills import MatchKind, load_skills, skills_from_yaml
from heisenberg_brain.core.skills.matcher import normalize
from skills_support import SKILLS_YAML, example_yaml

SKILLS = skills_from_yaml(example_yaml(), 'skills.yaml (example)')

# (text, 'skill' or 'skill.request', slots) -- skill None: no skill takes it, it goes to the LLM.
CASES = [
    # the time and the date
    ('What time is it?', 'time', {}),
    ('what time is it', 'time', {}),
    ("What's the time?", 'time', {}),
    ('What is the time?', 'time', {}),
    ('Hey Jarvis, what time is it?', 'time', {}),
    ('What time is it now?', 'time', {}),
    ('What time is it right now?', 'time', {}),
    ('Do you know what time it is?', 'time', {}),
    ('Tell me the time, please.', 'time', {}),
    ("What's the date today?", 'date', {}),
    ("What is today's date?", 'date', {}),
    ('Whats the date', 'date', {}),
    ('What day is it today?', 'date', {}),
    ('What day of the week is it?', 'date', {}),
    # timers: set
    ('Set a timer for five minutes.', 'timer.set', {'duration': 300}),
    ('set a timer for 5 minutes', 'timer.set', {'duration': 300}),
    ('Hey Jarvis, set a timer for three seconds.', 'timer.set', {'duration': 3}),
    ('Set a 3 second timer.', 'timer.set', {'duration': 3}),
    ('Set a 3-second timer.', 'timer.set', {'duration': 3}),
    ('set a three second timer', 'timer.set', {'duration': 3}),
    ('Set a timer for twenty-five minutes.', 'timer.set', {'duration': 1500}),
    ('Set a timer for 2 minutes and 30 seconds.', 'timer.set', {'duration': 150}),
    ('Set a timer for one hour and 30 minutes.', 'timer.set', {'duration': 5400}),
    ('Set a timer for one hundred and twenty seconds.', 'timer.set', {'duration': 120}),
    ('Set a timer for a minute.', 'timer.set', {'duration': 60}),
    ('Set a timer for half an hour.', 'timer.set', {'duration': 1800}),
    ('Can you set a timer for 10 seconds?', 'timer.set', {'duration': 10}),
    ('Start a timer for 90 seconds, please.', 'timer.set', {'duration': 90}),
    ('Timer for 10 minutes.', 'timer.set', {'duration': 600}),
    # timers: how long is left, cancel
    ('How long is left?', 'timer.left', {}),
    ('How long is left on the timer?', 'timer.left', {}),
    ('How much time is left?', 'timer.left', {}),
    ('How much time is left on my timer?', 'timer.left', {}),
    ('How long until the timer goes off?', 'timer.left', {}),
    ("What's left on the timer?", 'timer.left', {}),
    ('Cancel the timer.', 'timer.cancel', {}),
    ('Cancel my timers.', 'timer.cancel', {}),
    ('Stop the timer.', 'timer.cancel', {}),
    ('Cancel all timers', 'timer.cancel', {}),
    ('Cancel the five minute timer.', 'timer.cancel', {'duration': 300}),
    ('Cancel the 5-minute timer.', 'timer.cancel', {'duration': 300}),
    # stop
    ('Stop.', 'stop', {}),
    ('stop', 'stop', {}),
    ('STOP!', 'stop', {}),
    ('Stop, stop!', 'stop', {}),
    ('Hey Jarvis, stop.', 'stop', {}),
    ('Please stop.', 'stop', {}),
    ('Can you stop?', 'stop', {}),
    ('Stop it.', 'stop', {}),
    ('Stop talking.', 'stop', {}),
    ('Cancel.', 'stop', {}),
    ('Cancel that.', 'stop', {}),
    ('Never mind.', 'stop', {}),
    ('Nevermind.', 'stop', {}),
    ('Forget it.', 'stop', {}),
    ('Be quiet!', 'stop', {}),
    ('Quiet.', 'stop', {}),
    ('Shut up.', 'stop', {}),
    ("That's enough.", 'stop', {}),
    # help
    ('What can you do?', 'help', {}),
    ('What can you do for me?', 'help', {}),
    ('What are your skills?', 'help', {}),
    ('Help!', 'help', {}),
    # the person's name: only what can be told to be a name (capitalised, after "my name is"...)
    ('My name is Alice.', 'name.tell', {'name': 'Alice'}),
    ('Hey Jarvis, my name is Alice.', 'name.tell', {'name': 'Alice'}),
    ("My name's Bob.", 'name.tell', {'name': 'Bob'}),
    ('Call me Alice.', 'name.tell', {'name': 'Alice'}),
    ('You can call me Alice Smith.', 'name.tell', {'name': 'Alice Smith'}),
    ("I'm Alice.", 'name.tell', {'name': 'Alice'}),
    ('I am Alice.', 'name.tell', {'name': 'Alice'}),
    ('My name is Alice, please.', 'name.tell', {'name': 'Alice'}),
    ("My name is O'Brien.", 'name.tell', {'name': "O'Brien"}),
    ('My name is Mary-Jane.', 'name.tell', {'name': 'Mary-Jane'}),
    ('What is my name?', 'name.ask', {}),
    ("What's my name?", 'name.ask', {}),
    ('Whats my name', 'name.ask', {}),
    ('Who am I?', 'name.ask', {}),
    ('Do you remember my name?', 'name.ask', {}),
    # the Nav2 example
    ('Go to the kitchen.', 'go_to', {'place': 'kitchen'}),
    ('go to kitchen', 'go_to', {'place': 'kitchen'}),
    ('Drive to the charger please', 'go_to', {'place': 'charger'}),
    ('Hey Jarvis, go to the kitchen.', 'go_to', {'place': 'kitchen'}),
    ('Go back to the charger.', 'go_to', {'place': 'charger'}),
    ('Please navigate to the Kitchen now.', 'go_to', {'place': 'kitchen'}),
    ('Take me to the kitchen.', 'go_to', {'place': 'kitchen'}),
    # the battery example
    ('What is your battery level?', 'battery', {}),
    ("What's your battery?", 'battery', {}),
    ('How much battery do you have left?', 'battery', {}),
    ('Battery level.', 'battery', {}),
    # not a skill's: these reach the LLM
    ('What is the capital of France?', None, None),
    ('Tell me about the kitchen of France', None, None),
    ('Why do people stop smoking?', None, None),
    ('What time zone is Paris in?', None, None),
    ('What time does the store open?', None, None),
    ('What is the time in Tokyo?', None, None),
    ('What day is Christmas?', None, None),
    ("Don't stop.", None, None),
    ('Stop the music.', None, None),
    ('Cancel my subscription.', None, None),
    ('Never mind the weather, tell me a joke.', None, None),
    ('How long is the Nile?', None, None),
    ('What can you tell me about timers?', None, None),
    ('Can you help me with my homework?', None, None),
    ('Go to the garage.', None, None),
    ('Go to the kitchen and make me a sandwich.', None, None),
    ('What is the battery level of an iPhone?', None, None),
    ('Set a timer for 2 and a half minutes.', None, None),
    ('Set the table.', None, None),
    ('Thank you.', None, None),
    ("I'm hungry.", None, None),
    ("I'm so tired.", None, None),
    ("I'm back.", None, None),
    ("I'm French.", None, None),
    ("I'm OK.", None, None),
    ('I am a teacher.', None, None),
    ('Call me later.', None, None),
    ('Call me tomorrow at 5.', None, None),
    ('My name is not important.', None, None),
    ('My name is Alice and I live in Paris.', None, None),
    ('What is my name in Japanese?', None, None),
    ('What does my name mean?', None, None),
    ('[BLANK_AUDIO]', None, None),
    ('', None, None),
]


def _name(match) -> str:
    return f'{match.skill}.{match.intent}' if match.intent else match.skill


@pytest.mark.parametrize('text, skill, slots', CASES, ids=[case[0] or '<empty>' for case in CASES])
def test_what_a_phrasing_asks_for(text, skill, slots):
    match = SKILLS.match(text)
    if skill is None:
        assert match is None, f'{text!r} should reach the LLM, but {_name(match)} took it'
        return
    assert match is not None, f'{text!r} should be {skill}, but nothing matched'
    assert (_name(match), dict(match.slots)) == (skill, slots)
    assert match.text == text.strip()


def test_the_table_is_big_enough_and_balanced():
    assert len(CASES) >= 60
    assert sum(skill is None for _, skill, _ in CASES) >= 15


@pytest.mark.parametrize('text, kind', [
    ('Stop.', MatchKind.STOP), ('Never mind.', MatchKind.STOP), ('Be quiet!', MatchKind.STOP),
    ('Stop the timer.', MatchKind.BUILTIN), ('What time is it?', MatchKind.BUILTIN),
    ('Go to the kitchen.', MatchKind.ROS), ('What is your battery level?', MatchKind.ROS),
])
def test_the_kind_of_a_match(text, kind):
    assert SKILLS.match(text).kind is kind


def test_numbers_are_ints_whether_said_in_words_or_digits():
    said, written = SKILLS.match('set a timer for five minutes'), SKILLS.match('set a timer for 5 minutes')
    assert said.slots == written.slots == {'duration': 300}
    assert type(said.slots['duration']) is int and type(written.slots['duration']) is int


@pytest.mark.parametrize('text, normalized', [
    ('Set a 3-second timer.', 'Set a 3 second timer.'),
    ('one hundred and twenty seconds', 'one hundred twenty seconds'),
    ('Whats the time', "what's the time"),
    ('[BLANK_AUDIO] Stop. (upbeat music)', 'Stop.'),
    ('  go   to the kitchen ', 'go to the kitchen'),
])
def test_normalize(text, normalized):
    assert normalize(text) == normalized


def test_the_shipped_file_has_the_builtins_alone():
    skills = load_skills(SKILLS_YAML)
    assert [info.name for info in skills.listing()] == ['time', 'date', 'timer', 'name', 'stop', 'help']
    assert skills.match('Go to the kitchen.') is None
    assert skills.match('Set a timer for five minutes.').slots == {'duration': 300}


def test_a_builtin_turned_off_matches_nothing():
    skills = skills_from_yaml('builtins: {timer: false}')
    assert skills.match('Set a timer for five minutes.') is None
    assert skills.match('How long is left?') is None
    assert skills.match('What time is it?').skill == 'time'
    assert 'timer' not in [info.name for info in skills.listing()]


def test_filler_words_of_the_file_are_ignored():
    assert skills_from_yaml('').match('Robot, what time is it?') is None
    assert skills_from_yaml('filler: [robot]').match('Robot, what time is it?').skill == 'time'


def test_a_number_slot_from_yaml():
    skills = skills_from_yaml('''
skills:
  - name: volume
    description: set my volume
    sentences: ["set [the] volume to {level} [percent]"]
    slots: {level: {range: {from: 0, to: 100}}}
    publish: {type: std_msgs/msg/Int32, topic: volume, message: {data: '{level}'}}
    replies: {succeeded: 'Volume {level}.', failed: "I can't: {reason}."}
''')
    assert dict(skills.match('Set the volume to forty percent.').slots) == {'level': 40}
    assert dict(skills.match('set volume to 7').slots) == {'level': 7}
    assert skills.match('Set the volume to 400.') is None


def test_matching_is_fast():
    started = time.perf_counter()
    for text, _, _ in CASES:
        SKILLS.match(text)
    per_match = (time.perf_counter() - started) / len(CASES)
    assert per_match < 0.02, f'{per_match * 1000:.1f} ms per match'


def test_the_listing_names_each_skill_with_its_description_and_sentences():
    listing = {info.name: info for info in SKILLS.listing()}
    assert listing['go_to'].description == 'go to the kitchen or the charger'
    assert listing['go_to'].kind == 'action' and listing['go_to'].llm is False
    assert listing['battery'].kind == 'read' and listing['battery'].llm is True
    assert 'take me to [the] {place}' in listing['go_to'].sentences
    assert listing['timer'].kind == 'builtin' and 'what time is it' in listing['time'].sentences


def test_stop_wins_over_a_skill_that_says_the_same():
    skills = skills_from_yaml('''
skills:
  - name: e_stop
    description: stop my motors
    sentences: ["[emergency] stop [now]", "freeze"]
    publish: {type: std_msgs/msg/Empty, topic: e_stop}
    replies: {succeeded: Motors stopped., failed: "I can't: {reason}."}
''')
    for text in ('Stop.', 'Stop now!', 'Please stop.'):
        match = skills.match(text)
        assert (match.skill, match.kind) == ('stop', MatchKind.STOP), text
    assert skills.match('Emergency stop!').skill == 'e_stop'
    assert skills.match('Freeze.').skill == 'e_stop'
