"""Echo handling: ERLE, self-interruptions and barge-in on Piper speech, printed as tables.

    python bench/bench_echo.py [--graph N] [--compare pause,cue] [--no-offline]

Offline part (the nodes' own core classes, frame by frame as the nodes run them): the
robot's reply (~1 min of Piper speech, one sentence of it saying "Hey Jarvis") is played
into a ReferenceBuffer as tts would publish it, mixed into the mic at a gain and delay
(EchoSimulator), cancelled (EchoCanceller, WebRTC AEC3) and fed to Silero VAD +
BargeInDetector + EchoGate (stt) and openWakeWord + EchoGate (wake_word). Three front
ends are compared: nothing (raw echo), the level gate alone (echo_level_db 0, no
canceller) and the shipped default (AEC3 + gate at -35 dB). Reported:

- ERLE of the canceller on echo alone (after its first second, and over the first second);
- self-interruptions per hour of robot speech (barge-ins + wake words on echo alone: should be 0);
- barge-in detection rate and reaction (user speech onset -> BargeIn, in capture time) over
  user interruptions ("Stop. What is the capital of France?") placed at several moments;
- for two first stages fed the same windows (as shipped, with the level cue; and pause_after
  alone, as before it): false onsets (tentative barge-ins that would pause the reply) on the
  echo alone per hour, and the user's onset -> the tentative onset (BargeIn 'onset');
- non-speech sounds (a knock, a cough; seeded noise) over the robot's voice: how often each
  stage pauses the reply, and for how long before it withdraws the onset.

--graph N also runs the real graph (tests/test_barge_in_echo.py's way: heisenberg_bringup.Graph,
llama-server, echo simulation in capture) for N interruptions of a spoken story per
configuration of stt (--compare, in one run: 'pause' = pause_after alone, as before the level
cue; 'cue' = as shipped; 'off' = no first stage at all), and reports user speech onset ->
BargeIn received ('onset' and 'vad'), and -> reply audio silenced (where the interrupted
reply's audio on audio/out ends, as played by stamp: the playback end of its last chunk, or
the pause at which tts replaced what it had sent ahead with silence), on the wall clock the
stamps share; and false onsets (tentative barge-ins not confirmed within 1 s, the reply
silenced then resumed) per hour of robot speech heard.
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

from heisenberg_testing.speech import Speech, cough, knock, silence  # noqa: E402

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


# The first stage compared offline, both fed the same windows: as shipped (pause_after, the level
# cue, early withdrawals) and as before the cue (pause_after only).
STAGES = {'shipped': BargeInConfig(), 'pause only': BargeInConfig(cue_excess_db=0.0, withdraw_after=0.0)}


@dataclasses.dataclass
class RunResult:
    barge_ins: list      # BargeInDetected, confirmed (shipped)
    onsets: dict         # stage name -> BargeInDetected, tentative
    withdrawn: dict      # stage name -> BargeInDetected, withdrawals
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
    stages = {name: BargeInDetector(config, timeline) for name, config in STAGES.items()}
    detector = SpeechDetector(vad)
    detector.reset()
    if wake is not None:
        wake.reset()
    echo_in, out, found, wakes = [], [], [], 0
    onsets, withdrawn = {name: [] for name in STAGES}, {name: [] for name in STAGES}
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
        # As stt: the level cue on each frame as it comes, then the echo verdict on voiced windows.
        hits = [(name, barge.hear(mic, published, lambda: gate.excess_db(mic, published)))
                for name, barge in stages.items()]
        for frame in detector.push(mic, published):
            echo = frame.prob >= STAGES['shipped'].threshold and gate.is_echo(frame.samples, frame.start)
            hits += [(name, barge.push(frame, lambda f: echo)) for name, barge in stages.items()]
        for name, hit in hits:
            if hit is None:
                continue
            if hit.tentative:
                onsets[name].append(hit)
            elif not hit.confirmed:
                withdrawn[name].append(hit)
            elif name == 'shipped':
                found.append(hit)
        if wake is not None:
            gate.observe(mic, published)
            for detection in wake.process(mic, int(round(published * 1e9))):
                stamp_end = detection.stamp_ns / 1e9
                wakes += not gate.phrase_is_echo(stamp_end - 1.0, stamp_end)
    return RunResult(found, onsets, withdrawn, wakes, np.concatenate(echo_in), np.concatenate(out))


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
    names = list(STAGES)
    print(f"| {'gain':>4} | {'delay':>5} | {'front end':22} | {'ERLE dB 1s+':>11} | {'ERLE dB 0-1s':>12} "
          f"| {'self-int./h':>11} | {'barge-in':>8} | {'reaction p50':>12} | {'max':>5} "
          + ''.join(f"| {'onsets/h ' + n:>19} | {'onset p50 / max ' + n:>27} " for n in names) + '|')
    widths = (6, 7, 24, 13, 14, 13, 10, 14, 7) + (21, 29) * len(names)
    print('|' + '|'.join('-' * width for width in widths) + '|')
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
            reactions, pauses = [], {n: [] for n in names}
            for at in placements if gate_config is not None else ():  # raw: it already fired on echo
                result = run(robot, user, at, gain, delay, cancel, gate_config, vad, None)
                onset = T0 + at + user_onset
                hits = [h for h in result.barge_ins if h.detected_at >= onset - 0.1]
                if hits:
                    reactions.append(hits[0].detected_at - onset)
                for n in names:
                    paused = [h for h in result.onsets[n] if h.detected_at >= onset - 0.1]
                    if paused:
                        pauses[n].append(paused[0].detected_at - onset)
            rate = f'{len(reactions)}/{len(placements)}' if gate_config is not None else '-'
            p50 = f'{np.median(reactions) * 1000:9.0f} ms' if reactions else f"{'-':>12}"
            worst = f'{max(reactions) * 1000:5.0f}' if reactions else f"{'-':>5}"
            cells = ''
            for n in names:
                false_onsets = f'{len(alone.onsets[n]) / hours:.0f} ({len(alone.onsets[n])})'
                paused = (f'{np.median(pauses[n]) * 1000:.0f} / {max(pauses[n]) * 1000:.0f} ms'
                          if pauses[n] else '-')
                cells += f'| {false_onsets:>19} | {paused:>27} '
            print(f'| {gain:4.1f} | {delay * 1000:3.0f}ms | {name:22} | {erle} | {erle0} '
                  f'| {self_interruptions:11.0f} | {rate:>8} | {p50} | {worst} {cells}|')
    print('\nself-int./h: barge-ins + wake words on the echo alone, per hour of robot speech; reaction: user '
          'speech onset -> BargeIn decision (capture time, before DDS); onsets/h: tentative barge-ins (a '
          'pause of the reply) on the echo alone (their count); onset: user speech onset -> the tentative '
          'one. Stages: ' + '; '.join(f'{n}: {stage_text(c)}' for n, c in STAGES.items()) + '.')
    noises(robot, vad)


def stage_text(config: BargeInConfig) -> str:
    cue = f'{config.cue_excess_db:g} dB over the echo' if config.cue_excess_db else 'off'
    return f'pause_after {config.pause_after:g} s, level cue {cue}'


NOISE_SEED = 13


def noises(robot: np.ndarray, vad: SileroVad, gain: float = 0.7, delay: float = 0.05) -> None:
    """Non-speech sounds over the robot's voice (AEC3 + gate): how often each stage pauses, for how long."""
    rng = np.random.default_rng(NOISE_SEED)
    robot_s = len(robot) / SR
    placements = [LEAD + f * robot_s for f in (0.1, 0.3, 0.5, 0.7, 0.9)]
    print(f'\nnon-speech sounds over the robot (gain {gain}, delay {delay * 1000:.0f} ms, AEC3 + gate), '
          f'{len(placements)} placements each:')
    print(f"| {'sound':6} | {'stage':10} | {'paused':>6} | {'withdrawn':>9} | {'paused for p50 / max':>20} "
          f"| {'confirmed':>9} |")
    print(f"|{'-' * 8}|{'-' * 12}|{'-' * 8}|{'-' * 11}|{'-' * 22}|{'-' * 11}|")
    for sound, make in (('knock', knock), ('cough', cough)):
        counts = {n: [0, 0, [], 0] for n in STAGES}
        for at in placements:
            result = run(robot, make(rng), at, gain, delay, True, EchoGateConfig(), vad, None)
            near = T0 + at - 0.1
            confirmed = len([h for h in result.barge_ins if h.detected_at >= near])
            for n in STAGES:
                onsets = [h for h in result.onsets[n] if h.detected_at >= near]
                withdrawn = [h for h in result.withdrawn[n] if h.detected_at >= near]
                counts[n][0] += len(onsets)
                counts[n][1] += len(withdrawn)
                counts[n][2] += [w.detected_at - o.detected_at for o, w in zip(onsets, withdrawn)]
                counts[n][3] += confirmed if n == 'shipped' else 0
        for n, (paused, withdrawn, spans, confirmed) in counts.items():
            held = f'{np.median(spans) * 1000:.0f} / {max(spans) * 1000:.0f} ms' if spans else '-'
            print(f'| {sound:6} | {n:10} | {paused:>6} | {withdrawn:>9} | {held:>20} | '
                  f"{confirmed if n == 'shipped' else '':>9} |")
    print("(paused for: onset -> its withdrawal, in capture time; without a withdrawal tts's hold, 0.8 s, "
          'ends the pause; confirmed: barge-ins, which would cut the reply)')


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
        tentative = [at for msg, at in room.barge_ins_since(clip_wall) if msg.source == 'onset']
        rows.append({'level -> vad': barge[0][1] - onset, 'level -> silenced': silenced - onset,
                     'clip -> onset msg': tentative[0] - spoken if tentative else float('nan'),
                     'clip -> silenced': silenced - spoken})
    room.idle()
    seen = room.barge_ins_since(started_wall)
    confirmed = [at for msg, at in seen if msg.source == 'vad']
    false_onsets = sum(1 for msg, at in seen if msg.source == 'onset'
                       and not any(at <= c <= at + CONFIRMED_WITHIN for c in confirmed))
    speech = sum(m.chunk_duration for m in room.monitor.of('speech_activity', started)
                 if m.chunk_duration > 0)
    return rows, false_onsets, speech


