"""Answers right, in English and French, per model: the table that picks the default LLM.

For each model (a GGUF path, or a model's name in models/manifest.json; optional candidates are
placed with ``scripts/fetch_models.py --model NAME``) this bench starts its own llama-server (the
shipped build and settings) and asks 20 everyday English questions (those of bench_vs_peer) and
22 French ones through the brain's own Replier, greedy as shipped, each in the language the graph
would answer in (the French ones with language 'fr': the French system prompt and history). An
answer is right when it holds one of the question's expected words (accents ignored). Two ways:
each question in a fresh conversation, and all of a language's questions one after another in
one conversation (history on, as a voice session is: the shipped window and summary folding).
Then the follow-up that needs the history: "My name is Alice." then "What is my name?" (and
« Je m'appelle Alice. » then « Comment je m'appelle ? »). From the same replies: first-token
p50 and tokens/s p50 (llama-server's own timing of the generation).

Voice-to-voice p50 of the whole graph per model (bench_voice_to_voice's Bench: Graph,
config/assistant.yaml with llama_server.model_path set, 10 Piper-spoken English questions,
streaming speech, no history, greedy), unless --no-voice. Every model is asked in the shipped
prompt format (ChatML: the Qwen GGUF's own template is ChatML; the Gemma base GGUF has none).

Then the rule that picks the default (bench/README.md): of the models whose licence is stated,
the most right answers (English and French, fresh and in one conversation), among those whose
voice-to-voice p50 is within 150 ms of the fastest model's. One table, with the CPU and the load.

    python bench/bench_answers.py [--models smollm2-135m-instruct,qwen2.5-coder-0.5b-instruct,...]
                                  [--personalities concise,friendly,...] [--system "a prompt to compare"]
                                  [--history-turns N] [--no-voice] [--voice-questions 10]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_vs_peer import ITEMS, Item, answered_right  # noqa: E402
from benchlib import QUESTIONS as VOICE_QUESTIONS, ROOT, load_average, machine_info  # noqa: E402
from heisenberg_brain.core.config import LLMConfig  # noqa: E402
from heisenberg_brain.core.history import SessionStore  # noqa: E402
from heisenberg_brain.core.llama_server import LlamaServerConfig, LlamaServerProcess  # noqa: E402
from heisenberg_brain.core.llm_client import LlamaClient  # noqa: E402
from heisenberg_brain.core.replier import Replier, ReplyOutcome, ReplyRequest  # noqa: E402

MANIFEST = ROOT / 'models' / 'manifest.json'
SHIPPED = ROOT / 'config' / 'assistant.yaml'
MAX_TOKENS = 48          # a spoken one- or two-sentence answer fits; a loop is cut before
V2V_MARGIN = 0.150       # s: the rule's room above the fastest model's voice-to-voice p50

QUESTIONS = {
    'en': [item for item in ITEMS if len(item.parts) == 1][:20],
    'fr': [Item((q,), a) for q, a in [
        ('Quelle est la capitale de la France ?', ('paris',)),
        ('Combien de pattes a une araignée ?', ('huit', '8')),
        ('De quelle couleur est le ciel par beau temps ?', ('bleu',)),
        ('Combien font deux plus deux ?', ('quatre', '4')),
        ('Qui a écrit Les Misérables ?', ('hugo',)),
        ("À quelle température l'eau bout-elle ?", ('100', 'cent', '212')),
        ('Que fabriquent les abeilles ?', ('miel',)),
        ('Quel est le plus grand océan du monde ?', ('pacifique',)),
        ('De quelle couleur est une banane mûre ?', ('jaune',)),
        ('Combien y a-t-il de jours dans une semaine ?', ('sept', '7')),
        ('Quelle est la plus haute montagne du monde ?', ('everest',)),
        ('Quel est le contraire de chaud ?', ('froid',)),
        ('Sur quelle planète vivons-nous ?', ('terre',)),
        ("Comment appelle-t-on l'eau gelée ?", ('glace',)),
        ('Quelle est la capitale du Japon ?', ('tokyo',)),
        ("Combien d'heures y a-t-il dans une journée ?", ('24', 'vingt-quatre', 'vingt quatre')),
        ('Quel animal fait meuh ?', ('vache',)),
        ('Quelle est la plus grande planète du système solaire ?', ('jupiter',)),
        ("Quelle est la capitale de l'Italie ?", ('rome',)),
        ('Combien de mois y a-t-il dans une année ?', ('douze', '12')),
        ("Quelle langue parle-t-on en Espagne ?", ('espagnol',)),
        ("De quelle couleur est l'herbe ?", ('vert',)),
    ]],
}
# The follow-up that needs the history, with an unrelated question between.
FOLLOW_UP = {
    'en': ('My name is Alice.', 'What colour is a ripe banana?', 'What is my name?'),
    'fr': ("Je m'appelle Alice.", 'De quelle couleur est une banane mûre ?', 'Comment je m\'appelle ?'),
}


@dataclasses.dataclass(frozen=True)
class Model:
    """A GGUF to compare: its path, and the name and licence the manifest gives it."""

    path: Path
    name: str
    license: str
    licensed: bool    # a licence is stated: it may be the default

    @property
    def label(self) -> str:
        return self.name or self.path.name


@dataclasses.dataclass
class Score:
    """One (model, personality) row: right answers and the replies' timing."""

    right: dict = dataclasses.field(default_factory=dict)    # (language, 'fresh'|'one') -> count
    wrong: dict = dataclasses.field(default_factory=dict)    # (language, way) -> sample wrong replies
    follow_up: dict = dataclasses.field(default_factory=dict)  # language -> the reply to "What is my name?"
    first_token: list = dataclasses.field(default_factory=list)
    tokens_per_second: list = dataclasses.field(default_factory=list)

    def total(self, way: str) -> int:
        return sum(count for (_, w), count in self.right.items() if w == way)


