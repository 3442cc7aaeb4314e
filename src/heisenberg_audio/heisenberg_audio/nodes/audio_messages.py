"""audio_common_msgs <-> numpy, shared by the audio nodes (not a node itself)."""

from __future__ import annotations

from typing import Callable

import numpy as np
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo

from heisenberg_audio.core.audio_format import GRAPH_FORMAT, AudioFormat, bytes_to_int16, int16_to_bytes
from heisenberg_common.qos import AUDIO_OUT
from heisenberg_common.stamps import seconds_of


def info_message(fmt: AudioFormat = GRAPH_FORMAT) -> AudioInfo:
    return AudioInfo(channels=fmt.channels, sample_rate=fmt.sample_rate,
                     sample_format=fmt.sample_format, bitrate=fmt.bitrate,
                     coding_format=fmt.coding_format)


def format_of(info: AudioInfo) -> AudioFormat:
    return AudioFormat(sample_rate=int(info.sample_rate), channels=int(info.channels),
                       sample_format=info.sample_format or 'S16LE',
                       coding_format=info.coding_format or 'wave')


def audio_message(samples: np.ndarray, stamp, frame_id: str = '') -> AudioDataStamped:
    msg = AudioDataStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.audio = AudioData(data=int16_to_bytes(samples))
    return msg


def samples_of(msg: AudioDataStamped) -> np.ndarray:
    """Graph-format payload -> int16 samples (ValueError on an odd byte count)."""
    return bytes_to_int16(msg.audio.data)


def subscribe_reference(node, topic: str, add: Callable[[np.ndarray, float], None], callback_group=None):
    """Feed what the robot plays (topic, stamped with playback time) to add(samples, seconds)."""
    def on_reference(msg: AudioDataStamped) -> None:
        try:
            add(samples_of(msg), seconds_of(msg.header.stamp))
        except ValueError as exc:
            node.get_logger().error(f'{topic}: chunk dropped: {exc}', throttle_duration_sec=5.0)

    return node.create_subscription(AudioDataStamped, topic, on_reference, AUDIO_OUT,
                                    callback_group=callback_group)
