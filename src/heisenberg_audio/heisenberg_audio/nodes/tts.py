"""tts: the `speak` action server (Piper), paced reply audio on `audio/out`, instant flush.

Goals are queued and spoken in acceptance order; the next goal is synthesized while the
current one plays. A goal's execute callback runs only once it is its turn to speak (or
once it ends early), so queued goals hold no executor thread; cancel requests are served
by the other threads of the MultiThreadedExecutor at any moment.

Empty or whitespace-only text (or text with nothing to pronounce) SUCCEEDS with no audio
(audio_duration 0, time_to_first_audio -1). A cancel ends the goal CANCELED at once; what
was already published (at most `lead_time` + one chunk ahead of real time) still plays
downstream, and one chunk may be in flight on DDS when the cancel response arrives.
Stamps are playback times on the node's (wall) clock.

A tentative barge-in (BargeIn source 'onset' on barge_in, from stt) silences the reply at
once for `barge_in_hold` seconds: the local speaker is flushed, the chunks already sent for
after that moment are sent again as silence with the same stamps (a later chunk replaces an
earlier one: capture's echo reference and any speaker that plays by stamp fall silent; one
that plays whatever arrives still plays what it had), and speech_activity says paused. The
confirmed barge-in cancels the goals as usual; without it the reply resumes where it stopped,
when the hold ends or at once when stt withdraws the onset (BargeIn source 'withdrawn').
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np

from action_msgs.msg import GoalStatus
from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

from heisenberg_audio.core.audio_format import AudioFormat
from heisenberg_audio.core.tts.playback import LocalPlayer, PlaybackUnavailable
from heisenberg_audio.core.tts.synthesizer import Synthesizer, VoiceNotFoundError
from heisenberg_audio.core.tts.voices import Voices, load_voice, parse_voice_specs
from heisenberg_audio.core.tts.config import TtsConfig
from heisenberg_audio.core.tts.pipeline import Outcome, SpeakJob, SpeechPipeline
from heisenberg_audio.core.tts.recorder import UtteranceRecorder
from heisenberg_audio.nodes.audio_messages import audio_message, info_message
from heisenberg_common.diagnostics import OK, WARN, DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config, watch_config
from heisenberg_common.qos import AUDIO_OUT, EVENTS, LATCHED
from heisenberg_common.runner import run_node
from heisenberg_common.stamps import seconds_of, time_msg
from heisenberg_interfaces.action import Speak
from heisenberg_interfaces.msg import BargeIn, SpeechActivity

# Threads: the goal speaking, the one before it playing out its last lead_time, goals ending
# on a cancel, and spare ones so that cancel requests never wait for a free thread.
EXECUTOR_THREADS = 6
# CANCELING is set by rclpy just after cancel_callback returns; the goal waits for it this long.
CANCEL_STATE_TIMEOUT = 2.0
TENTATIVE_BARGE_IN = 'onset'   # BargeIn.source of stt's first stage (BargeIn.msg)
WITHDRAWN_BARGE_IN = 'withdrawn'   # ... and of its end without a confirmation


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + '…'


class TtsNode(Node):
    def __init__(self):
        super().__init__('tts')
        self.config = declare_config(self, TtsConfig)
        self.synthesizer = self._load_voice()
        self.format = AudioFormat(sample_rate=self.config.output_sample_rate)
        self._audio_pub = self.create_publisher(AudioDataStamped, 'audio/out', AUDIO_OUT)
        self._info_pub = self.create_publisher(AudioInfo, 'audio/out_info', LATCHED)
        self._activity_pub = self.create_publisher(SpeechActivity, 'speech_activity', EVENTS)
        self._diagnostics = DiagnosticsPublisher(self, 'text-to-speech',
                                                 hardware_id=self.synthesizer.default.name)
        self._info_pub.publish(info_message(self.format))
        self._player, self._player_error = self._open_player()
        self._recorder = UtteranceRecorder(Path(self.config.record_dir), self.format.sample_rate) \
            if self.config.record_dir else None
        self._jobs: dict[bytes, SpeakJob] = {}
        self._executing: set[bytes] = set()
        self._lock = threading.Lock()
        self._pipeline = SpeechPipeline(self.synthesizer, self, self.config.chunk_ms, self.config.lead_time)
        self._server = ActionServer(
            self, Speak, 'speak', execute_callback=self._execute, goal_callback=self._on_goal,
            handle_accepted_callback=self._on_accepted, cancel_callback=self._on_cancel,
            callback_group=ReentrantCallbackGroup())
        self.create_subscription(BargeIn, 'barge_in', self._on_barge_in, EVENTS,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self._pauses = 0
        self._withdrawn = 0
        self.create_timer(1.0, self._publish_diagnostics, callback_group=MutuallyExclusiveCallbackGroup())
        watch_config(self, self.config, self._apply_config)
        default = self.synthesizer.default
        self.get_logger().info(
            f'voice {default.model_path} loaded in {default.load_seconds:.2f} s '
            f'(warm-up {default.warmup_seconds:.2f} s), voices {self.synthesizer.describe()}; speaking '
            f'{self.format.sample_rate} Hz on '
            f'audio/out in {self.config.chunk_ms} ms chunks, lead {self.config.lead_time:.2f} s')

    def _apply_config(self, config: TtsConfig) -> None:
        """A live change of the dynamic parameters (the speaking rate), already validated."""
        self.config = config
        self.synthesizer.set_length_scale(config.voice.length_scale)   # every language's voice
        self.get_logger().info(f'voice.length_scale now {config.voice.length_scale}')

    def _load_voice(self) -> Voices:
        try:
            rate = self.config.output_sample_rate
            return Voices(Synthesizer(self.config.voice, rate),
                          {language: load_voice(spec, self.config.voice, rate)
                           for language, spec in parse_voice_specs(self.config.extra_voices).items()})
        except VoiceNotFoundError as exc:
            raise ConfigError(str(exc)) from exc
        except ValueError as exc:  # e.g. a speaker id the voice does not have
            raise ConfigError(f'{self.get_name()}: {exc}') from exc

    def _open_player(self) -> tuple[LocalPlayer | None, str]:
        if not self.config.play_locally:
            return None, ''
        try:
            return LocalPlayer(self.format.sample_rate, self.config.output_device), ''
        except PlaybackUnavailable as exc:
            self.get_logger().error(f'local playback disabled: {exc}; audio still goes out on audio/out')
            return None, str(exc)

    def _on_barge_in(self, msg: BargeIn) -> None:
        if msg.source == TENTATIVE_BARGE_IN and self._pipeline.mute(self.config.barge_in_hold):
            self._pauses += 1
            self.get_logger().info(f'paused for {self.config.barge_in_hold:g} s: the user may be '
                                   f'barging in (onset at {seconds_of(msg.header.stamp):.3f})')
        elif msg.source == WITHDRAWN_BARGE_IN and self._pipeline.unmute():
            self._withdrawn += 1
            self.get_logger().info(f'resumed: the onset at {seconds_of(msg.header.stamp):.3f} was not '
                                   f'the user barging in')

    # --- action server callbacks (executor threads) ---

    def _on_goal(self, _goal) -> GoalResponse:
        return GoalResponse.ACCEPT

    def _on_accepted(self, goal_handle) -> None:
        request = goal_handle.request
        job = SpeakJob(text=request.text, utterance_id=request.utterance_id, language=request.language,
                       handle=goal_handle)
        with self._lock:
            self._jobs[bytes(goal_handle.goal_id.uuid)] = job
        self._pipeline.submit(job)
        if job.finished.is_set():  # refused while shutting down: still give it a result
            self._begin(job)

    def _on_cancel(self, goal_handle) -> CancelResponse:
        with self._lock:
            job = self._jobs.get(bytes(goal_handle.goal_id.uuid))
        if job is None or not self._pipeline.cancel(job):
            return CancelResponse.REJECT  # already over: its result is on its way
        self._begin(job)  # a goal still queued has no execute callback yet: start one to end it
        return CancelResponse.ACCEPT

    def _begin(self, job: SpeakJob) -> None:
        """Start the goal's execute callback, once (its turn to speak, or it ended while queued)."""
        key = bytes(job.handle.goal_id.uuid)
        with self._lock:
            if key in self._executing:
                return
            self._executing.add(key)
        job.handle.execute()

    def _execute(self, goal_handle) -> Speak.Result:
        key = bytes(goal_handle.goal_id.uuid)
        with self._lock:
            job = self._jobs[key]
        job.finished.wait()
        result = Speak.Result(
            completed=job.outcome is Outcome.SUCCEEDED,
            audio_duration=job.emitted_samples / self.format.sample_rate,
            time_to_first_audio=job.time_to_first_audio, error=job.error)
        try:
            self._end_goal(goal_handle, job)
        except _rclpy.RCLError:
            if self.context.ok():
                raise
            # Shutting down (Ctrl-C mid-sentence): the action server is already gone with its client.
        with self._lock:
            self._jobs.pop(key, None)
            self._executing.discard(key)
        self.get_logger().info(
            f'{job.outcome.value}: {_short(job.text)!r} (utterance {job.utterance_id!r}): '
            f'{result.audio_duration:.2f} s audio, first audio after {result.time_to_first_audio:.3f} s '
            f'(synthesis {job.synth_seconds:.3f} s)'
            + (f'; {job.error}' if job.error else ''))
        return result

    def _end_goal(self, goal_handle, job: SpeakJob) -> None:
        if job.outcome is Outcome.SUCCEEDED:
            goal_handle.succeed()
            return
        if job.outcome is Outcome.CANCELED:
            deadline = time.monotonic() + CANCEL_STATE_TIMEOUT
            while goal_handle.status != GoalStatus.STATUS_CANCELING and time.monotonic() < deadline:
                time.sleep(0.001)
            if goal_handle.status == GoalStatus.STATUS_CANCELING:
                goal_handle.canceled()
                return
            job.error = job.error or 'cancel was not confirmed by the action server'
        goal_handle.abort()

    # --- pipeline sink (tts-emit thread, under the pipeline's lock) ---

    def on_start(self, job: SpeakJob) -> None:
        self._begin(job)

    def on_chunk(self, job: SpeakJob, samples, play_time: float, first: bool) -> None:
        stamp = time_msg(play_time)
        duration = len(samples) / self.format.sample_rate
        self._audio_pub.publish(audio_message(samples, stamp))
        activity = SpeechActivity(speaking=True, utterance_id=job.utterance_id, text=job.text,
                                  audio_start=stamp, chunk_duration=duration)
        activity.header.stamp = self.get_clock().now().to_msg()
        self._activity_pub.publish(activity)
        emitted = job.emitted_samples / self.format.sample_rate
        job.handle.publish_feedback(Speak.Feedback(audio_emitted=emitted))
        if self._player is not None:
            self._player.write(samples)
        if self._recorder is not None:
            self._recorder.write(job.utterance_id, samples)

    def on_pause(self, job: SpeakJob | None, at: float, retracted: list) -> None:
        """Silent from `at`: what was sent for after it is replaced with silence, stamp for stamp."""
        if self._player is not None:
            self._player.flush()
        for taken, samples, play_time in retracted:
            self._audio_pub.publish(audio_message(np.zeros_like(samples), time_msg(play_time)))
            if self._recorder is not None:
                self._recorder.take_back(taken.utterance_id, len(samples))
        activity = SpeechActivity(speaking=True, paused=True, utterance_id=job.utterance_id if job else '',
                                  audio_start=time_msg(at))
        activity.header.stamp = self.get_clock().now().to_msg()
        self._activity_pub.publish(activity)

    def on_stop(self, job: SpeakJob | None, end_time: float, flushed: bool) -> None:
        """speaking=false; audio_start = playback end of what was sent (what a speaker still plays)."""
        if flushed and self._player is not None:
            self._player.flush()
        if self._recorder is not None:
            self._recorder.close()
        activity = SpeechActivity(speaking=False, utterance_id=job.utterance_id if job else '',
                                  audio_start=time_msg(end_time), flushed=flushed)
        activity.header.stamp = self.get_clock().now().to_msg()
        self._activity_pub.publish(activity)
        if flushed:
            self.get_logger().info(f'flushed {_short(job.text)!r} (utterance {job.utterance_id!r})')

    # --- health ---

    def _publish_diagnostics(self) -> None:
        stats = self._pipeline.stats
        values = {
            'voice': str(self.synthesizer.default.model_path), 'voices': self.synthesizer.describe(),
            'voice_loaded': 'true',
            'sample_rate': self.format.sample_rate, 'queue_length': self._pipeline.queue_length,
            'speaking': str(self._pipeline.speaking).lower(), 'goals_succeeded': stats.succeeded,
            'goals_canceled': stats.canceled, 'goals_failed': stats.failed,
            'last_time_to_first_audio': f'{stats.last_time_to_first_audio:.3f}',
            'last_real_time_factor': f'{stats.last_real_time_factor:.3f}',
            'real_time_factor': f'{stats.real_time_factor:.3f}',
            'local_playback': 'on' if self._player else ('unavailable' if self._player_error else 'off'),
            'barge_in_pauses': self._pauses,
            'barge_in_pauses_withdrawn': self._withdrawn,
        }
        if self._player_error:
            self._diagnostics.publish(WARN, f'local playback unavailable: {self._player_error}', values)
        else:
            self._diagnostics.publish(OK, 'voice loaded', values)

    def close(self) -> None:
        self._pipeline.close()
        if self._player is not None:
            self._player.close()
        if self._recorder is not None:
            self._recorder.close()


def main(args=None):
    return run_node(TtsNode, args=args, num_threads=EXECUTOR_THREADS)


if __name__ == '__main__':
    sys.exit(main())
