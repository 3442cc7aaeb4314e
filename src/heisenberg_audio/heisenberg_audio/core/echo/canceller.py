"""Acoustic echo cancellation of the microphone stream, with what tts plays as the reference.

WebRTC's AEC3 (the canceller Chrome runs; `pywebrtc-audio`, Apache-2.0) gets each mic
frame together with the reference played during the same capture interval (read from a
ReferenceBuffer by stamp); it finds the speaker-to-mic delay and echo path by itself.

It is engaged only while the robot's voice may be in the air: from the first reference
sample until `tail` seconds after the last. Otherwise the mic audio passes through
untouched (bit-exact), though AEC3 still sees every frame so its echo path estimate stays
warm. AEC3 delays its output by LATENCY samples; an engaged frame is stamped that much
earlier, so stamps keep naming the capture time of what the frame holds.

AEC3 has a price where there is no echo to cancel: until it has found an echo path its
suppressor assumes the worst and cuts the user's voice while the reference plays (tens of
dB at times). So an EchoPathDetector checks, every CHECK_EVERY s of loud playback, whether
the raw mic correlates with the reference at some delay up to `max_delay`. When the mic is
far quieter than what plays, or has not correlated with it for 1 s of playback (the mic
does not hear the speaker: headset, muted speaker, hardware AEC upstream), the raw mic is
published instead, until an echo shows up again.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE
from heisenberg_audio.core.echo.reference import ReferenceBuffer
from heisenberg_common.described import describe

LATENCY = 128              # samples AEC3 holds back (8 ms at 16 kHz), measured constant
CHECK_EVERY = 0.25         # s of engaged audio between echo path checks
CHECK_WINDOW = 1.5         # s of mic audio correlated with the reference at each check (at most)
MIN_WINDOW = 0.5           # s of mic audio needed for a first check
QUIET_MIC_DB = 40.0        # a mic this far below what plays hears no echo worth cancelling
ECHO_PRESENT = 0.3         # normalized cross-correlation above which the mic hears the speaker
ECHO_ABSENT = 0.1          # ... and below which it does not
ABSENT_AFTER = 4           # consecutive checks without echo before the mic is trusted raw
ERLE_TIME_CONSTANT = 5.0   # s of engaged audio the reported ERLE averages over
QUIET_REFERENCE_DB = -60.0  # dBFS below which the reference is silence (no echo to measure)


@dataclasses.dataclass(frozen=True)
class EchoCancelConfig:
    """Whether capture cancels the robot's own voice from the mic, and how."""

    enabled: bool = dataclasses.field(default=True, metadata=describe(
        'cancel the echo of what tts plays (reference_topic) from the published audio with '
        "WebRTC AEC3; audio passes through untouched while nothing is playing"))
    reference_topic: str = dataclasses.field(default='audio/out', metadata=describe(
        'AudioDataStamped topic of the audio the robot plays (stamps = playback time)'))
    tail: float = dataclasses.field(default=0.5, metadata=describe(
        'seconds after the last reference sample during which the canceller stays engaged '
        '(speaker-to-mic delay plus room reverberation)'))
    stream_delay_ms: int = dataclasses.field(default=0, metadata=describe(
        'hint for AEC3: expected delay in ms between a reference stamp and its echo at the mic '
        '(output buffering plus acoustics); 0 = let AEC3 estimate it'))
    max_delay: float = dataclasses.field(default=0.4, metadata=describe(
        'largest delay in s between a reference stamp and its echo at the mic that the echo path '
        'check looks for'))

    def __post_init__(self):
        if not self.reference_topic:
            raise ValueError('reference_topic must not be empty')
        if not 0.0 <= self.tail <= 5.0:
            raise ValueError(f'tail must be in [0, 5] s, got {self.tail}')
        if not 0 <= self.stream_delay_ms <= 500:
            raise ValueError(f'stream_delay_ms must be in [0, 500], got {self.stream_delay_ms}')
        if not 0.0 < self.max_delay <= 1.0:
            raise ValueError(f'max_delay must be in (0, 1] s, got {self.max_delay}')


class EchoPath(enum.Enum):
    UNKNOWN = 'unknown'   # not checked yet: cancel, to be safe
    PRESENT = 'present'   # the mic hears the speaker: cancel
    ABSENT = 'absent'     # it does not: publish the raw mic


