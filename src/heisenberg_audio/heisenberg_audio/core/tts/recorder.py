"""Keep a WAV copy of what tts emitted, one file per utterance_id (the demo plays it back).

An utterance spans several Speak goals (one per sentence). Its file is closed when the
utterance ends (another utterance starts, the queue runs dry) or is flushed; if the same
utterance_id speaks again later, its file is re-opened and appended to. The WAV header is
rewritten after every write, so the file is playable even while it is open.
"""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np

_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def wav_name(utterance_id: str) -> str:
    """A file name that cannot escape record_dir; empty ids share 'utterance.wav'."""
    stem = _UNSAFE.sub('_', utterance_id).strip('._') or 'utterance'
    return stem[:120] + '.wav'


class UtteranceRecorder:
    def __init__(self, record_dir: Path, sample_rate: int):
        self.record_dir = Path(record_dir)
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.sample_rate = sample_rate
        self._open_id: str | None = None
        self._writer: wave.Wave_write | None = None
        self._started: set[str] = set()  # files this process wrote: re-opening appends to them

    def path_for(self, utterance_id: str) -> Path:
        return self.record_dir / wav_name(utterance_id)

    def write(self, utterance_id: str, samples: np.ndarray) -> None:
        if self._open_id != utterance_id:
            self.close()
            self._open(utterance_id)
        self._writer.writeframes(np.asarray(samples, dtype='<i2').tobytes())

    def _open(self, utterance_id: str) -> None:
        path = self.path_for(utterance_id)
        earlier = b''
        if utterance_id in self._started and path.is_file():
            with wave.open(str(path), 'rb') as old:
                earlier = old.readframes(old.getnframes())
        writer = wave.open(str(path), 'wb')
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(self.sample_rate)
        if earlier:
            writer.writeframes(earlier)
        self._writer, self._open_id = writer, utterance_id
        self._started.add(utterance_id)

    def take_back(self, utterance_id: str, count: int) -> None:
        """Drop the last count samples of an utterance's file: a pause took them back unplayed.

        (They are written again when the reply resumes, so the file holds each sample once.)
        """
        path = self.path_for(utterance_id)
        if count <= 0 or utterance_id not in self._started or not path.is_file():
            return
        if self._open_id == utterance_id:
            self.close()   # the next write re-opens it and appends
        with wave.open(str(path), 'rb') as old:
            frames = old.readframes(old.getnframes())
        with wave.open(str(path), 'wb') as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(self.sample_rate)
            writer.writeframes(frames[:max(0, len(frames) - 2 * count)])

    @property
    def open_utterance(self) -> str | None:
        return self._open_id

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._writer, self._open_id = None, None
