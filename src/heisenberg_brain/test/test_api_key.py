"""A llama-server shared beyond this host: its API key, and the slot a robot keeps its cache in.

Where the key comes from is a pure table; the rest runs the real llama-server with the registry
GGUF: a server with a key answers the right key and refuses a wrong or missing one with a
clear error, the llama_server node refuses to bind beyond loopback without a key (exit code 2),
and the brain turns a refused key into an ended goal that says what to fix, and says it in
its diagnostics before any turn.
"""

import asyncio
import contextlib
import json
import os
import urllib.request

import psutil
import pytest
from action_msgs.msg import GoalStatus
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

from heisenberg_brain.core.api_key import ApiKeyError, is_loopback, resolve_api_key
from heisenberg_brain.core.config import LLMConfig
from heisenberg_brain.core.llama_server import (
    LlamaServerConfig, LlamaServerProcess, ServerKeyError, free_port)
from heisenberg_brain.core.llm_client import Done, LlamaClient, LLMAuthError, Token
from heisenberg_common.qos import EVENTS
from heisenberg_common.runner import CONFIG_EXIT_CODE
from heisenberg_testing.processes import NodeProcess, write_params
from heisenberg_testing.ros_client import RosClient

from test_brain_node import Session, start_brain

KEY = 'robot-fleet-key-1'
QUESTION = ('<|im_start|>system\nYou are a concise assistant.<|im_end|>\n'
            '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n')


# -- where the key comes from ----------------------------------------------------------------

@pytest.mark.parametrize('host, loopback', [
    ('127.0.0.1', True), ('127.0.1.7', True), ('::1', True), ('localhost', True),
    ('/run/llama.sock', True), ('127.0.0.1,::1', True),
    ('0.0.0.0', False), ('10.0.0.2', False), ('::', False), ('127.0.0.1,10.0.0.2', False),
    ('llm.local', False),   # a name may resolve to any interface
])
def test_which_hosts_stay_on_this_machine(host, loopback):
    assert is_loopback(host) is loopback


def test_the_key_comes_from_the_file_first_then_the_variable(tmp_path):
    keys = tmp_path / 'keys'
    keys.write_text('# the fleet\n\n  first-key  \nsecond-key\n')
    env = {'MY_KEY': ' from-env '}
    assert resolve_api_key(str(keys), 'MY_KEY', env) == 'first-key'
    assert resolve_api_key('', 'MY_KEY', env) == 'from-env'
    assert resolve_api_key('', 'UNSET_KEY', env) == ''
    assert resolve_api_key('', '', env) == ''


@pytest.mark.parametrize('content, expected', [
    (None, 'cannot be read'), ('', 'holds no key'), ('# only a comment\n\n', 'holds no key')])
def test_a_named_key_file_without_a_key_is_an_error(tmp_path, content, expected):
    path = tmp_path / 'keys'
    if content is not None:
        path.write_text(content)
    with pytest.raises(ApiKeyError, match=expected) as error:
        resolve_api_key(str(path), 'MY_KEY', {'MY_KEY': 'ignored: the file was named'})
    assert str(path) in str(error.value)


def test_a_server_beyond_loopback_without_a_key_is_refused_before_it_starts(gguf_path, monkeypatch):
    monkeypatch.delenv('HEISENBERG_LLM_API_KEY', raising=False)
    server = LlamaServerProcess(LlamaServerConfig(model_path=str(gguf_path), host='0.0.0.0', port=0))
    with pytest.raises(ServerKeyError, match='beyond loopback and no API key') as error:
        server.start()
    assert 'HEISENBERG_LLM_API_KEY' in str(error.value) and not server.running()


# -- the real llama-server -------------------------------------------------------------------

async def _answer(config: LLMConfig, api_key: str, prompt: str = QUESTION) -> tuple[str, Done]:
    text = ''
    async with LlamaClient(config, api_key) as client:
        async with contextlib.aclosing(client.stream(prompt, max_tokens=16)) as replies:
            async for item in replies:
                if isinstance(item, Token):
                    text += item.text
                else:
                    return text, item
    raise AssertionError('the stream ended without Done')


