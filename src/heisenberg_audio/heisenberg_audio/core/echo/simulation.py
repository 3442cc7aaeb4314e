"""A loudspeaker next to the microphone, simulated: for testing echo handling without hardware.

Off by default. When `gain` > 0 the capture node mixes what tts plays (its reference
topic, by playback stamp) into every frame it captures, `delay` seconds late and scaled
by `gain`, the way a speaker beside the mic would be heard. Needs a real-time source (a
mic, or a file played at real-time pace): a frame can only hear audio tts already sent.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from heisenberg_audio.core.echo.reference import ReferenceBuffer
from heisenberg_common.described import describe


@dataclasses.dataclass(frozen=True)
class EchoSimulationConfig:
    """The simulated speaker-to-mic path (testing only)."""

    gain: float = dataclasses.field(default=0.0, metadata=describe(
        'TESTING ONLY: amplitude of the robot\'s own audio (echo_cancel.reference_topic) mixed '
        'into the captured audio, like a speaker next to the mic (0.5-1.0 is a loud echo); 0 = off'))
    delay: float = dataclasses.field(default=0.05, metadata=describe(
        'TESTING ONLY: seconds between a sample\'s playback stamp and its simulated echo in the mic'))

    def __post_init__(self):
        if not 0.0 <= self.gain <= 4.0:
            raise ValueError(f'gain must be in [0, 4], got {self.gain}')
        if not 0.0 <= self.delay <= 1.0:
            raise ValueError(f'delay must be in [0, 1] s, got {self.delay}')

    @property
    def enabled(self) -> bool:
        return self.gain > 0.0


class EchoSimulator:
    """Adds the delayed, scaled reference to mic frames."""

    def __init__(self, config: EchoSimulationConfig, reference: ReferenceBuffer):
        self.config = config
        self.reference = reference

    def mix(self, samples: np.ndarray, stamp: float) -> np.ndarray:
        """int16 frame captured from stamp (s) -> the same frame with the echo added (clipped)."""
        echo = self.reference.read(stamp - self.config.delay, len(samples)).astype(np.float64)
        mixed = np.asarray(samples, dtype=np.float64) + self.config.gain * echo
        return np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
