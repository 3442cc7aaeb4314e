"""The QoS profiles of the graph, chosen once so that every node agrees."""

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

# State, AudioInfo: latched, so `ros2 topic echo` and late joiners see the last value.
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)

# The assistant's state: transient local like LATCHED, but deep enough that no transition is
# overwritten before a subscriber takes it (a reliable depth-1 writer drops the older of two
# quick transitions). A late subscriber gets the last few transitions; the newest is the state.
STATE = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                   reliability=ReliabilityPolicy.RELIABLE,
                   durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Microphone audio: a late frame is worth less than the next one.
AUDIO_IN = qos_profile_sensor_data


def audio_in_queue(seconds: float, frame_seconds: float = 0.02) -> QoSProfile:
    """AUDIO_IN for a reader that must hear every frame: a queue of `seconds` of audio.

    Best effort stays (it matches any sensor-data writer), but a process briefly starved of
    CPU then takes the frames late instead of losing them: a hole in a phrase is a missed
    wake word or a wrong transcript.
    """
    return QoSProfile(history=AUDIO_IN.history, depth=round(seconds / frame_seconds),
                      reliability=AUDIO_IN.reliability, durability=AUDIO_IN.durability)


# Reply audio: every chunk matters to the listener (a lost one is an audible gap).
AUDIO_OUT = QoSProfile(depth=200, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)

# Events (wake word, transcripts, speech activity, metrics): reliable, short queue.
EVENTS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
