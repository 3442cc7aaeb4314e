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

# Reply audio: every chunk matters to the listener (a lost one is an audible gap).
AUDIO_OUT = QoSProfile(depth=200, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.VOLATILE)

# Events (wake word, transcripts, speech activity, metrics): reliable, short queue.
EVENTS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
