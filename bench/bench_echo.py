"""Echo handling: ERLE, self-interruptions and barge-in on Piper speech, printed as tables.

    python bench/bench_echo.py [--graph N]

Offline part (the nodes' own core classes, frame by frame as the nodes run them): the
robot's reply (~1 min of Piper speech, one sentence of it saying "Hey Jarvis") is played
into a ReferenceBuffer as tts would publish it, mixed into the mic at a gain and delay
(EchoSimulator), cancelled (EchoCanceller, WebRTC AEC3) and fed to Silero VAD +
BargeInDetector + EchoGate (stt) and openWakeWord + EchoGate (wake_word). Three front
ends are compared: nothing (raw echo), the level gate alone (echo_level_db 0, no
canceller) and the shipped default (AEC3 + gate at -30 dB). Reported:

- ERLE of the canceller on echo alone (after its first second, and over the first second);
- self-interruptions per hour of robot speech (barge-ins + wake words on echo alone: should be 0),
  and false onsets (tentative barge-ins that would pause the reply) on echo alone per hour;
- barge-in detection rate and reaction (user speech onset -> BargeIn, in capture time) over
  user interruptions ("Stop. What is the capital of France?") placed at several moments, and
  the tentative onset's reaction (-> BargeIn 'onset', the shipped pause_after).

--graph N also runs the real graph (tests/test_barge_in_echo.py's way: heisenberg_bringup.Graph,
llama-server, echo simulation in capture) for N interruptions of a spoken story, first with the
pause off (stt barge_in.pause_after 0: the reply plays on until the confirmed barge-in cancels
it), then as shipped, in the same run, and reports user speech onset -> BargeIn received, and
-> reply audio silenced (where the interrupted reply's audio on audio/out ends, as played by
stamp: the playback end of its last chunk, or the pause at which tts replaced what it had sent
ahead with silence), on the wall clock the stamps share; and false onsets (tentative barge-ins
not confirmed within 1 s, the reply silenced then resumed) per hour of robot speech heard.
Two onsets: the graph test's (the first audio/in frame louder than -35 dBFS, after the echo
canceller), and the clip's own (its first sample's capture stamp + its lead silence + where
its speech starts, as the offline table takes it), which does not depend on what the canceller
leaves of the echo or of the user's first sounds.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from heisenberg_testing.speech import Speech, silence  # noqa: E402

from heisenberg_audio.core.stt.barge_in import BargeInConfig, BargeInDetector, SpeakingTimeline  # noqa: E402
from heisenberg_audio.core.echo.canceller import EchoCancelConfig, EchoCanceller, erle_db  # noqa: E402
from heisenberg_audio.core.echo.gate import EchoGate, EchoGateConfig  # noqa: E402
from heisenberg_audio.core.echo.reference import ReferenceBuffer  # noqa: E402
from heisenberg_audio.core.echo.simulation import EchoSimulationConfig, EchoSimulator  # noqa: E402
from heisenberg_audio.core.stt.vad import SileroVad, SpeechDetector  # noqa: E402
from heisenberg_audio.core.wake_word import WakeWordConfig, WakeWordDetector  # noqa: E402

SR = 16000
FRAME = 320            # capture's 20 ms frames
CHUNK = 1600           # tts's 100 ms chunks
T0 = 1000.0            # capture time of the first sample of a run (any clock will do)
LEAD = 1.0             # s of silence before the robot starts
ROBOT = [
    'Once upon a time, a brave little robot lived in a quiet town by the sea.',
    'Every morning it rolled down to the harbour to count the boats and greet the fishermen.',
    'One day a storm came, and the robot had to help the sailors find their way home.',
    'It shone its lights across the waves until every boat was safe in the harbour.',
    'If you need me, just say hey Jarvis, and I will listen.',
    'The fishermen thanked the robot and gave it a new coat of bright red paint.',
    'From then on, the little robot was the pride of the whole town.',
    'Children came to see it every weekend, and it told them stories about the sea.',
    'Sometimes it would sing a little song about the waves and the wind.',
    'And when the night came, it rolled back home and dreamed of electric sheep.',
]
USER = 'Stop. What is the capital of France?'
CONDITIONS = [(0.5, 0.03), (0.7, 0.05), (1.0, 0.08)]
FRONT_ENDS = {
    'none (raw echo)': (False, None),
    'gate only (0 dB)': (False, EchoGateConfig(echo_level_db=0.0)),
    'AEC3 + gate (default)': (True, EchoGateConfig()),
}
PLACEMENTS = (0.02, 0.2, 0.45, 0.7)   # where in the reply the user interrupts (fraction of it)
AFTER_USER = 3.0                      # s of a run kept after the user starts


@dataclasses.dataclass
class RunResult:
    barge_ins: list      # BargeInDetected, confirmed
    onsets: list         # BargeInDetected, tentative
    wakes: int
    echo_in: np.ndarray  # the echo part of the mic, for ERLE
    out: np.ndarray      # what capture would publish


def run(robot: np.ndarray, user: np.ndarray | None, user_at: float, gain: float, delay: float,
        cancel: bool, gate_config: EchoGateConfig | None, vad: SileroVad, wake: WakeWordDetector | None,
        ) -> RunResult:
    """One pass of the whole chain over LEAD s + the robot's reply + 1 s, user speech mixed at user_at.

    With user speech the run stops AFTER_USER s after it starts.
    """
    total = int((LEAD + len(robot) / SR + 1.0) * SR)
    total += -total % FRAME
    played = np.zeros(total, dtype=np.int16)
    played[int(LEAD * SR):int(LEAD * SR) + len(robot)] = robot
    room = np.zeros(total + len(user if user is not None else []), dtype=np.int16)  # the user, at the mic
    if user is not None:
        at = int(user_at * SR)
        room[at:at + len(user)] = user
        total = min(total, int((user_at + AFTER_USER) * SR) // FRAME * FRAME)

    capture_ref, stt_ref = ReferenceBuffer(60.0), ReferenceBuffer(60.0)
    timeline = SpeakingTimeline()
    start, end = int(LEAD * SR), min(total, int(LEAD * SR) + len(robot))
    for offset in range(start, end, CHUNK):   # tts: 100 ms chunks stamped with playback time
        chunk = played[offset:min(offset + CHUNK, end)]
        for buffer in (capture_ref, stt_ref):
            buffer.add(chunk, T0 + offset / SR)
        timeline.chunk(T0 + offset / SR, len(chunk) / SR)
    timeline.stop(T0 + end / SR)

    simulator = EchoSimulator(EchoSimulationConfig(gain=gain, delay=delay), capture_ref)
    canceller = EchoCanceller(EchoCancelConfig(), capture_ref) if cancel else None
    gate = EchoGate(gate_config or EchoGateConfig(enabled=False), stt_ref)
    barge = BargeInDetector(BargeInConfig(), timeline)   # the shipped pause_after: onsets too
    detector = SpeechDetector(vad)
    detector.reset()
    if wake is not None:
        wake.reset()
    echo_in, out, found, onsets, wakes = [], [], [], [], 0
    for offset in range(0, total, FRAME):
        stamp = T0 + offset / SR
        echo = simulator.mix(np.zeros(FRAME, dtype=np.int16), stamp)
        mic = np.clip(echo.astype(np.int32) + room[offset:offset + FRAME], -32768, 32767).astype(np.int16)
        lag = 0
        if canceller is not None:
            mic, lag = canceller.process(mic, stamp)
        published = stamp - lag / SR
        echo_in.append(echo)
        out.append(mic)
        for frame in detector.push(mic, published):
            hit = barge.push(frame, lambda f: gate.is_echo(f.samples, f.start))
            if hit is not None:
                (onsets if hit.tentative else found).append(hit)
        if wake is not None:
            gate.observe(mic, published)
            for detection in wake.process(mic, int(round(published * 1e9))):
                stamp_end = detection.stamp_ns / 1e9
                wakes += not gate.phrase_is_echo(stamp_end - 1.0, stamp_end)
    return RunResult(found, onsets, wakes, np.concatenate(echo_in), np.concatenate(out))


def onset_of(user: np.ndarray) -> float:
    """Seconds into the clip where the user's speech starts (first 10 ms above -40 dBFS)."""
    power = np.mean(np.square(user[:len(user) // 160 * 160].astype(np.float64).reshape(-1, 160)), axis=1)
    loud = np.nonzero(power > (32768 * 0.01) ** 2)[0]
    return float(loud[0] * 160 / SR) if len(loud) else 0.0


def offline(speech: Speech, models: Path) -> None:
    robot = np.concatenate([np.concatenate([speech.say(t), silence(0.25)]) for t in ROBOT])
    user = speech.say(USER)
    vad = SileroVad(models / 'openwakeword' / 'silero_vad.onnx')
    wake = WakeWordDetector(WakeWordConfig(models_dir=str(models)))
    hours = len(robot) / SR / 3600
    robot_s = len(robot) / SR
    placements = [LEAD + f * robot_s for f in PLACEMENTS]
    user_onset = onset_of(user)
    print(f'echo: {robot_s:.1f} s of robot speech (one sentence says "hey Jarvis"); '
          f'{len(placements)} interruptions "{USER}" per condition\n')
    print(f"| {'gain':>4} | {'delay':>5} | {'front end':22} | {'ERLE dB 1s+':>11} | {'ERLE dB 0-1s':>12} "
          f"| {'self-int./h':>11} | {'onsets/h':>8} | {'barge-in':>8} | {'reaction p50':>12} | {'max':>5} "
          f"| {'onset p50':>9} |")
    print('|' + '|'.join('-' * width for width in (6, 7, 24, 13, 14, 13, 10, 10, 14, 7, 11)) + '|')
    for gain, delay in CONDITIONS:
        for name, (cancel, gate_config) in FRONT_ENDS.items():
            alone = run(robot, None, 0, gain, delay, cancel, gate_config, vad, wake)
            first, rest = slice(int(LEAD * SR), int((LEAD + 1) * SR)), slice(int((LEAD + 1) * SR), None)
            if cancel:
                erle = f'{erle_db(alone.echo_in[rest], alone.out[rest]):11.1f}'
                erle0 = f'{erle_db(alone.echo_in[first], alone.out[first]):12.1f}'
            else:
                erle, erle0 = f"{'-':>11}", f"{'-':>12}"
            self_interruptions = (len(alone.barge_ins) + alone.wakes) / hours
            false_onsets = len(alone.onsets) / hours
            reactions, pauses = [], []
            for at in placements if gate_config is not None else ():  # raw: it already fired on echo
                result = run(robot, user, at, gain, delay, cancel, gate_config, vad, None)
                onset = T0 + at + user_onset
                hits = [h for h in result.barge_ins if h.detected_at >= onset - 0.1]
                if hits:
                    reactions.append(hits[0].detected_at - onset)
                paused = [h for h in result.onsets if h.detected_at >= onset - 0.1]
                if paused:
                    pauses.append(paused[0].detected_at - onset)
            rate = f'{len(reactions)}/{len(placements)}' if gate_config is not None else '-'
            p50 = f'{np.median(reactions) * 1000:9.0f} ms' if reactions else f"{'-':>12}"
            worst = f'{max(reactions) * 1000:5.0f}' if reactions else f"{'-':>5}"
            paused = f'{np.median(pauses) * 1000:6.0f} ms' if pauses else f"{'-':>9}"
            print(f'| {gain:4.1f} | {delay * 1000:3.0f}ms | {name:22} | {erle} | {erle0} '
                  f'| {self_interruptions:11.0f} | {false_onsets:8.0f} | {rate:>8} | {p50} | {worst} '
                  f'| {paused} |')
    print('\nself-int./h: barge-ins + wake words on the echo alone, per hour of robot speech; onsets/h: '
          'tentative barge-ins (a pause of the reply) on the echo alone; reaction: user speech onset -> '
          'BargeIn decision (capture time, before DDS); onset: -> the tentative one '
          f'(pause_after {BargeInConfig().pause_after:g} s).')


CONFIRMED_WITHIN = 1.0   # s: a tentative onset with no confirmed BargeIn this soon is a false one


def restart_stt(room, params: dict | None) -> None:
    since = time.monotonic()
    room.graph.restart('stt', params)
    room.monitor.wait_for(lambda: any('/stt' in status.name for array in room.monitor.of('diagnostics', since)
                                      for status in array.status), 60, poll=room.graph.poll)


def interruptions(room, runs: int, clip_lead: float) -> tuple[list, int, float]:
    """One uninterrupted story, then `runs` interrupted ones.

    Returns the rows ((onset -> BargeIn received, -> silenced) or None when missed), the false
    onsets and the seconds of robot speech heard meanwhile.
    """
    started, started_wall = time.monotonic(), time.time()
    room.idle()
    room.speak_story()
    room.idle()
    rows = []
    for run_number in range(runs):
        room.idle()
        _, since = room.speak_story()
        turn = room.monitor.of('state', since)[-1].turn_id
        time.sleep(1.0 + 0.6 * (run_number % 4))   # a different moment of the reply each time
        clip, clip_wall = room.play(USER)
        heard = room.wait_state('LISTENING', clip, 30)
        barge = [b for b in room.barge_ins_since(clip_wall) if b[0].source == 'vad']
        if not heard or not barge:
            rows.append(None)
            continue
        time.sleep(1.0)   # the last chunks' speech_activity
        onset, silenced = room.onset(clip_wall), room.silenced_at(str(turn))
        spoken = room.clip_start(clip_wall) + clip_lead + onset_of(room.speech.say(USER))
        rows.append((barge[0][1] - onset, silenced - onset, silenced - spoken))
    room.idle()
    seen = room.barge_ins_since(started_wall)
    confirmed = [at for msg, at in seen if msg.source == 'vad']
    false_onsets = sum(1 for msg, at in seen if msg.source == 'onset'
                       and not any(at <= c <= at + CONFIRMED_WITHIN for c in confirmed))
    speech = sum(m.chunk_duration for m in room.monitor.of('speech_activity', started)
                 if m.chunk_duration > 0)
    return rows, false_onsets, speech


def graph_configs(pause_after: list[float]) -> list[tuple[str, dict]]:
    """stt's configurations for the graph part, in one run: the pause off first, then each value."""
    shipped = BargeInConfig().pause_after
    return [('pause off (pause_after 0)', {'barge_in.pause_after': 0.0})] + [
        (f"pause_after {value:g}{' (shipped)' if value == shipped else ''}",
         {} if value == shipped else {'barge_in.pause_after': value}) for value in pause_after]


def graph_reactions(speech: Speech, runs: int, pause_after: list[float]) -> None:
    """The user interrupts a spoken story `runs` times per configuration over the real graph."""
    from benchlib import isolate_ros_session, load_average, machine_info  # noqa: E402
    isolate_ros_session()
    from heisenberg_brain.core.llama_server import free_port
    from heisenberg_bringup.graph import Graph
    from heisenberg_bringup.monitor import GraphMonitor
    from heisenberg_testing.graph_params import graph_overrides
    from heisenberg_testing.speech import write_wav
    sys.path.insert(0, str(ROOT / 'tests'))
    from test_barge_in_echo import ECHO, ROOT_CONFIG, EchoRoom   # the graph test's room, as is
    from test_barge_in_echo import LEAD as clip_lead   # s of silence before the user speaks in a clip

    work = Path(tempfile.mkdtemp(prefix='bench_echo_'))
    port = free_port()
    # The graph test's overrides (greedy, no follow-up window: the room waits for IDLE after each reply).
    overrides = graph_overrides(port, {**ECHO, 'source': 'file', 'pad_silence': True,
                                       'file_path': str(write_wav(work / 'quiet.wav', silence(0.5)))})
    graph, monitor = Graph(ROOT_CONFIG, work / 'logs', overrides), GraphMonitor()
    results = {}
    load_before = load_average()
    try:
        graph.start()
        if not monitor.wait_ready(timeout=180, poll=graph.poll):
            print(f'graph not ready; logs in {work / "logs"}')
            return
        room = EchoRoom(graph, monitor, speech, work)
        for name, params in graph_configs(pause_after):
            restart_stt(room, params)
            results[name] = interruptions(room, runs, clip_lead)
    finally:
        monitor.close()
        graph.stop()
    print(f'\nover the graph (echo gain {ECHO["echo_simulation.gain"]}, delay '
          f'{ECHO["echo_simulation.delay"] * 1000:.0f} ms), {runs} interruptions per configuration; '
          f'{machine_info()}; load average {load_before} before, {load_average()} after')
    print('level onset: the first audio/in frame above -35 dBFS; clip onset: where the clip\'s speech starts')
    print(f"| {'configuration':34} | {'run':>3} | {'level onset -> BargeIn (vad)':>28} "
          f"| {'-> silenced':>11} | {'clip onset -> silenced':>22} |")
    print(f"|{'-' * 36}|{'-' * 5}|{'-' * 30}|{'-' * 13}|{'-' * 24}|")
    for name, (rows, _, _) in results.items():
        for k, row in enumerate(rows):
            cells = ('missed', '-', '-') if row is None else tuple(f'{value * 1000:.0f} ms' for value in row)
            print(f'| {name:34} | {k + 1:>3} | {cells[0]:>28} | {cells[1]:>11} | {cells[2]:>22} |')
    print(f"\n| {'configuration':34} | {'detected':>8} | {'level onset -> BargeIn (vad) p50':>33} "
          f"| {'-> silenced p50 / p90':>21} | {'clip onset -> silenced p50 / p90':>32} "
          f"| {'false onsets/h':>14} | {'robot speech':>12} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 35}|{'-' * 23}|{'-' * 34}|{'-' * 16}|{'-' * 14}|")
    for name, (rows, false_onsets, spoken) in results.items():
        found = [r for r in rows if r is not None]

        def p50_p90(column):
            if not found:
                return '-'
            values = [r[column] * 1000 for r in found]
            return f'{np.median(values):.0f} / {np.percentile(values, 90):.0f} ms'
        barge = f'{np.median([r[0] for r in found]) * 1000:.0f} ms' if found else '-'
        per_hour = f'{false_onsets / (spoken / 3600):.0f} ({false_onsets})' if spoken else '-'
        print(f'| {name:34} | {len(found):>4}/{len(rows):<3} | {barge:>33} | {p50_p90(1):>21} '
              f'| {p50_p90(2):>32} | {per_hour:>14} | {spoken:10.0f} s |')
    print('\nfalse onsets: tentative barge-ins (BargeIn onset: the reply silenced, then resumed) not '
          f'confirmed within {CONFIRMED_WITHIN:g} s, per hour of robot speech (their count).')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--graph', type=int, default=0, metavar='N',
                        help='also interrupt N spoken replies over the real graph (llama-server and all)')
    parser.add_argument('--pause-after', default=str(BargeInConfig().pause_after), metavar='S[,S...]',
                        help="stt's barge_in.pause_after values to compare over the graph, after 0 (off)")
    parser.add_argument('--no-offline', action='store_true', help='only the graph part')
    args = parser.parse_args()
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    if not args.no_offline:
        offline(speech, models)
    if args.graph:
        graph_reactions(speech, args.graph, [float(v) for v in args.pause_after.split(',') if v])
    return 0


if __name__ == '__main__':
    sys.exit(main())
