"""Skills by voice: how often a phrasing finds its skill, and how soon the robot acts and answers.

1. In-process: the phrasing tables of src/heisenberg_brain/test/test_skills_matcher.py (clean
   sentences and as tiny.en writes them, and questions that must reach the LLM) and of
   test_skills_french.py (as whisper-base writes French), against the shipped skills.yaml
   example: right skill and slots, and the time a match takes (apart for what reaches the LLM).
2. The whole graph with a stand-in robot serving GoTo under /robot (heisenberg_testing.robot):
   Piper-spoken commands ("Hey Jarvis. Go to the kitchen.", the time, timers, ...) and a few
   everyday questions for the LLM, one after another. For each: end of speech (the WAV's last
   loud sample, on the capture clock) -> the GoTo goal executing on the robot, and -> the first
   reply audio. p50/p90 of skill turns next to LLM turns of the same run, the CPU and the load.

    python bench/bench_skills.py [--rounds 1] [--table-only]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / 'src' / 'heisenberg_brain' / 'test'))   # the phrasing table

from bench_voice_to_voice import graph_overrides, prepare_questions, running_bench  # noqa: E402
from benchlib import ROOT, isolate_ros_session, load_average, machine_info  # noqa: E402

COMMANDS = ['Go to the kitchen.', 'What time is it?', 'Drive to the charger.',
            'Set a timer for ten minutes.', 'Go to the kitchen.', 'How long is left on the timer?',
            'Drive to the charger.', 'Cancel the timer.', "What's the date today?", 'Go to the kitchen.',
            'What can you do?', 'Drive to the charger.']
QUESTIONS = ['What is the capital of France?', 'How many legs does a spider have?', 'What do bees make?',
             'What is the capital of Japan?']


def phrasing_table() -> None:
    """Each language's table (test_skills_matcher, test_skills_french): right answers, ms a match.

    A sentence no skill takes is tried in every language's sentences (the turn's first) before it
    goes to the LLM, so its cost is shown apart: it is paid on every LLM turn. Timed on a second
    pass (hassil caches what it has parsed: the first pass costs several times more).
    """
    import test_skills_french
    import test_skills_matcher
    print(f'{"phrasing table":<16}{"sentences":>10}{"right":>7}{"ms a match":>12}{"ms, to the LLM":>16}')
    for language, table in (('en', test_skills_matcher), ('fr', test_skills_french)):
        right, skill_ms, llm_ms = 0, [], []
        for text, _, _ in table.CASES:
            table.SKILLS.match(text, language)
        for text, expected, slots in table.CASES:
            started = time.perf_counter()
            match = table.SKILLS.match(text, language)
            (llm_ms if expected is None else skill_ms).append((time.perf_counter() - started) * 1000)
            name = match and (f'{match.skill}.{match.intent}' if match.intent else match.skill)
            right += name == expected and (match is None or dict(match.slots) == slots)
        print(f'{language:<16}{len(table.CASES):>10}{right:>7}{statistics.mean(skill_ms):>12.2f}'
              f'{statistics.mean(llm_ms):>16.2f}')
    print()


def ms(values: list[float], q: float) -> str:
    if not values:
        return 'n/a'
    values = sorted(values)
    return f'{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f}'


def run_graph(rounds: int) -> None:
    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_testing.robot import Robot, go_to_skill
    from heisenberg_testing.speech import Speech, silence, write_wav

    work = Path(tempfile.mkdtemp(prefix='bench_skills_'))
    speech = Speech(ROOT / 'models' / 'piper' / 'en_US-joe-medium.onnx')
    texts = (COMMANDS + QUESTIONS) * rounds
    questions = prepare_questions(speech, texts, work)
    skills = work / 'skills.yaml'
    skills.write_text(go_to_skill())
    overrides = graph_overrides(free_port(), 64, write_wav(work / 'quiet.wav', silence(0.5)), None, None)
    overrides['brain'].update({'skills_file': str(skills), 'skills_namespace': '/robot'})
    robot = Robot()
    skill_v2v, llm_v2v, goal_delay = [], [], []
    try:
        with running_bench(overrides, work, 64) as bench:
            for question in questions:
                turn = bench.turn('streaming', question)
                goal = ''
                if question.text.startswith(('Go to', 'Drive to')):
                    try:
                        served = robot.goals.get(timeout=10)
                        start = bench.capture_start.start_of(question.audio)
                        delay = served.received_at - (start + question.speech_end)
                        goal_delay.append(delay)
                        goal = f' | goal {served.request.place} after {delay * 1000:.0f} ms'
                    except Exception as exc:   # noqa: BLE001 - reported in the line, the bench goes on
                        goal = f' | no goal ({exc.__class__.__name__})'
                if turn.ok:
                    (llm_v2v if question.text in QUESTIONS else skill_v2v).append(turn.stages['measured'])
                v2v = f'{turn.stages["measured"] * 1000:5.0f} ms' if turn.ok else f'FAILED ({turn.note})'
                print(f'  {question.text:<34} v2v {v2v} | heard {turn.transcript.strip()!r} | '
                      f'said {turn.reply.strip()[:50]!r}{goal}', flush=True)
    finally:
        robot.close()
    print(f'\n{"end of speech ->":<40}{"p50 ms":>8}{"p90 ms":>8}{"turns":>7}')
    for label, values in (('the GoTo goal on the robot', goal_delay), ('first audio, skill turns', skill_v2v),
                          ('first audio, LLM turns (same run)', llm_v2v)):
        print(f'{label:<40}{ms(values, 0.5):>8}{ms(values, 0.9):>8}{len(values):>7}')
    if skill_v2v and llm_v2v:
        print(f'skill / LLM p50: {statistics.median(skill_v2v) / statistics.median(llm_v2v):.2f}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=1, help='times the commands and questions are played')
    parser.add_argument('--table-only', action='store_true', help='only the phrasing tables (in-process)')
    args = parser.parse_args(argv)
    isolate_ros_session()
    print(f'machine: {machine_info()}; load average before: {load_average()}')
    phrasing_table()
    if not args.table_only:
        run_graph(args.rounds)
    print(f'load average after: {load_average()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
