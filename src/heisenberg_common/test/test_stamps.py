"""time_msg / seconds_of: float seconds <-> builtin_interfaces/Time."""

import pytest
from builtin_interfaces.msg import Time

from heisenberg_common.stamps import seconds_of, time_msg


@pytest.mark.parametrize('seconds, sec, nanosec', [
    (0.0, 0, 0),
    (1.5, 1, 500_000_000),
    (2.000000001, 2, 1),
    (1.9999999999, 1, 999_999_999),  # rounds up to the next second: kept inside this one
    (-0.25, -1, 750_000_000),
    (1_700_000_000.25, 1_700_000_000, 250_000_000),
])
def test_time_msg(seconds, sec, nanosec):
    assert (time_msg(seconds).sec, time_msg(seconds).nanosec) == (sec, nanosec)


def test_epoch_stamps_round_trip_to_the_microsecond():
    stamp = Time(sec=1_700_000_123, nanosec=456_789_000)
    back = time_msg(seconds_of(stamp))
    assert back.sec == stamp.sec and abs(back.nanosec - stamp.nanosec) < 1000