def manifest_models() -> list[dict]:
    return json.loads(MANIFEST.read_text())['models']


def resolve(spec: str, models_dir: Path) -> Model:
    """A manifest name or a GGUF path -> Model (a path outside the manifest has no stated licence)."""
    for entry in manifest_models():
        paths = [models_dir / f['path'] for f in entry['files']]
        if spec == entry['name'] or any(Path(spec).resolve() == p.resolve() for p in paths):
            gguf = next((p for p in paths if p.suffix == '.gguf'), None)
            if gguf is None:
                raise SystemExit(f'{spec}: model {entry["name"]} has no GGUF')
            if not gguf.is_file():
                raise SystemExit(f'{gguf} is missing: '
                                 f'python3 scripts/fetch_models.py --model {entry["name"]}')
            return Model(gguf, entry['name'], entry['license'],
                         not entry['license'].lower().startswith('none'))
    path = Path(spec)
    if not path.is_file():
        raise SystemExit(f'{spec}: neither a model of {MANIFEST.name} nor a GGUF file')
    return Model(path, '', 'not in the manifest: unknown', False)


def shipped_llm() -> dict:
    """The brain's llm section of config/assistant.yaml (temperature, history window, prompt format)."""
    import yaml
    sections = yaml.safe_load(SHIPPED.read_text())
    return next(v['ros__parameters']['llm'] for k, v in sections.items() if k.endswith('/brain'))


async def ask_all(config: LLMConfig, personality: str, score: Score) -> None:
    """Every question fresh, then each language's in one conversation, then the follow-up."""
    sessions = SessionStore(config.max_history_turns)
    async with LlamaClient(config) as client:
        replier = Replier(config, client, sessions)

        async def ask(text: str, session: str, language: str) -> str:
            outcome = await replier.reply(ReplyRequest(prompt=text, session_id=session, max_tokens=MAX_TOKENS,
                                                       personality=personality, language=language),
                                          ReplyOutcome())
            await replier.primed()
            if outcome.time_to_first_token >= 0:
                score.first_token.append(outcome.time_to_first_token)
            if outcome.token_count >= 4 and outcome.timings.get('predicted_per_second'):
                score.tokens_per_second.append(outcome.timings['predicted_per_second'])
            return outcome.text.strip()

        for language, items in QUESTIONS.items():
            for way in ('fresh', 'one'):
                wrong = []
                for index, item in enumerate(items):
                    session = f'{way}-{index}' if way == 'fresh' else f'one-{language}'
                    reply = await ask(item.text, session, language)
                    if not answered_right(reply, item):
                        wrong.append(reply[:60])
                score.right[language, way] = len(items) - len(wrong)
                score.wrong[language, way] = wrong
            for text in FOLLOW_UP[language]:
                reply = await ask(text, f'follow-up-{language}', language)
            score.follow_up[language] = reply