class EchoPathDetector:
    """Does the mic hear the speaker? Normalized cross-correlation of raw mic and reference."""

    def __init__(self, reference: ReferenceBuffer, max_delay: float):
        self.reference = reference
        self.max_delay = max_delay
        self.state = EchoPath.UNKNOWN
        self.last_correlation = float('nan')
        self._mic = np.zeros(0, dtype=np.float64)
        self._mic_end = 0.0        # capture time just after the last mic sample kept
        self._since_check = 0.0
        self._quiet_checks = 0

    def push(self, samples: np.ndarray, stamp: float) -> EchoPath:
        """Raw mic frame captured from stamp (s), while the reference plays."""
        keep = int(CHECK_WINDOW * SAMPLE_RATE)
        if abs(stamp - self._mic_end) > 0.05:
            self._mic = np.zeros(0, dtype=np.float64)   # a gap: start the window afresh
        self._mic = np.concatenate([self._mic, samples.astype(np.float64)])[-keep:]
        self._mic_end = stamp + len(samples) / SAMPLE_RATE
        self._since_check += len(samples) / SAMPLE_RATE
        if self._since_check >= CHECK_EVERY and len(self._mic) >= MIN_WINDOW * SAMPLE_RATE:
            self._since_check = 0.0
            self._check()
        return self.state

    def _check(self) -> None:
        lag = int(self.max_delay * SAMPLE_RATE)
        start = self._mic_end - len(self._mic) / SAMPLE_RATE
        played = self.reference.read(start - lag / SAMPLE_RATE, len(self._mic) + lag).astype(np.float64)
        played_db = _power_db(played)
        if played_db < QUIET_REFERENCE_DB + 20:
            return   # too little playing to tell
        if _power_db(self._mic) < played_db - QUIET_MIC_DB:
            self.state, self.last_correlation = EchoPath.ABSENT, 0.0
            return
        correlation = self._correlation(self._mic, played, lag)
        self.last_correlation = correlation
        if correlation >= ECHO_PRESENT:
            self.state, self._quiet_checks = EchoPath.PRESENT, 0
        elif correlation < ECHO_ABSENT:
            self._quiet_checks += 1
            if self._quiet_checks >= ABSENT_AFTER:
                self.state = EchoPath.ABSENT

    @staticmethod
    def _correlation(mic: np.ndarray, played: np.ndarray, lag: int) -> float:
        """Best normalized correlation of mic with played[k:k + len(mic)] for k in 0..lag."""
        mic_norm = np.sqrt(np.sum(np.square(mic)))
        if mic_norm == 0.0:
            return 0.0
        size = 1 << int(np.ceil(np.log2(len(played) + len(mic))))
        spectrum = np.fft.rfft(played, size) * np.conj(np.fft.rfft(mic, size))
        products = np.fft.irfft(spectrum, size)[:lag + 1]
        energy = np.concatenate([[0.0], np.cumsum(np.square(played))])
        window = energy[len(mic):len(mic) + lag + 1] - energy[:lag + 1]
        return float(np.max(np.abs(products) / (mic_norm * np.sqrt(np.maximum(window, 1.0)))))


class EchoCanceller:
    """Mic frames in, echo-cancelled frames out (see the module doc)."""

    def __init__(self, config: EchoCancelConfig, reference: ReferenceBuffer):
        from pywebrtc_audio import EchoCanceller as Aec3

        self.config = config
        self.reference = reference
        self._aec = Aec3(sample_rate=SAMPLE_RATE, num_channels=1, stream_delay_ms=config.stream_delay_ms)
        self.echo_path = EchoPathDetector(reference, config.max_delay)
        self.engaged = False
        self.frames_engaged = 0
        self.frames_bypassed = 0
        self._power_in = 0.0    # decaying sums over engaged frames with audible reference
        self._power_out = 0.0

    def process(self, samples: np.ndarray, stamp: float) -> tuple[np.ndarray, int]:
        """int16 mic frame captured from stamp (s) -> (frame to publish, samples it lags the input).

        The lag is 0 while bypassed, LATENCY while engaged: the frame's audio began that
        many samples before stamp.
        """
        samples = np.asarray(samples, dtype=np.int16)
        duration = len(samples) / SAMPLE_RATE
        reference = self.reference.read(stamp, len(samples))
        cancelled = self._aec.process(samples, reference)
        playing = self.reference.playing(stamp - self.config.tail, stamp + duration)
        self.engaged = playing and self.echo_path.push(samples, stamp) is not EchoPath.ABSENT
        if not self.engaged:
            self.frames_bypassed += 1
            return samples, 0
        self.frames_engaged += 1
        self._measure(samples, cancelled, reference, duration)
        return cancelled, LATENCY

    @property
    def erle_db(self) -> float:
        """Echo return loss enhancement over recent engaged audio (NaN before any).

        Measured on everything the mic heard while the robot spoke, the user's voice
        included, so double talk pulls it down: read it as a lower bound.
        """
        if self._power_out <= 0.0 or self._power_in <= 0.0:
            return float('nan')
        return 10.0 * np.log10(self._power_in / self._power_out)

    def reset(self) -> None:
        self._aec.reset()
        self._power_in = self._power_out = 0.0

    def _measure(self, mic: np.ndarray, out: np.ndarray, reference: np.ndarray, duration: float) -> None:
        ref_power = float(np.mean(np.square(reference, dtype=np.float64))) / 32768.0 ** 2
        if ref_power <= 10 ** (QUIET_REFERENCE_DB / 10):
            return
        decay = float(np.exp(-duration / ERLE_TIME_CONSTANT))
        self._power_in = decay * self._power_in + float(np.sum(np.square(mic, dtype=np.float64)))
        self._power_out = decay * self._power_out + float(np.sum(np.square(out, dtype=np.float64))) + 1.0


def _power_db(samples: np.ndarray) -> float:
    return 10.0 * np.log10(float(np.mean(np.square(samples, dtype=np.float64))) / 32768.0 ** 2 + 1e-12)


def erle_db(echo: np.ndarray, residual: np.ndarray) -> float:
    """ERLE in dB: power of the echo at the mic over power of what is left after cancelling it."""
    power_in = float(np.mean(np.square(np.asarray(echo, dtype=np.float64))))
    power_out = float(np.mean(np.square(np.asarray(residual, dtype=np.float64))))
    return 10.0 * np.log10(max(power_in, 1e-12) / max(power_out, 1e-12))
