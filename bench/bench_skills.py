"""Skills by voice: how often a phrasing finds its skill, and how soon the robot acts and answers.

1. In-process: the phrasing table of src/heisenberg_brain/test/test_skills_matcher.py (clean
   sentences and as tiny.en writes them, and questions that must reach the LLM) against the
   shipped skills.yaml example: right skill, right slots, and the time a match takes.
2. The whole graph with a stand-in robot serving GoTo under /robot (heisenberg_testing.robot):
   Piper-spoken commands ("Hey Jarvis. Go to the kitchen.", the time, timers, ...) and a few
   everyday questions for the LLM, one after another. For each: end of speech (the WAV's last
   loud sample, on the capture clock) -> the GoTo goal executing on the robot, and -> the first
   reply audio. p50/p90 of skill turns next to LLM turns of the same run, the CPU and the load.

    python bench/bench_skills.py [--rounds 1]
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
    from test_skills_matcher import CASES, SKILLS
    skill_right = slots_right = 0
    started = time.perf_counter()
    for text, expected, slots in CASES:
        match = SKILLS.match(text)
        name = None if match is None else (f'{match.skill}.{match.intent}' if match.intent else match.skill)
        skill_right += name == expected
        slots_right += name == expected and (match is None or dict(match.slots) == slots)
    per_match = (time.perf_counter() - started) / len(CASES) * 1000
    print(f'phrasing table: {len(CASES)} sentences ({sum(e is None for _, e, _ in CASES)} for the LLM): '
          f'skill right {skill_right}, skill and slots right {slots_right}; {per_match:.2f} ms a match\n')


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
    args = parser.parse_args(argv)
    isolate_ros_session()
    print(f'machine: {machine_info()}; load average before: {load_average()}')
    phrasing_table()
    run_graph(args.rounds)
    print(f'load average after: {load_average()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
