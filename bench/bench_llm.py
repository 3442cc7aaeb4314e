"""Time to first token and tokens/s: raw HTTP to llama-server vs. LlamaClient, in one run.

Starts its own llama-server (one slot, loopback) with the registry GGUF and asks ~10
short questions through each path (raw HTTP, LlamaClient, and the brain's Respond action
over DDS from a brain node process pointed at the same server), interleaved so both see the same machine load.
Before every measured request the slot's cache is reset to the shared system prompt
(as in a conversation: system prompt cached, new question), so no path gets another's
prompt for free.

Each path is an async context manager yielding ``run(prompt) -> Sample``; a new column
(e.g. the Respond action over DDS) is one more such function in PATHS.

    python bench/bench_llm.py [--model models/llm/SmolLM2-135M-Instruct.Q4_1.gguf] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import aiohttp

from heisenberg_brain.core.config import LLMConfig
from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess
from heisenberg_brain.core.llm_client import LlamaClient, Token
from heisenberg_bringup.graph import NodeProcess, write_params
from heisenberg_common.actions import ActionClient
from heisenberg_common.qos import EVENTS
from heisenberg_interfaces.action import Respond
from heisenberg_interfaces.msg import TurnMetrics

ROOT = Path(__file__).resolve().parent.parent

from benchlib import isolate_ros_session, load_average  # noqa: E402
from heisenberg_testing.ros_client import RosClient  # noqa: E402

MODELS = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
DEFAULT_MODEL = MODELS / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'
SYSTEM_TEXT = 'You are a concise assistant. Answer in one or two sentences.'
SYSTEM = f'<|im_start|>system\n{SYSTEM_TEXT}<|im_end|>\n'
USER_PREFIX, ASSISTANT_PREFIX = '<|im_start|>user\n', '<|im_end|>\n<|im_start|>assistant\n'
QUESTIONS = [
    'What is the capital of France?',
    'How many legs does a spider have?',
    'Why is the sky blue?',
    'What is two plus two?',
    'Name a primary colour.',
    'What does a robot vacuum do?',
    'How far is the Moon from the Earth?',
    'What is water made of?',
    'Who wrote Romeo and Juliet?',
    'What is the boiling point of water?',
]
SEED = 42


def chatml(question: str) -> str:
    return SYSTEM + USER_PREFIX + question + ASSISTANT_PREFIX


def question_of(prompt: str) -> str:
    """The question inside chatml(question): what a Respond goal carries (the brain renders the rest)."""
    question = prompt.removeprefix(SYSTEM + USER_PREFIX).removesuffix(ASSISTANT_PREFIX)
    assert chatml(question) == prompt, 'not a prompt made by chatml()'
    return question


@dataclasses.dataclass
class Sample:
    ttft: float                 # request sent -> first text
    token_times: list[float]    # arrival of each token after the first (relative to the request)
    server_tok_s: float         # llama-server's own predicted_per_second

    @property
    def tok_s(self) -> float:
        """Tokens/s as the consumer sees them, first to last token."""
        if len(self.token_times) < 2:
            return float('nan')
        return (len(self.token_times) - 1) / (self.token_times[-1] - self.token_times[0])


def request_body(prompt: str, max_tokens: int) -> dict:
    # The same body LlamaClient sends, so both paths ask the server for the same work.
    return {'prompt': prompt, 'stream': True, 'cache_prompt': True, 'n_predict': max_tokens,
            'temperature': 0.0, 'seed': SEED, 'stop': []}


@contextlib.asynccontextmanager
async def raw_http_path(server: LlamaServerProcess, max_tokens: int):
    """aiohttp straight to /completion; SSE split on blank lines, no JSON per token."""
    async with aiohttp.ClientSession() as session:
        async def run(prompt: str) -> Sample:
            started = time.perf_counter()
            times, buffer, final = [], b'', b''
            async with session.post(server.completion_url, json=request_body(prompt, max_tokens)) as response:
                async for data in response.content.iter_any():
                    now = time.perf_counter() - started
                    buffer += data
                    *events, buffer = buffer.split(b'\n\n')
                    for event in events:
                        if b'"stop":true' in event:
                            final = event
                        elif b'"content":""' not in event:
                            times.append(now)
            timings = json.loads(final.removeprefix(b'data: '))['timings']
            return Sample(times[0], times, timings['predicted_per_second'])
        yield run


@contextlib.asynccontextmanager
async def llama_client_path(server: LlamaServerProcess, max_tokens: int):
    """LlamaClient.stream(): SSEDecoder, JSON per chunk, timeouts, Token/Done objects."""
    config = LLMConfig(endpoint=server.completion_url, temperature=0.0, seed=SEED, max_tokens=max_tokens)
    async with LlamaClient(config) as client:
        async def run(prompt: str) -> Sample:
            started = time.perf_counter()
            times = []
            async with contextlib.aclosing(client.stream(prompt)) as replies:
                async for item in replies:
                    if isinstance(item, Token):
                        times.append(time.perf_counter() - started)
                    else:
                        done = item
            return Sample(times[0], times, done.timings['predicted_per_second'])
        yield run


class RespondActionClient:
    """A brain node process on the bench's llama-server, and an rclpy action client to it.

    The brain renders chatml with SYSTEM_TEXT as its system prompt and no history, so the
    server sees the same prompt as on the other paths (plus the brain's chatml stop strings).
    """

    def __init__(self, server: LlamaServerProcess, max_tokens: int):
        isolate_ros_session()
        log_dir = ROOT / 'log' / 'bench'
        log_dir.mkdir(parents=True, exist_ok=True)
        params = write_params(log_dir / 'brain.yaml', 'brain', {
            'llm.endpoint': server.completion_url, 'llm.temperature': 0.0, 'llm.seed': SEED,
            'llm.max_tokens': max_tokens, 'llm.max_history_turns': 0, 'llm.prompt_format': 'chatml',
            'llm.system_prompt': SYSTEM_TEXT})
        self.max_tokens = max_tokens
        self.brain = NodeProcess('heisenberg_brain.nodes.brain', 'brain', params_files=(params,),
                                 log_dir=log_dir)
        self.ros = RosClient('bench_llm')
        self.action = ActionClient(self.ros.node, Respond, 'respond')
        self.metrics: list[TurnMetrics] = []
        self.ros.node.create_subscription(TurnMetrics, 'metrics', self.metrics.append, EVENTS)
        self.goals = 0

    def wait_ready(self) -> None:
        if not self.action.wait_for_server(timeout_sec=60):
            raise RuntimeError(f'no Respond server; see {self.brain.log_path}')

    async def run(self, prompt: str) -> Sample:
        loop = asyncio.get_running_loop()
        result = loop.create_future()
        times = []
        self.metrics.clear()
        self.goals += 1
        goal = Respond.Goal(prompt=question_of(prompt), session_id=f'bench-{self.goals}',
                            max_tokens=self.max_tokens)

        def on_feedback(msg):  # executor thread: the arrival time of each token over DDS
            if msg.feedback.delta:
                times.append(time.perf_counter() - started)

        def on_accepted(future):
            future.result().get_result_async().add_done_callback(
                lambda done: loop.call_soon_threadsafe(result.set_result, done.result()))

        started = time.perf_counter()
        self.action.send_goal_async(goal, feedback_callback=on_feedback).add_done_callback(on_accepted)
        response = await asyncio.wait_for(result, 120)
        if response.result.finish_reason not in ('stop', 'length') or not times:
            raise RuntimeError(f'Respond goal ended {response.result.finish_reason}: {response.result.error}')
        for _ in range(100):  # the turn's metrics (server tok/s) may trail the result
            if self.metrics:
                break
            await asyncio.sleep(0.01)
        server_tok_s = self.metrics[-1].tokens_per_second if self.metrics else float('nan')
        return Sample(times[0], times, server_tok_s)

    def close(self) -> None:
        self.ros.close()
        self.brain.stop()


@contextlib.asynccontextmanager
async def respond_action_path(server: LlamaServerProcess, max_tokens: int):
    """The brain's Respond action over DDS; TTFT = goal sent -> first feedback carrying a delta."""
    client = RespondActionClient(server, max_tokens)
    try:
        await asyncio.get_running_loop().run_in_executor(None, client.wait_ready)
        yield client.run
    finally:
        client.close()


PATHS = {
    'raw HTTP': raw_http_path,
    'LlamaClient': llama_client_path,
    'Respond action': respond_action_path,
}


async def reset_cache_to_system_prompt(session: aiohttp.ClientSession, server: LlamaServerProcess) -> None:
    body = {'prompt': SYSTEM, 'n_predict': 1, 'cache_prompt': True, 'temperature': 0.0}
    async with session.post(server.completion_url, json=body) as response:
        await response.read()


async def measure(server: LlamaServerProcess, max_tokens: int,
                  questions: list[str]) -> dict[str, list[Sample]]:
    results = {name: [] for name in PATHS}
    async with contextlib.AsyncExitStack() as stack, aiohttp.ClientSession() as control:
        runners = {name: await stack.enter_async_context(path(server, max_tokens))
                   for name, path in PATHS.items()}
        for run in runners.values():  # warm-up: connections, caches, page faults
            await reset_cache_to_system_prompt(control, server)
            await run(chatml('Hello!'))
        names = list(runners)
        for turn, question in enumerate(questions):
            order = names[turn % len(names):] + names[:turn % len(names)]  # alternate who goes first
            for name in order:
                await reset_cache_to_system_prompt(control, server)
                results[name].append(await runners[name](chatml(question)))
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def print_table(results: dict[str, list[Sample]]) -> None:
    """p50/p90 per path, and per-question ratios to the first path (robust to load drifting)."""
    base = results[next(iter(results))]
    header = (f'{"path":<14}{"n":>4}{"TTFT p50":>11}{"TTFT p90":>11}{"tok/s p50":>11}{"tok/s p10":>11}'
              f'{"server tok/s":>14}{"TTFT ratio":>12}{"tok/s ratio":>13}')
    print(header)
    print('-' * len(header))
    for name, samples in results.items():
        ttft = [s.ttft for s in samples]
        tok_s = [s.tok_s for s in samples]
        server = percentile([s.server_tok_s for s in samples], 50)
        ttft_ratio = percentile([s.ttft / b.ttft for s, b in zip(samples, base)], 50)
        tok_s_ratio = percentile([s.tok_s / b.tok_s for s, b in zip(samples, base)], 50)
        print(f'{name:<14}{len(samples):>4}'
              f'{percentile(ttft, 50) * 1000:>9.1f}ms{percentile(ttft, 90) * 1000:>9.1f}ms'
              f'{percentile(tok_s, 50):>11.1f}{percentile(tok_s, 10):>11.1f}{server:>14.1f}'
              f'{ttft_ratio:>12.3f}{tok_s_ratio:>13.3f}')
    print('(TTFT p90 and tok/s p10 are the slow ends; ratios are medians of per-question ratios '
          'to the first row)')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default=str(DEFAULT_MODEL), help='GGUF to serve')
    parser.add_argument('--max-tokens', type=int, default=48, help='n_predict per question')
    parser.add_argument('--questions', type=int, default=len(QUESTIONS), help='how many of the 10 questions')
    args = parser.parse_args(argv)
    config = LlamaServerConfig(model_path=args.model, port=0, context_size=2048)
    with LlamaServerProcess(config, log_path=ROOT / 'log' / 'bench' / 'llama-server.log') as server:
        print(f'llama-server {server.base_url}, model {Path(args.model).name}, '
              f'{args.questions} questions x {len(PATHS)} paths, n_predict {args.max_tokens}, '
              f'{os.cpu_count()} CPUs, load average {load_average()}')
        results = asyncio.run(measure(server, args.max_tokens, QUESTIONS[:args.questions]))
    print_table(results)
    print(f'load average after: {load_average()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
