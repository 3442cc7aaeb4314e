"""audio_common_msgs <-> numpy, shared by the audio nodes (not a node itself)."""

from __future__ import annotations

import numpy as np
from audio_common_msgs.msg import AudioData, AudioDataStamped, AudioInfo

from heisenberg_audio.core.audio_format import GRAPH_FORMAT, AudioFormat, bytes_to_int16, int16_to_bytes


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