def text_scores(model: Model, personalities: list[str], system: str, history_turns: int | None,
                llm: dict) -> dict[str, Score]:
    """Each personality's (and --system's) Score for one model, from its own llama-server."""
    server_config = LlamaServerConfig(model_path=str(model.path), port=0, threads=2)
    log = ROOT / 'log' / 'bench' / f'bench_answers-{model.label}.log'
    log.parent.mkdir(parents=True, exist_ok=True)
    rows = [(name, name, '') for name in personalities]
    if system:
        rows.append(('--system', 'concise', system))
    scores = {}
    with LlamaServerProcess(server_config, log_path=log) as server:
        for label, personality, system_prompt in rows:
            config = LLMConfig(
                endpoint=server.completion_url, temperature=llm['temperature'], seed=42,
                max_history_turns=llm['max_history_turns'] if history_turns is None else history_turns,
                prompt_format=llm['prompt_format'], system_prompt=system_prompt)
            scores[label] = Score()
            asyncio.run(ask_all(config, personality, scores[label]))
            print(f'  {model.label} {label}: {dict(scores[label].right)}; follow-up: '
                  f'{scores[label].follow_up}', flush=True)
    return scores


def voice_to_voice(models: list[Model], count: int) -> dict[str, float]:
    """Voice-to-voice p50 (s) per model: the whole graph, `count` Piper-spoken English questions."""
    from bench_voice_to_voice import graph_overrides, percentile, prepare_questions, running_bench
    from benchlib import isolate_ros_session
    isolate_ros_session()
    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_testing.speech import Speech, silence, write_wav
    work = Path(tempfile.mkdtemp(prefix='bench_answers_'))
    models_dir = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    speech = Speech(models_dir / 'piper' / 'en_US-joe-medium.onnx')
    warmup, *questions = prepare_questions(speech, ['What is your name?'] + VOICE_QUESTIONS[:count], work)
    del speech
    quiet = write_wav(work / 'quiet.wav', silence(0.5))
    result = {}
    for model in models:
        overrides = graph_overrides(free_port(), MAX_TOKENS, quiet, None, None)
        overrides['llama_server']['model_path'] = str(model.path)
        with running_bench(overrides, work / model.label, MAX_TOKENS) as bench:
            bench.turn('streaming', warmup)   # first whisper/piper/llama runs: not counted
            turns = [bench.turn('streaming', q) for q in questions]
        measured = [t.stages['measured'] for t in turns if t.ok]
        result[model.label] = percentile(measured, 50) if measured else math.nan
        print(f'  {model.label}: voice-to-voice p50 {result[model.label] * 1000:.0f} ms over '
              f'{len(measured)} of {len(turns)} turns; replies e.g. '
              f'{[t.reply.strip()[:40] for t in turns[:3]]}',
              flush=True)
    return result


def pick_default(models: list[Model], scores: dict[str, Score], v2v: dict[str, float]) -> tuple[str, str]:
    """The rule: licence stated; most right answers (EN+FR, both ways); v2v p50 within 150 ms of the fastest.

    The label of the pick ('' for none) and which models it was picked from.
    """
    eligible = [m for m in models if m.licensed]
    if not eligible:
        return '', 'no model with a stated licence'
    known = [v for v in v2v.values() if not math.isnan(v)]
    fastest = min(known) if known else math.nan
    fast_enough = [m for m in eligible if not known or v2v.get(m.label, math.nan) <= fastest + V2V_MARGIN]
    if not fast_enough:
        return '', 'no model with a stated licence is within 150 ms of the fastest'
    best = max(fast_enough, key=lambda m: scores[m.label].total('fresh') + scores[m.label].total('one'))
    return best.label, (f'of {", ".join(m.label for m in fast_enough)} (licence stated'
                        + (', voice-to-voice p50 within 150 ms of the fastest' if known else '') + ')')