# stt's configurations for the graph part (--compare), each run in turn in one run of the bench.
GRAPH_CONFIGS = {
    'off': ('pause off (pause_after 0, no cue)',
            {'barge_in.pause_after': 0.0, 'barge_in.cue_excess_db': 0.0}),
    'pause': ('pause only (as before: no level cue)',
              {'barge_in.cue_excess_db': 0.0, 'barge_in.withdraw_after': 0.0}),
    'cue': ('pause + level cue (shipped)', {}),
}


def graph_reactions(speech: Speech, runs: int, compare: list[str]) -> None:
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
        for name, params in (GRAPH_CONFIGS[key] for key in compare):
            restart_stt(room, params)
            results[name] = interruptions(room, runs, clip_lead)
    finally:
        monitor.close()
        graph.stop()
    print(f'\nover the graph (echo gain {ECHO["echo_simulation.gain"]}, delay '
          f'{ECHO["echo_simulation.delay"] * 1000:.0f} ms), {runs} interruptions per configuration; '
          f'{machine_info()}; load average {load_before} before, {load_average()} after')
    print('level onset: the first audio/in frame above -35 dBFS; clip onset: where the clip\'s speech starts')
    columns = ('level -> vad', 'level -> silenced', 'clip -> onset msg', 'clip -> silenced')
    print(f"| {'configuration':40} | {'run':>3} | " + ' | '.join(f'{c:>17}' for c in columns) + ' |')
    print(f"|{'-' * 42}|{'-' * 5}|" + '|'.join('-' * 19 for _ in columns) + '|')
    for name, (rows, _, _) in results.items():
        for k, row in enumerate(rows):
            cells = ['missed'] + ['-'] * 3 if row is None else [f'{row[c] * 1000:.0f} ms' for c in columns]
            print(f'| {name:40} | {k + 1:>3} | ' + ' | '.join(f'{c:>17}' for c in cells) + ' |')
    print(f"\n| {'configuration':40} | {'detected':>8} | {'level onset -> BargeIn (vad) p50':>33} "
          f"| {'level onset -> silenced p50 / p90':>33} | {'clip onset -> BargeIn onset p50':>31} "
          f"| {'clip onset -> silenced p50 / p90':>32} | {'false onsets/h':>14} | {'robot speech':>12} |")
    print(f"|{'-' * 42}|{'-' * 10}|{'-' * 35}|{'-' * 35}|{'-' * 33}|{'-' * 34}|{'-' * 16}|{'-' * 14}|")
    for name, (rows, false_onsets, spoken) in results.items():
        found = [r for r in rows if r is not None]

        def p50_p90(column):
            values = [r[column] * 1000 for r in found if not np.isnan(r[column])]
            return f'{np.median(values):.0f} / {np.percentile(values, 90):.0f} ms' if values else '-'

        def p50(column):
            values = [r[column] * 1000 for r in found if not np.isnan(r[column])]
            return f'{np.median(values):.0f} ms' if values else '-'
        per_hour = f'{false_onsets / (spoken / 3600):.0f} ({false_onsets})' if spoken else '-'
        print(f'| {name:40} | {len(found):>4}/{len(rows):<3} | {p50("level -> vad"):>33} '
              f'| {p50_p90("level -> silenced"):>33} | {p50("clip -> onset msg"):>31} '
              f'| {p50_p90("clip -> silenced"):>32} | {per_hour:>14} | {spoken:10.0f} s |')
    print('\nfalse onsets: tentative barge-ins (BargeIn onset: the reply silenced, then resumed) not '
          f'confirmed within {CONFIRMED_WITHIN:g} s, per hour of robot speech (their count).')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--graph', type=int, default=0, metavar='N',
                        help='also interrupt N spoken replies over the real graph (llama-server and all)')
    parser.add_argument('--compare', default='pause,cue', metavar='NAME[,NAME...]',
                        help="stt's configurations to compare over the graph, in this order: "
                             + ', '.join(f'{key} = {name}' for key, (name, _) in GRAPH_CONFIGS.items()))
    parser.add_argument('--no-offline', action='store_true', help='only the graph part')
    args = parser.parse_args()
    models = Path(os.environ.get('HEISENBERG_MODELS', ROOT / 'models'))
    speech = Speech(models / 'piper' / 'en_US-joe-medium.onnx')
    if not args.no_offline:
        offline(speech, models)
    if args.graph:
        graph_reactions(speech, args.graph, [key for key in args.compare.split(',') if key])
    return 0


if __name__ == '__main__':
    sys.exit(main())
