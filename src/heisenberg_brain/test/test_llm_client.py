"""LlamaClient against the real llama-server (marked llm), and faults injected by a scripted server."""

import asyncio
import contextlib
import dataclasses
import socket
import time

import aiohttp
import pytest
from heisenberg_testing.fake_llama import FakeLlama

from heisenberg_brain.core.config import LLMConfig
from heisenberg_brain.core.llama_server import free_port
from heisenberg_brain.core.llm_client import (
    LOADING_POLL, Done, LlamaClient, LLMConnectionError, LLMHTTPError, LLMProtocolError, LLMServerError,
    LLMTimeoutError, Token)

QUESTION = ('<|im_start|>system\nYou are a concise assistant.<|im_end|>\n'
            '<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n')
STORY = ('<|im_start|>user\nWrite a very long story about a robot who learns to cook, '
         'with many chapters.<|im_end|>\n<|im_start|>assistant\n')


async def collect(client: LlamaClient, prompt: str, **options):
    """(tokens, done) from one stream."""
    tokens, done = [], None
    async with contextlib.aclosing(client.stream(prompt, **options)) as replies:
        async for item in replies:
            if isinstance(item, Token):
                tokens.append(item)
            else:
                done = item
    return tokens, done


async def slot_busy(client: LlamaClient) -> bool:
    return any(slot.get('is_processing') for slot in await client.slots())


