"""wake_word: openWakeWord on `audio/in` -> WakeWordDetection events on `wake_word`.

Each detection carries the keyword, its score, the threshold and the stamp of the end of
the 80 ms frame where it fired. While the robot speaks, a detection whose phrase was no
louder than the robot's expected echo (core/echo/gate.py, from what tts plays on
audio/out) is the robot's own voice: it is logged and dropped. Audio that is not the graph
format (per `audio/info`) or a malformed payload is refused with a throttled log and an
ERROR/WARN diagnostic; the node never dies of it.
"""

from __future__ import annotations

import sys

from audio_common_msgs.msg import AudioDataStamped, AudioInfo
from heisenberg_interfaces.msg import WakeWordDetection
from rclpy.node import Node
from rclpy.time import Time

from heisenberg_audio.core.audio_format import mismatch_reason, unusable_reason
from heisenberg_audio.core.capture.health import StreamHealth
from heisenberg_audio.core.echo.gate import EchoGate
from heisenberg_audio.core.wake_word import Detection, WakeWordConfig, WakeWordDetector
from heisenberg_audio.nodes.audio_messages import format_of, samples_of, subscribe_reference
from heisenberg_common.diagnostics import DiagnosticsPublisher
from heisenberg_common.params import ConfigError, declare_config, watch_config
from heisenberg_common.qos import EVENTS, LATCHED, audio_in_queue
from heisenberg_common.runner import run_node

# A phrase starved of CPU is scored late rather than dropped (scoring runs ~30x real time).
AUDIO_IN_QUEUED = audio_in_queue(seconds=1.0)


class WakeWordNode(Node):

    def __init__(self):
        super().__init__('wake_word')
        self.config = declare_config(self, WakeWordConfig)
        try:
            self._detector = WakeWordDetector(self.config)
        except (OSError, ValueError) as exc:  # missing file, or a file ONNX runtime rejects
            raise ConfigError(f'{self.get_name()}: cannot load openWakeWord: {exc}') from exc
        self._health = StreamHealth(stale_after=1.0)
        self._echo_gate = EchoGate(self.config.echo)
        self._echo_dropped = 0
        self._detection_pub = self.create_publisher(WakeWordDetection, 'wake_word', EVENTS)
        self._diagnostics = DiagnosticsPublisher(self, 'wake word', hardware_id='openWakeWord')
        self.create_subscription(AudioInfo, 'audio/info', self._on_info, LATCHED)
        self.create_subscription(AudioDataStamped, 'audio/in', self._on_audio, AUDIO_IN_QUEUED)
        if self.config.echo.enabled:
            subscribe_reference(self, self.config.echo.reference_topic, self._echo_gate.add_reference)
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics)
        watch_config(self, self.config, self._apply_config)
        self.get_logger().info(f"listening for {', '.join(self._detector.keywords)} "
                               f'(threshold {self.config.threshold}, patience {self.config.patience}, '
                               f'refractory {self.config.refractory} s)')

    def _apply_config(self, config: WakeWordConfig) -> None:
        """A live change of the dynamic parameters (the threshold), already validated."""
        self.config = config
        self._detector.set_threshold(config.threshold)
        self.get_logger().info(f'threshold now {config.threshold}')

    def _on_info(self, info: AudioInfo) -> None:
        fmt = format_of(info)
        reason = unusable_reason(fmt) or mismatch_reason(fmt)
        problem = f'audio/info: cannot use this audio, refusing it: {reason}' if reason else None
        if not self._health.set_problem(problem):
            return
        if problem:
            self.get_logger().error(problem)
        else:
            self.get_logger().info('audio/info: graph format, listening')
        self._publish_diagnostics()

    def _on_audio(self, msg: AudioDataStamped) -> None:
        if self._health.problem:
            self.get_logger().error(f'dropping audio/in: {self._health.problem}', throttle_duration_sec=5.0)
            return
        try:
            samples = samples_of(msg)
        except ValueError as exc:
            self._health.error(f'malformed audio/in payload dropped: {exc}')
            self.get_logger().warning(f'dropping audio/in message: {exc}', throttle_duration_sec=5.0)
            return
        stamp_ns = Time.from_msg(msg.header.stamp).nanoseconds or self.get_clock().now().nanoseconds
        self._echo_gate.observe(samples, stamp_ns / 1e9)
        frames_before = self._detector.frames_processed
        for detection in self._detector.process(samples, stamp_ns):
            if self._is_echo(detection):
                continue
            self._publish_detection(detection)
        if self._detector.frames_processed > frames_before:
            self._health.frame(self._detector.frames_processed - frames_before)

    def _is_echo(self, detection: Detection) -> bool:
        end = detection.stamp_ns / 1e9
        if not self._echo_gate.phrase_is_echo(end - self.config.phrase_duration, end):
            return False
        self._echo_dropped += 1
        self.get_logger().info(f"wake word '{detection.keyword}' (score {detection.score:.3f}) dropped: "
                               "no louder than the robot's own voice")
        return True

    def _publish_detection(self, detection: Detection) -> None:
        msg = WakeWordDetection(keyword=detection.keyword, score=detection.score,
                                threshold=detection.threshold)
        msg.header.stamp = Time(nanoseconds=detection.stamp_ns).to_msg()
        self._detection_pub.publish(msg)
        self.get_logger().info(f"wake word '{detection.keyword}' (score {detection.score:.3f})")

    def _publish_diagnostics(self) -> None:
        scores = ', '.join(f'{k}={v:.3f}' for k, v in self._detector.last_scores.items())
        report = self._health.report(**{
            'model loaded': True, 'models': ', '.join(self._detector.model_files),
            'frames/s processed': f'{self._health.frame_rate():.1f}',
            'detections': self._detector.detections, 'last score': scores or 'none yet',
            'dropped as echo': self._echo_dropped})
        self._diagnostics.publish(report.level, report.message, report.values)


def main(args=None):
    return run_node(WakeWordNode, args=args)


if __name__ == '__main__':
    sys.exit(main())
