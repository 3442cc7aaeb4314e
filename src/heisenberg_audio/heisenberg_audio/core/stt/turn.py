"""Has the speaker finished? pipecat's smart-turn v3 model, judging from the audio alone.

A pause is not the end of a turn: "What is, um, ... the capital of France?" pauses where
the question is plainly not over, and "What is the capital of France?" is over the moment
the voice drops. Smart-turn (a Whisper-tiny encoder with a classifier, 8.7 MB, BSD-2-Clause,
shipped in the pipecat-ai wheel) reads intonation and words from the last 8 s of speech
and gives the probability that the turn is complete. The endpointer asks it after a short
silence and ends the turn at once when it says so; otherwise it waits for the long silence.

Features are Whisper's log-mel spectrogram (faster-whisper's extractor, on the waveform
normalised to zero mean and unit variance, as the model was trained), audio aligned to the
end of the 8 s window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heisenberg_audio.core.audio_format import SAMPLE_RATE, int16_to_float

WINDOW_SECONDS = 8


class SmartTurn:
    """P(the turn is complete) of the audio of a turn so far."""

    def __init__(self, model_path: Path, threads: int = 1):
        import onnxruntime as ort
        from faster_whisper.feature_extractor import FeatureExtractor

        if not model_path.is_file():
            raise FileNotFoundError(f'smart-turn model not found: {model_path}')
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = ort.InferenceSession(str(model_path), sess_options=options,
                                             providers=['CPUExecutionProvider'])
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_SECONDS)
        self.model_path = model_path

    def probability(self, audio: np.ndarray) -> float:
        """int16 16 kHz audio (the turn, up to now) -> probability that the speaker is done."""
        samples = int16_to_float(audio)[-WINDOW_SECONDS * SAMPLE_RATE:]
        samples = np.pad(samples, (WINDOW_SECONDS * SAMPLE_RATE - len(samples), 0))
        normalized = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        features = self._features(normalized, padding=0)[:, :self._features.nb_max_frames].astype(np.float32)
        (logits,) = self._session.run(None, {'input_features': features[None]})
        return float(np.asarray(logits).reshape(-1)[0])  # the model ends in a sigmoid

    def warm_up(self) -> None:
        self.probability(np.zeros(SAMPLE_RATE, dtype=np.int16))
