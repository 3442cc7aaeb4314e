"""The capture node's configuration: where audio comes from and how it is framed.

One frozen dataclass; the node declares one described ROS parameter per field and
builds it once at start-up, so a bad value stops the node with a message naming it.
"""

from __future__ import annotations

import dataclasses

from heisenberg_audio.core.audio_format import SAMPLE_RATE
from heisenberg_audio.core.echo.canceller import EchoCancelConfig
from heisenberg_audio.core.echo.simulation import EchoSimulationConfig
from heisenberg_common.described import describe

SOURCES = ('mic', 'file', 'topic')


@dataclasses.dataclass(frozen=True)
class CaptureConfig:
    """Where the graph's audio comes from (mic, file or another topic) and its framing."""

    source: str = dataclasses.field(default='mic', metadata=describe(
        'mic (sounddevice/PortAudio) | file (WAV/FLAC) | topic (another AudioDataStamped topic)'))
    frame_ms: int = dataclasses.field(default=20, metadata=describe(
        'duration of each published frame in ms (16 kHz mono S16LE; 20 ms = 320 samples)'))
    frame_id: str = dataclasses.field(default='microphone', metadata=describe(
        'header.frame_id of the published audio'))
    device: str = dataclasses.field(default='', metadata=describe(
        "mic: input device name (a substring is enough) or index; '' = the system default input"))
    reopen_interval: float = dataclasses.field(default=2.0, metadata=describe(
        'mic: seconds between attempts to (re)open a missing or lost device; 0 = exit when missing'))
    mic_block_ms: int = dataclasses.field(default=20, metadata=describe(
        'mic: PortAudio block size in ms (latency vs. callback rate)'))
    file_path: str = dataclasses.field(default='', metadata=describe(
        'file: path of a WAV/FLAC file (any rate and channel count; converted to 16 kHz mono)'))
    realtime: bool = dataclasses.field(default=True, metadata=describe(
        'file: publish at real-time pace (true) or as fast as possible (false; a slow subscriber '
        'may then miss frames of the burst, as audio/in is best effort)'))
    loop: bool = dataclasses.field(default=False, metadata=describe(
        'file: start again from the beginning at the end of the file'))
    pad_silence: bool = dataclasses.field(default=True, metadata=describe(
        'file: after the end of a non-looping file keep publishing silence at real-time pace '
        '(like a live mic in a quiet room)'))
    wait_for_subscribers: int = dataclasses.field(default=0, metadata=describe(
        'file: hold the first frame until this many subscribers are matched on audio/in '
        '(so a demo or test hears the file from its first sample); 0 = start at once'))
    input_topic: str = dataclasses.field(default='audio_driver/audio', metadata=describe(
        "topic: AudioDataStamped topic of the robot's own audio driver"))
    input_info_topic: str = dataclasses.field(default='audio_driver/audio_info', metadata=describe(
        'topic: latched AudioInfo topic describing input_topic'))
    diagnostics_period: float = dataclasses.field(default=1.0, metadata=describe(
        'seconds between /diagnostics reports'))
    echo_cancel: EchoCancelConfig = dataclasses.field(default_factory=EchoCancelConfig, metadata=describe(
        "cancel the robot's own voice (what tts plays) from the published audio"))
    echo_simulation: EchoSimulationConfig = dataclasses.field(
        default_factory=EchoSimulationConfig, metadata=describe(
            'TESTING ONLY: mix what tts plays into the captured audio, like a speaker next to the mic'))

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f'source must be one of {SOURCES}, got {self.source!r}')
        if not 5 <= self.frame_ms <= 1000 or (SAMPLE_RATE * self.frame_ms) % 1000:
            raise ValueError(f'frame_ms must be a whole number of samples in 5..1000, got {self.frame_ms}')
        if not 5 <= self.mic_block_ms <= 1000:
            raise ValueError(f'mic_block_ms must be in 5..1000, got {self.mic_block_ms}')
        if self.reopen_interval < 0:
            raise ValueError(f'reopen_interval must be >= 0, got {self.reopen_interval}')
        if self.wait_for_subscribers < 0:
            raise ValueError(f'wait_for_subscribers must be >= 0, got {self.wait_for_subscribers}')
        if self.diagnostics_period <= 0:
            raise ValueError(f'diagnostics_period must be > 0, got {self.diagnostics_period}')
        if self.source == 'file' and not self.file_path:
            raise ValueError("source 'file' needs file_path")
        if self.source == 'topic' and not (self.input_topic and self.input_info_topic):
            raise ValueError("source 'topic' needs input_topic and input_info_topic")

    @property
    def frame_samples(self) -> int:
        return SAMPLE_RATE * self.frame_ms // 1000
