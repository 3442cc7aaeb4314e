"""Is this sound the robot's own voice? A level gate with a margin, from what tts plays.

While the robot's audio plays, and for `tail` seconds after (speaker-to-mic delay and
reverberation), its voice is expected at the mic at about the loudest reference level of
that span plus `echo_level_db` (-35 dB behind capture's echo canceller, which leaves it
45 dB or more below; 0 dB or more with no canceller). Mic audio counts as the user's only
where it is at least `margin_db` louder than that expected echo. Outside playback nothing
is gated.

Used by stt (per VAD window, before a window may count towards a barge-in) and by
wake_word (a detection is dropped when the loud part of its phrase is echo).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE
from heisenberg_audio.core.echo.reference import ReferenceBuffer, level_db
from heisenberg_common.described import describe

BLOCK = 512            # samples per level measurement (32 ms, Silero's window)
LOUD_RANGE_DB = 10.0   # windows within this of a phrase's loudest are "its loud part"
HISTORY = 4.0          # s of mic levels kept for judging a phrase


@dataclasses.dataclass(frozen=True)
class EchoGateConfig:
    """When the robot's own voice is expected at the mic, and how much louder the user must be."""

    enabled: bool = dataclasses.field(default=True, metadata=describe(
        "ignore sound no louder than the robot's expected echo while it plays (reference_topic) "
        'and for tail seconds after'))
    reference_topic: str = dataclasses.field(default='audio/out', metadata=describe(
        'AudioDataStamped topic of the audio the robot plays (stamps = playback time)'))
    echo_level_db: float = dataclasses.field(default=-35.0, metadata=describe(
        "expected level of the robot's voice in audio/in relative to the audio it plays, in dB: "
        "-35 behind capture's echo canceller (echo_cancel.enabled; AEC3 leaves it 45 dB or more "
        'below), 0 or more without one'))
    margin_db: float = dataclasses.field(default=10.0, metadata=describe(
        'dB by which sound must exceed the expected echo to count as the user while the robot plays'))
    tail: float = dataclasses.field(default=0.3, metadata=describe(
        'seconds after each played sample during which its echo is still expected '
        '(speaker-to-mic delay plus reverberation)'))

    def __post_init__(self):
        if not self.reference_topic:
            raise ValueError('reference_topic must not be empty')
        if not -80.0 <= self.echo_level_db <= 20.0:
            raise ValueError(f'echo_level_db must be in [-80, 20], got {self.echo_level_db}')
        if not 0.0 <= self.margin_db <= 40.0:
            raise ValueError(f'margin_db must be in [0, 40], got {self.margin_db}')
        if not 0.0 <= self.tail <= 3.0:
            raise ValueError(f'tail must be in [0, 3] s, got {self.tail}')


@dataclasses.dataclass(frozen=True)
class MicLevel:
    start: float
    end: float
    level_db: float     # dBFS of the mic audio
    excess_db: float    # over the expected echo; +inf where no echo is expected


class EchoGate:
    """Expected echo from the reference; verdicts on mic audio (see the module doc)."""

    def __init__(self, config: EchoGateConfig, reference: ReferenceBuffer | None = None):
        self.config = config
        self.reference = reference or ReferenceBuffer(horizon=HISTORY + config.tail + 1.0)
        self._levels: collections.deque[MicLevel] = collections.deque()
        self.gated = 0    # windows or phrases judged to be echo

    def add_reference(self, samples: np.ndarray, stamp: float) -> None:
        self.reference.add(samples, stamp)

    def expected_echo_db(self, start: float, end: float) -> float | None:
        """Level (dBFS) of the echo expected in mic audio captured over [start, end); None = none expected."""
        span_start = start - self.config.tail
        if not self.config.enabled or not self.reference.playing(span_start, end):
            return None
        count = max(1, int(round((end - span_start) * SAMPLE_RATE)))
        played = self.reference.read(span_start, count)
        blocks = -(-len(played) // BLOCK)
        padded = np.zeros(blocks * BLOCK, dtype=np.float64)
        padded[:len(played)] = played
        power = np.mean(np.square(padded.reshape(blocks, BLOCK)), axis=1) / 32768.0 ** 2
        return 10.0 * np.log10(max(float(power.max()), 1e-12)) + self.config.echo_level_db

    def excess_db(self, samples: np.ndarray, start: float) -> float:
        """How much louder the mic audio is than the robot's expected echo (+inf: none expected)."""
        expected = self.expected_echo_db(start, start + len(samples) / SAMPLE_RATE)
        return float('inf') if expected is None else level_db(samples) - expected

    def is_echo(self, samples: np.ndarray, start: float) -> bool:
        """True when this audio is no louder than the robot's own voice should be, plus margin."""
        echo = bool(self.excess_db(samples, start) < self.config.margin_db)
        self.gated += echo
        return echo

    # -- phrases (wake word): judged on the mic levels observed over their span ---------

    def observe(self, samples: np.ndarray, start: float) -> MicLevel:
        """Record the level of mic audio as it streams by, for phrase_is_echo()."""
        end = start + len(samples) / SAMPLE_RATE
        level = MicLevel(start, end, level_db(samples), self.excess_db(samples, start))
        self._levels.append(level)
        while self._levels and self._levels[0].end < end - HISTORY:
            self._levels.popleft()
        return level

    def phrase_is_echo(self, start: float, end: float) -> bool:
        """Whether the loud part of what was heard over [start, end) was no louder than the expected echo."""
        levels = [lv for lv in self._levels if lv.end > start and lv.start < end]
        if not levels:
            return False
        loudest = max(lv.level_db for lv in levels)
        excess = [lv.excess_db for lv in levels if lv.level_db >= loudest - LOUD_RANGE_DB]
        echo = bool(np.median(excess) < self.config.margin_db)
        self.gated += echo
        return echo