def p50_ms(values: list[float]) -> str:
    return f'{statistics.median(values) * 1000:.0f}' if values else '-'


def print_table(models: list[Model], scores: dict[str, dict[str, Score]], v2v: dict[str, float]) -> None:
    n = {language: len(items) for language, items in QUESTIONS.items()}
    print(f'\nright answers (EN of {n["en"]}, FR of {n["fr"]}): fresh / one conversation; follow-up: '
          '"What is my name?" after "My name is Alice." (EN / FR)')
    header = (f'{"model":<30}{"prompt":<14}{"EN":>9}{"FR":>9}{"all":>9}{"Alice":>7}{"1st token":>11}'
              f'{"tok/s":>7}{"v2v p50":>9}  licence')
    print(header)
    for model in models:
        for label, score in scores[model.label].items():
            alice = ''.join('y' if 'alice' in score.follow_up[lang].lower() else 'n' for lang in ('en', 'fr'))
            tps = f'{statistics.median(score.tokens_per_second):.0f}' if score.tokens_per_second else '-'
            voice = v2v.get(model.label, math.nan)
            print(f'{model.label[:29]:<30}{label:<14}'
                  f'{score.right["en", "fresh"]:>4} /{score.right["en", "one"]:>3}'
                  f'{score.right["fr", "fresh"]:>4} /{score.right["fr", "one"]:>3}'
                  f'{score.total("fresh"):>4} /{score.total("one"):>3}{alice:>7}'
                  f'{p50_ms(score.first_token) + " ms":>11}{tps:>7}'
                  f'{"-" if math.isnan(voice) else f"{voice * 1000:.0f} ms":>9}  {model.license[:40]}')
    print('\nwrong, e.g. (first personality, fresh):')
    for model in models:
        score = next(iter(scores[model.label].values()))
        for language in QUESTIONS:
            print(f'  {model.label} {language}: {score.wrong[language, "fresh"][:3]}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--models', default='smollm2-135m-instruct',
                        help='comma-separated manifest names or GGUF paths (default: the default model)')
    parser.add_argument('--personalities', default='concise', help='comma-separated (each one a row)')
    parser.add_argument('--system', default='', help='a system prompt to measure beside the personalities')
    parser.add_argument('--history-turns', type=int, default=None,
                        help="llm.max_history_turns for the conversations (default: the shipped file's)")
    parser.add_argument('--no-voice', action='store_true', help='skip the voice-to-voice column (no graph)')
    parser.add_argument('--voice-questions', type=int, default=10)
    args = parser.parse_args()
    models_dir = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    models = [resolve(spec.strip(), models_dir) for spec in args.models.split(',') if spec.strip()]
    personalities = [p.strip() for p in args.personalities.split(',') if p.strip()]
    llm = shipped_llm()
    loads = [load_average()]
    print(f'machine: {machine_info()}; load average before: {loads[0]}')
    print(f'{len(QUESTIONS["en"])} English and {len(QUESTIONS["fr"])} French questions, temperature '
          f'{llm["temperature"]:g}, seed 42, max_tokens {MAX_TOKENS}, prompt format '
          f'{llm["prompt_format"]}, history turns '
          f'{llm["max_history_turns"] if args.history_turns is None else args.history_turns}', flush=True)
    scores = {model.label: text_scores(model, personalities, args.system, args.history_turns, llm)
              for model in models}
    loads.append(load_average())
    v2v = {} if args.no_voice else voice_to_voice(models, args.voice_questions)
    loads.append(load_average())
    print_table(models, scores, v2v)
    # The rule reads the shipped personality's row (the first one asked when it was not asked).
    shipped = {m.label: scores[m.label].get(llm['personality'], next(iter(scores[m.label].values())))
               for m in models}
    choice, why = pick_default(models, shipped, v2v)
    print(f'\nthe rule picks: {choice or "nothing"} {why}')
    print(f'machine: {machine_info()}; load average before / after the text part / at the end: '
          f'{" ; ".join(loads)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
