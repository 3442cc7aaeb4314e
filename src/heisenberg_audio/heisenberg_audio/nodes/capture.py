"""capture: microphone, file or another audio topic -> `audio/in` in the graph format.

Publishes audio_common_msgs/AudioDataStamped (16 kHz mono S16LE, fixed frames of
frame_ms, stamped with the capture time of each frame's first sample) on `audio/in`, a
latched AudioInfo on `audio/info`, and its health on /diagnostics. The mic and file
sources run in a thread of their own; the topic source runs in the subscription callback.

Echo: with `echo_cancel.enabled` it subscribes to what tts plays (`audio/out`, stamped with
playback times) and cancels that voice from each frame with WebRTC AEC3 while it plays
(core/echo/canceller.py). For tests, `echo_simulation.gain` > 0 first mixes that audio into
each frame, delayed and scaled, as a speaker beside the mic would (core/echo/simulation.py).
"""

from __future__ import annotations

import sys
import threading

from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from rclpy.node import Node
from rclpy.time import Time

from heisenberg_audio.core.audio_format import StreamConverter
from heisenberg_audio.core.capture.config import CaptureConfig
from heisenberg_audio.core.capture.health import StreamHealth
from heisenberg_audio.core.capture.sources import (FileSource, FrameStamper, MicSource, Pacer, SourceError,
                                                   StampedFrame, TopicInput, samples_to_ns)
from heisenberg_audio.core.echo.canceller import EchoCanceller
from heisenberg_audio.core.echo.reference import ReferenceBuffer
from heisenberg_audio.core.echo.simulation import EchoSimulator
from heisenberg_audio.nodes.audio_messages import audio_message, format_of, info_message, subscribe_reference
from heisenberg_common.diagnostics import DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config
from heisenberg_common.qos import AUDIO_IN, LATCHED, audio_in_queue
from heisenberg_common.runner import run_node

# A driver's stream is relayed whole: a payload lost while capture waits for CPU is a hole in
# what wake_word and stt hear. Driver payloads are often shorter than 20 ms: room for many.
DRIVER_AUDIO_QUEUE = audio_in_queue(seconds=1.0, frame_seconds=0.01)