def answer(config: LLMConfig, api_key: str) -> tuple[str, Done]:
    return asyncio.run(_answer(config, api_key))


@pytest.fixture(scope='module')
def keyed_server(gguf_path, tmp_path_factory):
    """llama-server with a key file and two slots (two robots)."""
    folder = tmp_path_factory.mktemp('keyed')
    keys = folder / 'keys'
    keys.write_text(f'# fleet keys\n{KEY}\n')
    config = LlamaServerConfig(model_path=str(gguf_path), port=0, context_size=2048, parallel_slots=2,
                               api_key_file=str(keys))
    with LlamaServerProcess(config, log_path=folder / 'llama-server.log') as server:
        yield server


@pytest.mark.llm
def test_the_right_key_gets_an_answer_a_wrong_or_no_key_a_clear_error(keyed_server):
    config = LLMConfig(endpoint=keyed_server.completion_url, temperature=0.0, seed=42)
    text, done = answer(config, KEY)
    assert 'Paris' in text and done.finish_reason in ('stop', 'length')

    with pytest.raises(LLMAuthError) as wrong:
        answer(config, 'not-the-key')
    message = str(wrong.value)
    assert 'refused the API key' in message and 'Invalid API Key' in message
    assert keyed_server.base_url in message and 'llm.api_key_file' in message
    assert 'not-the-key' not in message   # the key is never echoed

    with pytest.raises(LLMAuthError, match='wants an API key and none was sent'):
        answer(config, '')


@pytest.mark.llm
def test_the_key_from_a_variable_reaches_the_server_but_not_its_command_line(
        gguf_path, tmp_path, monkeypatch):
    monkeypatch.setenv('FLEET_LLM_KEY', KEY)
    config = LlamaServerConfig(model_path=str(gguf_path), port=0, context_size=1024,
                               api_key_env='FLEET_LLM_KEY')
    with LlamaServerProcess(config, log_path=tmp_path / 'llama-server.log') as server:
        [process] = [p for p in psutil.process_iter(['cmdline'])
                     if '--port' in (p.info['cmdline'] or []) and str(server.port) in p.info['cmdline']]
        assert not any(KEY in part for part in process.info['cmdline'])
        llm = LLMConfig(endpoint=server.completion_url, temperature=0.0, seed=42)
        assert 'Paris' in answer(llm, KEY)[0]
        with pytest.raises(LLMAuthError):
            answer(llm, 'not-the-key')


@pytest.mark.llm
def test_each_robot_keeps_its_prompt_cache_in_the_slot_it_names(gguf_path, tmp_path):
    # Two robots' brains on a fresh two-slot server: robot 1 names slot 1, robot 0 slot 0.
    config = LlamaServerConfig(model_path=str(gguf_path), port=0, context_size=2048, parallel_slots=2)

    async def main(server):
        seen = {}
        robots = {slot: LlamaClient(LLMConfig(endpoint=server.completion_url, slot_id=slot))
                  for slot in (0, 1)}
        for client in robots.values():
            await client.start()
        try:
            seen['read 1'] = await robots[1].prefill(QUESTION + 'Robot one asks.')
            seen['after 1'] = {slot['id']: slot for slot in await robots[1].slots()}
            seen['read 0'] = await robots[0].prefill(QUESTION + 'Robot zero asks, another question.')
            seen['read 1 again'] = await robots[1].prefill(QUESTION + 'Robot one asks.')
            seen['after both'] = {slot['id']: slot for slot in await robots[0].slots()}
        finally:
            for client in robots.values():
                await client.close()
        return seen

    with LlamaServerProcess(config, log_path=tmp_path / 'llama-server.log') as server:
        seen = asyncio.run(main(server))
    assert 'id_task' in seen['after 1'][1] and 'id_task' not in seen['after 1'][0], seen['after 1']
    assert seen['after 1'][1]['n_prompt_tokens'] == seen['read 1'] > 20
    assert seen['read 0'] > 0 and 'id_task' in seen['after both'][0]
    # Robot 0's turn in slot 0 left robot 1's cache alone: its next turn reads (almost) nothing.
    assert seen['read 1 again'] <= 1, seen


