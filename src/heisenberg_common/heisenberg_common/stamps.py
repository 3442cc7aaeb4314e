"""builtin_interfaces/Time <-> float seconds, for nodes that reckon with stamps as floats."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Time


def seconds_of(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def time_msg(seconds: float) -> Time:
    """Split at the whole second first: epoch seconds * 1e9 would lose the nanoseconds to rounding."""
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=min(int(round((seconds - sec) * 1e9)), 999_999_999))