class CaptureNode(Node):

    def __init__(self):
        super().__init__('capture')
        self.config = declare_config(self, CaptureConfig)
        self._audio_pub = self.create_publisher(AudioDataStamped, 'audio/in', AUDIO_IN)
        self._info_pub = self.create_publisher(AudioInfo, 'audio/info', LATCHED)
        self._diagnostics = DiagnosticsPublisher(self, 'audio capture')
        self._health = StreamHealth(stale_after=max(1.0, 5 * self.config.frame_ms / 1000))
        self._stop = threading.Event()
        self._diagnostics_lock = threading.Lock()  # the source thread reports too, not only the timer
        self._thread: threading.Thread | None = None
        self._mic: MicSource | None = None
        self._source_label = ''
        self._start_echo_path()
        start = {'file': self._start_file, 'mic': self._start_mic, 'topic': self._start_topic}
        start[self.config.source]()
        self._info_pub.publish(info_message())
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3.0)
        if self._mic is not None:
            self._mic.close()

    # ------------------------------------------------------------------ common

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _publish(self, frames: list[StampedFrame]) -> None:
        for frame in frames:
            samples, stamp_ns = self._through_echo_path(frame)
            stamp = Time(nanoseconds=stamp_ns).to_msg()
            self._audio_pub.publish(audio_message(samples, stamp, self.config.frame_id))
        if frames:
            self._health.frame(len(frames))

    def _set_problem(self, message: str | None) -> None:
        """A standing problem: logged and reported at once when it changes."""
        if not self._health.set_problem(message):
            return
        if message is None:
            self.get_logger().info(f'{self._source_label}: audio restored')
        else:
            self.get_logger().error(message)
        self._publish_diagnostics()

    def _publish_diagnostics(self) -> None:
        with self._diagnostics_lock:
            report = self._health.report(source=self.config.source, input=self._source_label,
                                         **{'frames/s': f'{self._health.frame_rate():.1f}'},
                                         **self._echo_values())
        self._diagnostics.publish(report.level, report.message, report.values,
                                  hardware_id=self._source_label)

    def _start_thread(self, target, *args) -> None:
        self._thread = threading.Thread(target=self._run_until_shutdown, args=(target, *args),
                                        name=f'capture-{self.config.source}', daemon=True)
        self._thread.start()

    def _run_until_shutdown(self, target, *args) -> None:
        try:
            target(*args)
        except Exception:
            # Ctrl-C shuts the context down before close() stops this thread: a last publish
            # then fails, which is the end we wanted, not an error.
            if self.context.ok() and not self._stop.is_set():
                raise

    # ------------------------------------------------------------------ echo

    def _start_echo_path(self) -> None:
        cancel, simulation = self.config.echo_cancel, self.config.echo_simulation
        self._canceller: EchoCanceller | None = None
        self._simulator: EchoSimulator | None = None
        if not (cancel.enabled or simulation.enabled):
            return
        self._reference = ReferenceBuffer()
        if cancel.enabled:
            self._canceller = EchoCanceller(cancel, self._reference)
        if simulation.enabled:
            self._simulator = EchoSimulator(simulation, self._reference)
            self.get_logger().warning(
                f'echo SIMULATION on (testing only): {cancel.reference_topic} is mixed into audio/in '
                f'at gain {simulation.gain:g}, {simulation.delay * 1000:.0f} ms late')
        subscribe_reference(self, cancel.reference_topic, self._reference.add)

    def _through_echo_path(self, frame: StampedFrame) -> tuple:
        """(samples, stamp_ns) to publish: the echo simulated, then cancelled, as configured."""
        samples, stamp = frame.samples, frame.stamp_ns / 1e9
        if self._simulator is not None:
            samples = self._simulator.mix(samples, stamp)
        if self._canceller is None:
            return samples, frame.stamp_ns
        cancelled, lag = self._canceller.process(samples, stamp)
        return cancelled, frame.stamp_ns - samples_to_ns(lag)

    def _echo_values(self) -> dict:
        values = {}
        if self._canceller is not None:
            erle = self._canceller.erle_db
            values['echo canceller'] = 'engaged' if self._canceller.engaged else 'idle (nothing playing)'
            values['echo ERLE dB'] = 'n/a' if erle != erle else f'{erle:.1f}'
            values['echo frames cancelled'] = self._canceller.frames_engaged
        else:
            values['echo canceller'] = 'off'
        if self._simulator is not None:
            values['echo SIMULATION (testing)'] = (f'gain {self.config.echo_simulation.gain:g}, '
                                                   f'delay {self.config.echo_simulation.delay:g} s')
        return values

    # ------------------------------------------------------------------ file

    def _start_file(self) -> None:
        try:
            source = FileSource(self.config.file_path, self.config.frame_samples,
                                loop=self.config.loop, pad_silence=self.config.pad_silence)
        except SourceError as exc:
            raise ConfigError(f'{self.get_name()}: {exc}') from exc
        self._source_label = source.describe()
        self.get_logger().info(f"playing {self._source_label}{' in a loop' if self.config.loop else ''}, "
                               f"{'real-time' if self.config.realtime else 'as fast as possible'}")
        self._start_thread(self._run_file, source)

    def _run_file(self, source: FileSource) -> None:
        if not self._wait_for_subscribers():
            return
        pacer = Pacer(self.config.frame_ms / 1000)
        paced = self.config.realtime
        for frame in source.frames(start_ns=self._now_ns()):
            if frame.padding and not paced:
                paced = True  # silence after the file goes at real-time pace, like a quiet room
                pacer.restart()
            if (paced and not pacer.wait(self._stop)) or self._stop.is_set():
                return
            if frame.padding and self._health.idle_reason is None:
                self._health.idle_reason = 'end of file: publishing silence'
                self.get_logger().info(f'end of {source.path}; publishing silence')
            self._publish([frame])
        self._health.idle_reason = 'end of file'
        self.get_logger().info(f'end of {source.path}')

    def _wait_for_subscribers(self) -> bool:
        wanted = self.config.wait_for_subscribers
        if wanted and self._audio_pub.get_subscription_count() < wanted:
            self.get_logger().info(f'waiting for {wanted} subscriber(s) on audio/in')
        while self._audio_pub.get_subscription_count() < wanted:
            if self._stop.wait(0.05):
                return False
        # Discovery is two-sided: give the readers a moment to match us too, or they miss the start.
        return not (wanted and self._stop.wait(0.25))

    # ------------------------------------------------------------------ microphone

    def _start_mic(self) -> None:
        self._mic = MicSource(self.config.device, self.config.mic_block_ms, clock_ns=self._now_ns)
        self._source_label = f"input device '{self.config.device or 'default'}'"
        converter = None
        try:
            converter = self._open_mic()
        except SourceError as exc:
            if self.config.reopen_interval == 0:
                raise ConfigError(f'{self.get_name()}: {exc}') from exc
            self._set_problem(f'{exc}; retrying every {self.config.reopen_interval:g} s')
        self._start_thread(self._run_mic, converter)

    def _open_mic(self) -> StreamConverter:
        device = self._mic.open()
        self._source_label = f'input device {device.describe()}'
        self.get_logger().info(f'capturing from {self._source_label}')
        self._set_problem(None)
        return StreamConverter(self._mic.format)

    def _run_mic(self, converter: StreamConverter | None) -> None:
        """Read blocks while the device works; when it is missing or lost, retry every reopen_interval."""
        stamper = FrameStamper(self.config.frame_samples)
        timeout = max(1.0, 5 * self.config.mic_block_ms / 1000)
        while not self._stop.is_set():
            if converter is None:
                if self._stop.wait(self.config.reopen_interval):
                    return
                converter = self._try_open_mic()
                continue
            try:
                block, captured_ns = self._mic.read(timeout)
            except SourceError as exc:
                self._mic.close()
                converter = None
                self._set_problem(f'{exc}; reopening every {self.config.reopen_interval:g} s')
                continue
            self._publish(stamper.push(converter.convert_float(block), captured_ns))

    def _try_open_mic(self) -> StreamConverter | None:
        try:
            return self._open_mic()
        except SourceError as exc:
            self._set_problem(f'{exc}; retrying every {self.config.reopen_interval:g} s')
            return None

    # ------------------------------------------------------------------ topic

    def _start_topic(self) -> None:
        self._input = TopicInput(self.config.frame_samples)
        self._source_label = f'topic {self.config.input_topic}'
        self.create_subscription(AudioInfo, self.config.input_info_topic, self._on_input_info, LATCHED)
        self.create_subscription(AudioDataStamped, self.config.input_topic, self._on_input_audio,
                                 DRIVER_AUDIO_QUEUE)
        self.get_logger().info(f'relaying {self.config.input_topic} '
                               f'described by {self.config.input_info_topic}')

    def _on_input_info(self, info: AudioInfo) -> None:
        fmt = format_of(info)
        changed = fmt != self._input.format
        reason = self._input.set_format(fmt)
        self._set_problem(f'{self.config.input_info_topic}: unusable input audio ({reason})'
                          if reason else None)
        if changed and not reason:
            self.get_logger().info(f'input format {fmt.sample_rate} Hz, {fmt.channels} ch, '
                                   f"{fmt.sample_format}{'' if fmt.is_graph_format else ' (converted)'}")

    def _on_input_audio(self, msg: AudioDataStamped) -> None:
        stamp_ns = Time.from_msg(msg.header.stamp).nanoseconds or self._now_ns()
        try:
            self._publish(self._input.push(msg.audio.data, stamp_ns))
        except SourceError as exc:
            self._health.error(str(exc))
            self.get_logger().error(f'{self.config.input_topic}: {exc}', throttle_duration_sec=5.0)


def main(args=None):
    return run_node(CaptureNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
