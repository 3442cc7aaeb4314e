"""stt: after a wake word, a barge-in or in the follow-up window, find the utterance and transcribe it.

Subscribes audio/in (AudioDataStamped, graph format), audio/info (latched AudioInfo),
wake_word (WakeWordDetection) and the brain's state (AssistantState); publishes Transcript on
transcript (final transcripts, or nothing_heard with a reason) and the node's health on
/diagnostics. The logic is in core/stt/endpointing.py (when), core/stt/transcriber.py (what)
and core/stt/worker.py (whisper off the audio thread, speculation during the trailing silence).

The robot's own voice: core/echo/gate.py judges each voiced window against the robot's
expected echo (from what tts plays on audio/out); a window it takes for the echo is silence,
for the endpointer (so the reply cannot reopen or lengthen the user's turn) and for barge-in.
Barge-in: while the robot speaks (speech_activity from tts, and the pauses between the
sentences of a reply the brain's state still calls SPEAKING), the windows go to
core/stt/barge_in.py. When the user talks over the robot, stt publishes BargeIn on barge_in
and starts a turn at the speech onset, as a wake word would, so the interrupting question is
transcribed. A moment earlier (barge_in.pause_after, or one mic chunk far louder than the
robot's expected echo) it publishes a tentative BargeIn 'onset', on which tts silences the reply until
the barge-in is confirmed, withdrawn (BargeIn 'withdrawn': the sound stopped short of a
barge-in; tts resumes at once) or its hold ends.
Follow-up: when the brain's state opens the follow-up window (LISTENING by FOLLOW_UP, after a
reply played to its end), a turn opens without a wake word (core/stt/follow_up.py); the echo
gate keeps the robot's voice tail from starting it, and silence until the window ends is
published as nothing heard.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import sys
import threading
import time

from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from heisenberg_interfaces.msg import AssistantState, BargeIn, SpeechActivity, Transcript, WakeWordDetection
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node

from heisenberg_audio.core.audio_format import mismatch_reason
from heisenberg_audio.core.stt.barge_in import BargeInDetected, BargeInDetector, SpeakingTimeline
from heisenberg_audio.core.echo.gate import EchoGate
from heisenberg_audio.core.stt.endpointing import (
    EndOfSpeech, Endpointer, NoSpeech, Speculation, SpeechDropped, SpeechStarted, TurnReopened, TurnStarted,
    Utterance)
from heisenberg_audio.core.stt.config import SttConfig
from heisenberg_audio.core.stt.follow_up import StateSeen, Verdict, follow_up_verdict
from heisenberg_audio.core.stt.vad import SileroVad, SpeechDetector, VadFrame
from heisenberg_audio.core.stt.worker import SpeculativeTranscriber
from heisenberg_audio.core.stt.transcriber import Transcriber, Transcription
from heisenberg_audio.core.stt.turn import SmartTurn
from heisenberg_audio.nodes.audio_messages import format_of, samples_of, subscribe_reference
from heisenberg_common.diagnostics import ERROR, OK, WARN, DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config
from heisenberg_common.qos import EVENTS, LATCHED, STATE, audio_in_queue
from heisenberg_common.runner import run_node
from heisenberg_common.stamps import seconds_of, time_msg

AUDIO_SILENT_AFTER = 1.0   # s without audio before an open turn is closed on the clock
# A burst arriving while the CPU is busy with whisper must not overflow.
AUDIO_IN_QUEUE = audio_in_queue(seconds=2.0)
ERROR_THROTTLE = 5.0       # s between repeats of the same error log
# speech_activity comes 10 times a second while the robot speaks; a deep queue so that a stop
# is never dropped while the audio callbacks hold the group.
ACTIVITY_QUEUE = copy.copy(EVENTS)
ACTIVITY_QUEUE.depth = 100


def _already_gated(frame: VadFrame) -> bool:
    """Echo verdict for barge-in: windows reach it with the robot's echo already made silence."""
    return False