# -- the nodes -------------------------------------------------------------------------------

@pytest.mark.parametrize('params, expected', [
    ({'host': '0.0.0.0'}, 'beyond loopback and no API key is set'),
    ({'host': '0.0.0.0', 'api_key_file': '/nonexistent/keys'},
     'API key file /nonexistent/keys cannot be read'),
], ids=['no key', 'missing key file'])
def test_the_llama_server_node_refuses_to_start_without_a_key(tmp_path, gguf_path, params, expected):
    env = dict(os.environ)
    env.pop('HEISENBERG_LLM_API_KEY', None)
    node = NodeProcess('heisenberg_brain.nodes.llama_server', 'llama_server', log_dir=tmp_path, env=env,
                       params_files=(write_params(tmp_path / 'p.yaml', 'llama_server', {
                           'model_path': str(gguf_path), 'port': free_port(), **params}),))
    try:
        code = node.process.wait(30)
    finally:
        node.stop()
    assert code == CONFIG_EXIT_CODE, node.output()
    assert expected in node.output()


@pytest.mark.llm
def test_a_brain_with_the_wrong_key_ends_the_turn_with_what_to_fix(tmp_path, keyed_server):
    keys = tmp_path / 'brain-key'
    keys.write_text('an-old-key\n')
    brain = start_brain(tmp_path, keyed_server.completion_url, namespace='wrongkey',
                        **{'llm.api_key_file': str(keys), 'error_hold': 1.0})
    try:
        with RosClient(namespace='wrongkey') as ros:
            statuses = []
            ros.node.create_subscription(DiagnosticArray, '/diagnostics',
                                         lambda array: statuses.extend(array.status), EVENTS)

            def refused_in_diagnostics():
                return any(status.name == '/wrongkey/brain: brain' and status.level == DiagnosticStatus.ERROR
                           and 'refused the API key' in status.message for status in statuses)
            # /health answers without a key: the diagnostics still say the key is wrong, before any turn.
            assert ros.wait_for(refused_in_diagnostics, 20), [(s.name, s.message) for s in statuses]
            session = Session(ros)
            result, _ = session.ask('What is the capital of France?', timeout=30)
            assert result.status == GoalStatus.STATUS_ABORTED
            assert result.result.finish_reason == 'error'
            assert 'refused the API key' in result.result.error, result.result.error
            assert ros.wait_for(lambda: session.state_names()[-1] == 'IDLE', 10)
            assert session.state_names()[-3:] == ['THINKING', 'ERROR', 'IDLE']
            error_state = [s for s in session.states if s.state_name == 'ERROR'][-1]
            assert 'refused the API key' in error_state.detail
        assert brain.alive(), brain.output()
        assert 'an-old-key' not in brain.output()
    finally:
        brain.stop()
    # The server was never asked for a completion: nothing generated for a refused request.
    assert not any(slot.get('is_processing') for slot in get_json_with_key(keyed_server, '/slots'))


@pytest.mark.llm
def test_a_brain_with_the_right_key_answers(tmp_path, keyed_server, monkeypatch):
    monkeypatch.setenv('FLEET_LLM_KEY', KEY)
    brain = start_brain(tmp_path, keyed_server.completion_url, namespace='rightkey',
                        **{'llm.api_key_env': 'FLEET_LLM_KEY'})
    try:
        with RosClient(namespace='rightkey') as ros:
            result, _ = Session(ros).ask('What is the capital of France?', timeout=120)
            assert result.status == GoalStatus.STATUS_SUCCEEDED, result.result.error
            assert 'Paris' in result.result.text
        assert 'with an API key' in brain.output()
    finally:
        brain.stop()


def get_json_with_key(server: LlamaServerProcess, path: str):
    request = urllib.request.Request(server.base_url + path, headers={'Authorization': f'Bearer {KEY}'})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())
