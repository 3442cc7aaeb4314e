"""What portability costs: prompt and generation tokens/s of llama-server builds, in one run.

Each build serves the same GGUF in turn (one at a time, rounds interleaved so every build sees
the same machine load) and answers the same requests with greedy sampling and no prompt cache:
a ~250-token prompt evaluated from scratch, then 128 generated tokens. The figures are
llama-server's own timings (prompt_per_second, predicted_per_second).

    python bench/bench_llama_build.py                          # the portable build vs a native one
    python bench/bench_llama_build.py --server portable PATH --server "native, no repack" PATH2 --no-repack

Without --server it finds the portable build (scripts/build_llama_server.sh) and any native
build in the same cache (HEISENBERG_LLAMA_BUILD=native makes one), each run with and without
--no-repack (llama.cpp's AMX path crashes on some Xeons unless repacking is off).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import urllib.request
from pathlib import Path

from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerError, LlamaServerProcess

ROOT = Path(__file__).resolve().parent.parent

from benchlib import load_average, machine_info  # noqa: E402

MODELS = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
DEFAULT_MODEL = MODELS / 'llm' / 'SmolLM2-135M-Instruct.Q4_1.gguf'
PROMPT = ('<|im_start|>system\nYou are a helpful robot assistant. ' + 'Answer clearly and briefly. ' * 30
          + '<|im_end|>\n<|im_start|>user\nTell me a long story about a robot who learns to sail.'
          '<|im_end|>\n<|im_start|>assistant\n')


def default_servers() -> list[list[str]]:
    portable = subprocess.run(['bash', str(ROOT / 'scripts' / 'build_llama_server.sh')], text=True,
                              capture_output=True, check=True).stdout.strip()
    servers = [['portable', portable], ['portable, --no-repack', portable, '--no-repack']]
    for native in sorted(Path(portable).parent.parent.glob('*-native-*/llama-server')):
        servers += [['native', str(native)], ['native, --no-repack', str(native), '--no-repack']]
    return servers


def measure(server: LlamaServerProcess, requests: int) -> tuple[list[float], list[float]]:
    prompt_rates, gen_rates = [], []
    for _ in range(requests):
        body = json.dumps({'prompt': PROMPT, 'n_predict': 128, 'temperature': 0.0, 'ignore_eos': True,
                           'cache_prompt': False}).encode()
        request = urllib.request.Request(server.completion_url, data=body,
                                         headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=300) as response:
            timings = json.loads(response.read().decode())['timings']
        prompt_rates.append(timings['prompt_per_second'])
        gen_rates.append(timings['predicted_per_second'])
    return prompt_rates, gen_rates


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--server', nargs='+', action='append', metavar=('LABEL', 'PATH'),
                        help='a build: label, binary, then extra llama-server arguments')
    parser.add_argument('--model', default=str(DEFAULT_MODEL))
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--requests', type=int, default=3, help='requests per build per round')
    parser.add_argument('--threads', type=int, default=0, help='llama-server threads (0 = all cores)')
    args = parser.parse_args(argv)
    servers = args.server or default_servers()
    print(f'machine: {machine_info()}; load average before: {load_average()}', flush=True)
    print(f'model {Path(args.model).name}; {args.rounds} rounds x {args.requests} requests per build',
          flush=True)
    results: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label, *_ in servers}
    failures: dict[str, str] = {}
    log_dir = ROOT / 'log' / 'bench'
    for round_index in range(args.rounds):
        for label, binary, *extra in servers:
            if label in failures:
                continue
            config = LlamaServerConfig(binary=binary, model_path=args.model, port=0, nice=0,
                                       threads=args.threads, context_size=2048, extra_args=tuple(extra))
            try:
                log_path = log_dir / f'llama-build-{round_index}.log'
                with LlamaServerProcess(config, log_path=log_path) as server:
                    prompt, gen = measure(server, args.requests)
            except (LlamaServerError, OSError) as exc:
                failures[label] = str(exc).split(';')[0]
                print(f'  {label}: {failures[label]}', flush=True)
                continue
            results[label][0].extend(prompt)
            results[label][1].extend(gen)
            print(f'  round {round_index + 1} {label}: prompt {statistics.median(prompt):.0f} tok/s, '
                  f'generation {statistics.median(gen):.0f} tok/s', flush=True)
    base = servers[0][0]
    print(f'\n{"build":<24}{"prompt tok/s p50":>18}{"gen tok/s p50":>16}'
          f'{"prompt ratio":>14}{"gen ratio":>11}')
    for label, *_ in servers:
        if label in failures:
            print(f'{label:<24}  did not run: {failures[label]}')
            continue
        prompt, gen = (statistics.median(values) for values in results[label])
        ratios = ('', '')
        if base not in failures and results[base][0]:
            ratios = (f'{prompt / statistics.median(results[base][0]):.2f}',
                      f'{gen / statistics.median(results[base][1]):.2f}')
        print(f'{label:<24}{prompt:>18.0f}{gen:>16.0f}{ratios[0]:>14}{ratios[1]:>11}')
    print(f'(ratios to the {base} build; load average after: {load_average()})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