class SttNode(Node):
    def __init__(self):
        super().__init__('stt')
        self.config = declare_config(self, SttConfig)
        self._load_models()
        self._stats_lock = threading.Lock()
        self._stats = {'turns': 0, 'transcripts': 0, 'nothing_heard': 0, 'rejected_frames': 0,
                       'last_latency': float('nan'), 'last_endpoint_delay': float('nan'),
                       'last_transcribe_time': float('nan')}
        self._format_error = ''
        self._audio_format = 'not announced (assuming 16000 Hz mono S16LE)'
        self._last_audio_wall: float | None = None
        self._closing = False
        # Turns whose utterance was only the wake phrase, to resume in the audio group (whisper's
        # results arrive on its worker thread; the endpointer is only touched from that group).
        self._to_resume: collections.deque[Utterance] = collections.deque()

        self._transcripts = self.create_publisher(Transcript, 'transcript', EVENTS)
        self._barge_in_pub = self.create_publisher(BargeIn, 'barge_in', EVENTS)
        self._timeline = SpeakingTimeline()
        self._echo_gate = EchoGate(self.config.echo)
        # Below both thresholds a window counts as silence anyway: no need to ask the gate.
        self._voiced_floor = min(self.config.vad_threshold, self.config.barge_in.threshold)
        self._barge_in = BargeInDetector(self.config.barge_in, self._timeline)
        self._diagnostics = DiagnosticsPublisher(self, 'speech-to-text')
        # Audio, format, wake words and the audio watchdog share one mutually exclusive
        # group: the endpointer sees them in order, without locks. Whisper runs elsewhere.
        audio_group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(AudioInfo, 'audio/info', self._on_info, LATCHED,
                                 callback_group=audio_group)
        self.create_subscription(WakeWordDetection, 'wake_word', self._on_wake, EVENTS,
                                 callback_group=audio_group)
        self.create_subscription(AssistantState, 'state', self._on_state, STATE, callback_group=audio_group)
        self.create_subscription(AudioDataStamped, 'audio/in', self._on_audio, AUDIO_IN_QUEUE,
                                 callback_group=audio_group)
        self.create_timer(0.25, self._watch_audio, callback_group=audio_group)
        if self.config.barge_in.enabled:
            self.create_subscription(SpeechActivity, 'speech_activity', self._on_speech_activity,
                                     ACTIVITY_QUEUE, callback_group=audio_group)
        if self.config.echo.enabled:
            subscribe_reference(self, self.config.echo.reference_topic, self._echo_gate.add_reference,
                                callback_group=audio_group)
        self.create_timer(1.0, self._publish_diagnostics, callback_group=MutuallyExclusiveCallbackGroup())

    def _load_models(self) -> None:
        config = self.config
        try:
            self._detector = SpeechDetector(SileroVad(config.resolved_vad_model))
            start = time.perf_counter()
            self._transcriber = Transcriber(config)
            self._smart_turn = SmartTurn(config.resolved_smart_turn_model) if config.smart_turn else None
            loaded = time.perf_counter() - start
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(f'{self.get_name()}: {exc}') from exc
        except Exception as exc:  # onnxruntime / CTranslate2 raise their own types on bad files
            raise ConfigError(f'{self.get_name()}: cannot load a model: {exc}') from exc
        warm_up = self._transcriber.warm_up()
        if self._smart_turn is not None:
            self._smart_turn.warm_up()
        self._endpointer = Endpointer(config, self._smart_turn.probability if self._smart_turn else None)
        self._worker = SpeculativeTranscriber(self._transcriber.transcribe)
        self.get_logger().info(
            f'whisper {self._transcriber.model_dir} loaded in {loaded:.2f} s ({config.compute_type}, '
            f'beam {config.beam_size}, {config.threads} threads, language '
            f"'{self._transcriber.language or 'detect'}'), warm-up {warm_up:.2f} s; "
            f"VAD {config.resolved_vad_model.name}; speculative {'on' if config.speculative else 'off'}; "
            + (f'end of turn: {config.resolved_smart_turn_model.name} after {config.smart_turn_after:g} s, '
               f'else {config.end_of_speech_silence:g} s of silence' if self._smart_turn is not None
               else f'end of turn after {config.end_of_speech_silence:g} s of silence'))

    def close(self) -> None:
        self._closing = True  # a transcription still running must not publish on a dead node
        self._worker.close()

    # -- inputs ----------------------------------------------------------------------

    def _on_info(self, msg: AudioInfo) -> None:
        fmt = format_of(msg)
        described = f'{fmt.sample_rate} Hz, {fmt.channels} ch, {fmt.sample_format}'
        if described == self._audio_format:
            return  # the same announcement again (a late joiner's latched copy)
        self._audio_format = described
        reason = mismatch_reason(fmt)
        self._detector.reset()
        self._endpointer.reset()
        if reason:
            self._format_error = (f'audio/in is unusable: {reason}. stt takes the graph format only; '
                                  f'let capture convert the stream')
            self.get_logger().error(self._format_error)
        elif self._format_error:
            self._format_error = ''
            self.get_logger().info(f'audio/in format is usable again ({self._audio_format})')

    def _on_audio(self, msg: AudioDataStamped) -> None:
        if self._format_error:
            self._reject_frame(self._format_error)
            return
        try:
            samples = samples_of(msg)
        except ValueError as exc:
            self._reject_frame(f'audio/in frame dropped: {exc}')
            return
        self._last_audio_wall = time.monotonic()
        self._resume_turns()
        self._cue_barge_in(samples, seconds_of(msg.header.stamp))   # before Silero's windows: sooner
        gaps = self._detector.gaps
        frames = self._detector.push(samples, seconds_of(msg.header.stamp))
        if self._detector.gaps != gaps:
            self.get_logger().warning(
                f'audio/in jumped {self._detector.last_gap:+.3f} s '
                f'(the stream paused, or frames were lost upstream)',
                throttle_duration_sec=ERROR_THROTTLE)
        for frame in frames:
            heard = self._without_echo(frame)
            self._handle(self._endpointer.push(heard))
            self._watch_for_barge_in(heard)

    def _resume_turns(self) -> None:
        while self._to_resume:
            utterance = self._to_resume.popleft()
            self._handle(self._endpointer.resume(utterance.turn_id, utterance.speech_end))

    def _reject_frame(self, why: str) -> None:
        with self._stats_lock:
            self._stats['rejected_frames'] += 1
        self.get_logger().error(why, throttle_duration_sec=ERROR_THROTTLE)

    def _on_wake(self, msg: WakeWordDetection) -> None:
        stamp = seconds_of(msg.header.stamp)
        self.get_logger().info(f"wake word '{msg.keyword}' (score {msg.score:.2f}) at {stamp:.3f}")
        self._start_turn(stamp)

    def _on_state(self, msg: AssistantState) -> None:
        """The brain's state: a reply still SPEAKING keeps barge-in armed; FOLLOW_UP opens a turn."""
        self._timeline.reply(msg.state == AssistantState.SPEAKING, seconds_of(msg.header.stamp))
        seen = StateSeen(msg.state_name, msg.cause, seconds_of(msg.header.stamp), msg.listen_window)
        now = self.get_clock().now().nanoseconds * 1e-9
        verdict = follow_up_verdict(seen, now, self._endpointer.waiting_for_follow_up)
        if verdict is Verdict.OPEN:
            self.get_logger().info(f'follow-up window: listening {seen.listen_window:g} s from '
                                   f'{seen.stamp:.3f} without the wake word')
            self._start_turn(seen.stamp, listen_for=seen.listen_window)
        elif verdict is Verdict.CLOSE:
            self.get_logger().info(f'turn {self._endpointer.turn_id}: follow-up window closed unused '
                                   f'(the assistant is {msg.state_name} by {msg.cause})')
            self._endpointer.abandon()

    def _start_turn(self, stamp: float, listen_for: float | None = None) -> None:
        events = self._endpointer.start_turn(stamp, listen_for)
        if self._format_error:
            # We cannot listen: say so at once, so the brain does not wait for this turn.
            self._endpointer.abandon()
            events = events[:1] + [NoSpeech(events[0].turn_id, stamp, stamp, self._format_error)]
        self._handle(events)

    def _on_speech_activity(self, msg: SpeechActivity) -> None:
        if msg.speaking and msg.chunk_duration > 0:
            self._timeline.chunk(seconds_of(msg.audio_start), msg.chunk_duration)
        elif not msg.speaking:
            self._timeline.stop(seconds_of(msg.audio_start))

    def _cue_barge_in(self, samples, stamp: float) -> None:
        """The level cue on the chunk as it arrived, before Silero has a whole window of it."""
        if self._endpointer.turn_id == 0:
            self._report_barge_in(self._barge_in.hear(
                samples, stamp, lambda: self._echo_gate.excess_db(samples, stamp)))

    def _watch_for_barge_in(self, frame: VadFrame) -> None:
        if self._endpointer.turn_id != 0:
            self._barge_in.reset()  # already listening to the user
            return
        self._report_barge_in(self._barge_in.push(frame, _already_gated))

    def _report_barge_in(self, detected: BargeInDetected | None) -> None:
        if detected is None:
            return
        if detected.confirmed:
            self._on_barge_in(detected)
            return
        self._publish_barge_in(detected.source, float(detected.score), detected.onset)
        if detected.tentative:
            self.get_logger().info(f'barge-in onset at {detected.onset:.3f} (tentative, '
                                   f'{detected.reaction:.2f} s after onset): tts pauses the reply')
        else:
            self.get_logger().info(f'barge-in onset at {detected.onset:.3f} withdrawn (not confirmed '
                                   f'{detected.reaction:.2f} s after it): tts resumes the reply')

    def _without_echo(self, frame: VadFrame) -> VadFrame:
        """The window as the user's voice: one the gate takes for the robot's own is silence.

        For the endpointer as for barge-in: the robot's reply starts while the turn may still be
        reopened (and a turn may be open while a Respond goal speaks); heard as speech, its
        echo would reopen the turn, stop the reply and be transcribed as the user's words.
        """
        if frame.prob >= self._voiced_floor and self._echo_gate.is_echo(frame.samples, frame.start):
            return dataclasses.replace(frame, prob=0.0)
        return frame

    def _publish_barge_in(self, source: str, score: float, onset: float) -> None:
        msg = BargeIn(source=source, score=score)
        msg.header.stamp = time_msg(onset)
        self._barge_in_pub.publish(msg)

    def _on_barge_in(self, detected: BargeInDetected) -> None:
        self._publish_barge_in(detected.source, float(detected.score), detected.onset)
        self.get_logger().info(
            f'barge-in: the user spoke over the robot from {detected.onset:.3f} (speech probability '
            f'{detected.score:.2f}, detected {detected.reaction:.2f} s after onset); listening')
        self._handle(self._endpointer.start_turn(detected.onset))

    def _watch_audio(self) -> None:
        """Close an open turn when audio stops arriving (a dead capture must not hang it)."""
        last_frame_end = self._endpointer.last_frame_end
        if self._endpointer.turn_id == 0 or self._last_audio_wall is None or last_frame_end is None:
            return
        silent_for = time.monotonic() - self._last_audio_wall
        if silent_for > AUDIO_SILENT_AFTER:
            self._handle(self._endpointer.expire(last_frame_end + silent_for))

    # -- events ----------------------------------------------------------------------

    def _handle(self, events: list) -> None:
        for event in events:
            if isinstance(event, TurnStarted):
                self._on_turn_started(event)
            elif isinstance(event, SpeechStarted):
                self.get_logger().debug(f'turn {event.turn_id}: speech from {event.speech_start:.3f}')
            elif isinstance(event, SpeechDropped):
                self.get_logger().info(
                    f'turn {event.turn_id}: ignored {event.speech_end - event.speech_start:.2f} s of '
                    f'speech ({event.reason}); still listening')
            elif isinstance(event, Speculation):
                self._worker.speculate(event.utterance.key, event.utterance.audio)
            elif isinstance(event, EndOfSpeech):
                self._transcribe(event.utterance)
            elif isinstance(event, NoSpeech):
                self._publish_nothing_heard(event)
            elif isinstance(event, TurnReopened):
                self._on_turn_reopened(event)

    def _on_turn_started(self, event: TurnStarted) -> None:
        with self._stats_lock:
            self._stats['turns'] += 1
        replaced = f' (replaces unfinished turn {event.superseded})' if event.superseded else ''
        self.get_logger().info(f'turn {event.turn_id}: listening{replaced}')

    def _on_turn_reopened(self, event: TurnReopened) -> None:
        """The user went on after a pause taken for the end: stop the reply to half a request."""
        self._publish_barge_in('continued', 1.0, event.speech_start)
        self.get_logger().info(f'turn {event.turn_id}: the speaker went on at {event.speech_start:.3f}; '
                               f'listening again (its next transcript replaces the last)')

    def _transcribe(self, utterance: Utterance) -> None:
        future, speculative = self._worker.final(utterance.key, utterance.audio)
        endpoint_wall = time.monotonic()
        future.add_done_callback(functools.partial(
            self._on_transcribed, utterance, speculative, endpoint_wall))

    def _on_transcribed(self, utterance: Utterance, speculative: bool, endpoint_wall: float,
                        future) -> None:
        if future.cancelled() or self._closing:
            return
        error = future.exception()
        if error is not None:
            self.get_logger().error(f'turn {utterance.turn_id}: transcription failed: {error}')
            result = Transcription('', '', '', True, f'transcription failed: {error}', 0.0)
        else:
            result = future.result()
        after_endpoint = time.monotonic() - endpoint_wall
        if result.only_wake_phrase:
            self.get_logger().info(f'turn {utterance.turn_id}: {result.reason}; still listening for the '
                                   f'question')
            self._to_resume.append(utterance)
            return
        self._publish_transcript(utterance, result)
        self._log_transcript(utterance, result, speculative, after_endpoint)
        with self._stats_lock:
            self._stats['transcripts' if not result.nothing_heard else 'nothing_heard'] += 1
            self._stats['last_endpoint_delay'] = utterance.endpoint_delay
            self._stats['last_transcribe_time'] = result.transcribe_time
            self._stats['last_latency'] = utterance.endpoint_delay + after_endpoint

    def _publish_transcript(self, utterance: Utterance, result: Transcription) -> None:
        msg = Transcript()
        msg.header.stamp = time_msg(utterance.speech_end)
        msg.text = result.text
        msg.language = result.language
        msg.language_probability = float(result.language_probability)
        msg.is_final = True
        msg.nothing_heard = result.nothing_heard
        msg.reason = result.reason
        msg.turn_id = utterance.turn_id
        msg.speech_start = time_msg(utterance.speech_start)
        msg.speech_end = time_msg(utterance.speech_end)
        msg.endpoint_delay = float(utterance.endpoint_delay)
        msg.transcribe_time = float(result.transcribe_time)
        self._transcripts.publish(msg)

    def _log_transcript(self, utterance: Utterance, result: Transcription, speculative: bool,
                        after_endpoint: float) -> None:
        judged = ('' if utterance.turn_probability is None
                  else f' (turn model {utterance.turn_probability:.2f})')
        timing = (f'speech {utterance.speech_end - utterance.speech_start:.2f} s, '
                  f'{utterance.reason}{judged} after {utterance.endpoint_delay:.2f} s, whisper '
                  f"{result.transcribe_time:.2f} s{' (speculative)' if speculative else ''}, "
                  f'published {after_endpoint:.3f} s after the endpoint')
        said = (f'nothing heard: {result.reason}' if result.nothing_heard
                else f'"{result.text}" [{result.language} {result.language_probability:.2f}]')
        self.get_logger().info(f'turn {utterance.turn_id}: {said} ({timing})')

    def _publish_nothing_heard(self, event: NoSpeech) -> None:
        msg = Transcript()
        msg.header.stamp = time_msg(event.stamp)
        msg.is_final = True
        msg.nothing_heard = True
        msg.reason = event.reason
        msg.turn_id = event.turn_id
        msg.language = self._transcriber.language or ''
        self._transcripts.publish(msg)
        with self._stats_lock:
            self._stats['nothing_heard'] += 1
        self.get_logger().info(f'turn {event.turn_id}: nothing heard: {event.reason}')

    # -- health ----------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        with self._stats_lock:
            stats = dict(self._stats)
        age = None if self._last_audio_wall is None else time.monotonic() - self._last_audio_wall
        flowing = age is not None and age < AUDIO_SILENT_AFTER
        if self._format_error:
            level, message = ERROR, self._format_error
        elif not flowing:
            level, message = WARN, 'no audio on audio/in'
        else:
            level, message = OK, f'listening ({self._endpointer.phase.value})'
        values = {
            'model_loaded': 'true', 'model_dir': str(self._transcriber.model_dir),
            'language': self._transcriber.language or 'detect',
            'audio_flowing': str(flowing).lower(), 'audio_format': self._audio_format,
            'last_audio_age_s': 'never' if age is None else f'{age:.2f}',
            'phase': self._endpointer.phase.value, 'turns': str(stats['turns']),
            'transcripts': str(stats['transcripts']), 'nothing_heard': str(stats['nothing_heard']),
            'rejected_frames': str(stats['rejected_frames']), 'audio_gaps': str(self._detector.gaps),
            'speculative_hits': str(self._worker.hits), 'speculative_misses': str(self._worker.misses),
            'last_endpoint_delay_s': f"{stats['last_endpoint_delay']:.3f}",
            'last_transcribe_time_s': f"{stats['last_transcribe_time']:.3f}",
            'last_latency_s': f"{stats['last_latency']:.3f}",
            'turn_model': str(self._smart_turn.model_path) if self._smart_turn else 'off',
            'short_window_transcriptions': str(self._transcriber.short_windows),
            'full_window_transcriptions': str(self._transcriber.full_windows),
            'barge_in': 'on' if self.config.barge_in.enabled else 'off',
            'barge_ins': str(self._barge_in.detections),
            'barge_in_onsets': str(self._barge_in.onsets),
            'barge_in_onsets_by_level': str(self._barge_in.cued),
            'barge_in_onsets_withdrawn': str(self._barge_in.withdrawals),
            'robot_speaking': str(self._timeline.speaking).lower(),
            'echo_gated_windows': str(self._echo_gate.gated),
        }
        self._diagnostics.publish(level, message, values)


def main(args=None):
    return run_node(SttNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
