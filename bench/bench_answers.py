"""Answers right: each personality's system prompt on the bench's 20 everyday questions.

Starts its own llama-server (the shipped build and settings) with a GGUF and asks the 20
everyday questions of bench_vs_peer (an answer is right when it holds one of the expected
words) through the brain's own Replier, greedy as shipped, in two ways: each question in a
fresh conversation, and all 20 one after another in one conversation (history on, as a
voice session is). A `--system` prompt is measured beside the personalities (e.g. an older
or a candidate prompt). Prints one table, with the CPU and the load; no ROS.

    python bench/bench_answers.py [--model models/llm/SmolLM2-135M-Instruct.Q4_1.gguf]
                                  [--system "You are ... Answer in one short sentence."] [--temperature 0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vs_peer import ITEMS, answered_right  # noqa: E402
from benchlib import ROOT, load_average, machine_info  # noqa: E402
from heisenberg_brain.core.config import PERSONALITIES, LLMConfig  # noqa: E402
from heisenberg_brain.core.history import SessionStore  # noqa: E402
from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess  # noqa: E402
from heisenberg_brain.core.llm_client import LlamaClient  # noqa: E402
from heisenberg_brain.core.replier import Replier, ReplyOutcome, ReplyRequest  # noqa: E402

QUESTIONS = [item for item in ITEMS if len(item.parts) == 1][:20]


async def score(config: LLMConfig, personality: str, history: bool) -> tuple[int, list[str]]:
    """Right answers of 20, and the wrong ones."""
    sessions = SessionStore(config.max_history_turns)
    wrong = []
    async with LlamaClient(config) as client:
        replier = Replier(config, client, sessions)
        for index, item in enumerate(QUESTIONS):
            session = 'one' if history else f'fresh{index}'
            outcome = await replier.reply(ReplyRequest(prompt=item.text, session_id=session, max_tokens=48,
                                                       personality=personality), ReplyOutcome())
            await replier.primed()
            if not answered_right(outcome.text, item):
                wrong.append(outcome.text.strip()[:60])
    return len(QUESTIONS) - len(wrong), wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default=str(ROOT / 'models' / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'))
    parser.add_argument('--system', default='', help='a system prompt to measure beside the personalities')
    parser.add_argument('--temperature', type=float, default=0.0)
    args = parser.parse_args()

    shipped = LlamaServerConfig(model_path=args.model, port=0, threads=2)
    rows = [(name, name, '') for name in PERSONALITIES]
    if args.system:
        rows.append(('--system', 'concise', args.system))
    print(f'machine: {machine_info()}; load average before: {load_average()}')
    print(f'model: {Path(args.model).name}, temperature {args.temperature:g}, {len(QUESTIONS)} questions\n')
    print(f'{"prompt":<14}{"fresh":>8}{"one conversation":>20}')
    log = ROOT / 'log' / 'bench' / 'bench_answers-llama-server.log'
    log.parent.mkdir(parents=True, exist_ok=True)
    with LlamaServerProcess(shipped, log_path=log) as server:
        for label, personality, system in rows:
            config = LLMConfig(endpoint=server.completion_url, temperature=args.temperature, seed=42,
                               system_prompt=system)
            fresh, wrong = asyncio.run(score(config, personality, history=False))
            together, _ = asyncio.run(score(config, personality, history=True))
            print(f'{label:<14}{fresh:>8}{together:>20}      wrong when fresh, e.g.: {wrong[:2]}')
    print(f'\nload average after: {load_average()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