async def wait_slots_idle(client: LlamaClient, within: float) -> float | None:
    """Seconds until no slot is processing, or None if still busy after `within`."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        if not await slot_busy(client):
            return time.monotonic() - start
        await asyncio.sleep(0.05)
    return None


# -- the real llama-server --------------------------------------------------------------

@pytest.fixture
def real_config(llama_server):
    return LLMConfig(endpoint=llama_server.completion_url, temperature=0.0, seed=42)


@pytest.mark.llm
def test_stream_concatenates_to_the_non_streamed_text(real_config):
    async def main():
        async with LlamaClient(real_config) as client:
            tokens, done = await collect(client, QUESTION, max_tokens=32)
            body = dict(client.completion_body(QUESTION, max_tokens=32), stream=False)
            async with aiohttp.ClientSession() as session:
                async with session.post(real_config.endpoint, json=body) as response:
                    whole = (await response.json())['content']
        return tokens, done, whole

    tokens, done, whole = asyncio.run(main())
    assert 'Paris' in whole
    assert ''.join(token.text for token in tokens) == whole
    assert [token.index for token in tokens] == list(range(len(tokens)))
    assert isinstance(done, Done) and done.finish_reason == 'stop'
    assert done.token_count >= len(tokens) > 0
    assert 0 < done.time_to_first_token < 20
    assert done.timings['predicted_n'] == done.token_count


@pytest.mark.llm
def test_n_predict_limit_finishes_with_length(real_config):
    tokens, done = asyncio.run(_with_client(real_config, lambda c: collect(c, STORY, max_tokens=5)))
    assert done.finish_reason == 'length'
    assert done.token_count == 5
    assert 1 <= len(tokens) <= 5


@pytest.mark.llm
def test_stop_string_finishes_with_stop(real_config):
    tokens, done = asyncio.run(_with_client(real_config, lambda c: collect(c, QUESTION, stop=['.'])))
    assert done.finish_reason == 'stop'
    assert '.' not in ''.join(token.text for token in tokens)


@pytest.mark.llm
@pytest.mark.parametrize('how', ['cancel the consuming task', 'aclose the generator'])
def test_cancel_after_a_few_tokens_leaves_the_slot_idle(real_config, how):
    async def consume(client, seen: asyncio.Event, tokens: list):
        async for item in client.stream(STORY, max_tokens=2000):
            tokens.append(item)
            if len(tokens) == 3:
                seen.set()

    async def main():
        async with LlamaClient(real_config) as client:
            tokens = []
            if how == 'cancel the consuming task':
                seen = asyncio.Event()
                task = asyncio.create_task(consume(client, seen, tokens))
                await asyncio.wait_for(seen.wait(), 30)
                assert await slot_busy(client)  # generating 2000 tokens would take many seconds
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                replies = client.stream(STORY, max_tokens=2000)
                while len(tokens) < 3:
                    tokens.append(await replies.__anext__())
                assert await slot_busy(client)
                await replies.aclose()
            idle_after = await wait_slots_idle(client, within=2.0)
            # the server is still fine for the next request
            _, done = await collect(client, QUESTION, max_tokens=4)
            return tokens, idle_after, done

    tokens, idle_after, done = asyncio.run(main())
    assert all(isinstance(token, Token) for token in tokens)
    assert idle_after is not None, 'llama-server still generating 2 s after the stream was closed'
    assert done.token_count == 4


@pytest.mark.llm
def test_tokenize_template_context_health_slots(real_config):
    async def main(client: LlamaClient):
        tokens = await client.tokenize('Hello world')
        count = await client.count_tokens('Hello world, again')
        prompt = await client.apply_template([{'role': 'system', 'content': 'Be brief.'},
                                              {'role': 'user', 'content': 'Hi there'}])
        return tokens, count, prompt, await client.context_size(), await client.health(), await client.slots()

    tokens, count, prompt, n_ctx, healthy, slots = asyncio.run(_with_client(real_config, main))
    assert tokens and all(isinstance(token, int) for token in tokens)
    assert count > len(tokens)
    assert prompt == ('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n'
                      '<|im_start|>assistant\n')  # SmolLM2's own ChatML template
    assert n_ctx == 4096  # the fixture's context_size with one slot
    assert healthy is True
    assert len(slots) == 1 and slots[0]['n_ctx'] == 4096


def test_connection_refused_names_the_endpoint_and_how_to_start():
    port = free_port()  # nothing listens there
    config = LLMConfig(endpoint=f'http://127.0.0.1:{port}/completion', retries=2, retry_backoff=0.01)

    async def main(client: LlamaClient):
        with pytest.raises(LLMConnectionError) as caught:
            await collect(client, 'Hi')
        assert await client.health() is False
        return caught.value

    error = asyncio.run(_with_client(config, main))
    assert f'http://127.0.0.1:{port}/completion' in str(error)
    assert 'connection refused' in str(error)
    assert f'--port {port}' in str(error) and 'scripts/setup.sh' in str(error)


def test_connect_timeout_says_which():
    # A listener whose accept queue is full: the kernel drops further SYNs, so connect hangs.
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):
                filler = socket.socket()
                filler.setblocking(False)
                filler.connect_ex(('127.0.0.1', port))
                fillers.append(filler)
            time.sleep(0.05)
            config = LLMConfig(endpoint=f'http://127.0.0.1:{port}/completion', connect_timeout=0.2,
                               retries=0)
            with pytest.raises(LLMTimeoutError) as caught:
                asyncio.run(_with_client(config, lambda c: collect(c, 'Hi')))
        finally:
            for filler in fillers:
                filler.close()
    assert caught.value.which == 'connect'
    assert 'connect_timeout' in str(caught.value) and '0.2 s' in str(caught.value)


def test_not_started_is_a_clear_error():
    client = LlamaClient(LLMConfig())
    with pytest.raises(RuntimeError, match='start'):
        asyncio.run(collect(client, 'Hi'))


# -- faults from the scripted server ------------------------------------------------------

@pytest.fixture(scope='module')
def fake():
    with FakeLlama() as server:
        yield server


@pytest.fixture
def fake_config(fake):
    fake.requests.clear()
    return LLMConfig(endpoint=fake.completion_url, first_token_timeout=2.0, token_timeout=2.0,
                     total_timeout=10.0, retries=2, retry_backoff=0.01)


def run_fault(fake, config, **script):
    """Stream one reply through the scripted fault: (tokens before the error, the error)."""
    fake.script(**script)
    tokens = []

    async def main(client):
        async with contextlib.aclosing(client.stream('Hi')) as replies:
            async for item in replies:
                tokens.append(item)

    started = time.monotonic()
    try:
        asyncio.run(_with_client(config, main))
    except Exception as exc:  # noqa: B902 - the test asserts on its type
        error = exc
    else:
        error = None
    assert time.monotonic() - started < 5, 'a fault took too long to surface'
    assert fake.wait_idle(), 'the scripted server still has a stream open'
    return [item.text for item in tokens if isinstance(item, Token)], error


def test_clean_stream_from_the_fake(fake, fake_config):
    texts, error = run_fault(fake, fake_config)
    assert error is None and texts == ['Hello', ',', ' world', '.']
    sent = fake.requests[0]
    assert sent == {'prompt': 'Hi', 'stream': True, 'cache_prompt': True, 'id_slot': -1, 'n_predict': 512,
                    'temperature': 0.7, 'seed': -1, 'stop': []}


def test_overrides_and_stop_strings_are_sent(fake, fake_config):
    config = dataclasses.replace(fake_config, stop=('<|im_end|>',), slot_id=2)
    fake.script()
    asyncio.run(_with_client(config, lambda c: collect(c, 'Hi', max_tokens=7, temperature=0.0, seed=3,
                                                       stop=['\n', '<|im_end|>'])))
    assert fake.requests[-1] | {'prompt': None} == {
        'prompt': None, 'stream': True, 'cache_prompt': True, 'id_slot': 2, 'n_predict': 7,
        'temperature': 0.0, 'seed': 3, 'stop': ['<|im_end|>', '\n']}


def test_stall_before_the_first_token(fake, fake_config):
    config = dataclasses.replace(fake_config, first_token_timeout=0.3)
    texts, error = run_fault(fake, config, fault='stall', at=0)
    assert isinstance(error, LLMTimeoutError) and error.which == 'first_token'
    assert 'first_token_timeout' in str(error) and '0.3 s' in str(error)
    assert texts == [] and len(fake.requests) == 1  # a timeout is not retried


def test_stall_after_two_tokens(fake, fake_config):
    config = dataclasses.replace(fake_config, token_timeout=0.3)
    texts, error = run_fault(fake, config, fault='stall', at=2)
    assert isinstance(error, LLMTimeoutError) and error.which == 'token'
    assert texts == ['Hello', ',']


def test_total_timeout(fake, fake_config):
    config = dataclasses.replace(fake_config, total_timeout=0.5)
    texts, error = run_fault(fake, config, fault='slow', delay=0.2, tokens=('a',) * 10)
    assert isinstance(error, LLMTimeoutError) and error.which == 'total'
    assert 1 <= len(texts) < 10


def test_slow_but_within_the_timeouts(fake, fake_config):
    config = dataclasses.replace(fake_config, token_timeout=0.5)
    texts, error = run_fault(fake, config, fault='slow', delay=0.1)
    assert error is None and texts == ['Hello', ',', ' world', '.']


@pytest.mark.parametrize('fault,at,expected_error,expected_texts', [
    ('malformed', 1, LLMProtocolError, ['Hello']),
    ('truncate', 2, LLMProtocolError, ['Hello', ',']),
    ('no_final', 4, LLMProtocolError, ['Hello', ',', ' world', '.']),
    ('drop', 2, LLMConnectionError, ['Hello', ',']),
    ('error_event', 1, LLMServerError, ['Hello']),
])
def test_broken_streams(fake, fake_config, fault, at, expected_error, expected_texts):
    texts, error = run_fault(fake, fake_config, fault=fault, at=at)
    assert type(error) is expected_error, repr(error)
    assert texts == expected_texts
    assert len(fake.requests) == 1  # nothing is retried once tokens have come


def test_in_stream_error_carries_the_server_message(fake, fake_config):
    _, error = run_fault(fake, fake_config, fault='error_event', at=0)
    assert isinstance(error, LLMServerError)
    assert error.message == 'scripted in-stream failure' and error.code == 500


def test_http_errors_carry_the_server_message(fake, fake_config):
    _, error = run_fault(fake, fake_config, fault='http_error', status=500)
    assert isinstance(error, LLMHTTPError)
    assert (error.status, error.message) == (500, 'scripted failure')
    assert 'scripted failure' in str(error) and len(fake.requests) == 1


def test_a_server_still_loading_is_waited_for_within_the_first_token_timeout(fake, fake_config):
    # After a restart llama-server answers 503 "Loading model" for a while: the question waits.
    texts, error = run_fault(fake, fake_config, fault='http_error', status=503, times=3)
    assert error is None and texts == ['Hello', ',', ' world', '.']
    assert len(fake.requests) == 4


def test_a_server_loading_past_the_first_token_timeout_is_an_error(fake, fake_config):
    config = dataclasses.replace(fake_config, first_token_timeout=1.0)
    _, error = run_fault(fake, config, fault='http_error', status=503)
    assert isinstance(error, LLMHTTPError)
    assert (error.status, error.message) == (503, 'Loading model') and 'Loading model' in str(error)
    assert 2 <= len(fake.requests) <= 1 / LOADING_POLL + 1


def test_dropped_connection_before_the_first_token_is_retried(fake, fake_config):
    texts, error = run_fault(fake, fake_config, fault='drop_before_headers', times=2)
    assert error is None and texts == ['Hello', ',', ' world', '.']
    assert len(fake.requests) == 3


def test_retries_give_up_with_a_connection_error(fake, fake_config):
    _, error = run_fault(fake, fake_config, fault='drop_before_headers', times=10)
    assert isinstance(error, LLMConnectionError) and fake.completion_url in str(error)
    assert len(fake.requests) == 1 + fake_config.retries


def test_cancel_during_a_stall_closes_the_connection(fake, fake_config):
    fake.script(fault='stall', at=1)
    closed_before = fake.closed_by_client

    async def main(client):
        task = asyncio.create_task(collect(client, 'Hi'))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [other for other in asyncio.all_tasks() if other is not asyncio.current_task()]

    leftover = asyncio.run(_with_client(fake_config, main))
    assert leftover == []
    assert fake.wait_idle(1.0) and fake.closed_by_client == closed_before + 1


async def _with_client(config, body):
    async with LlamaClient(config) as client:
        return await body(client)
