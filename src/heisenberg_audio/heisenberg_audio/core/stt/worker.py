"""Transcriptions on one worker thread, with speculation that a final request can reuse.

Whisper never runs on the thread that receives audio: jobs go to a single worker (one
model, one at a time). `speculate(key, audio)` starts transcribing during the trailing
silence; a newer speculation replaces one that has not started yet. `final(key, audio)`
at the endpoint returns the speculative job's future when the keys match (same audio:
its result is ready or on its way), otherwise it queues a fresh job.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Hashable

import numpy as np


class SpeculativeTranscriber:
    def __init__(self, transcribe: Callable[[np.ndarray], object]):
        self._transcribe = transcribe
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix='whisper')
        self._lock = threading.Lock()
        self._speculation: tuple[Hashable, Future] | None = None
        self.hits = 0     # finals served by a speculation
        self.misses = 0   # finals transcribed afresh

    def speculate(self, key: Hashable, audio: np.ndarray) -> Future:
        with self._lock:
            self._drop_speculation()
            future = self._pool.submit(self._transcribe, audio)
            self._speculation = (key, future)
            return future

    def final(self, key: Hashable, audio: np.ndarray) -> tuple[Future, bool]:
        """The transcription of the endpoint's audio, and whether speculation provided it."""
        with self._lock:
            speculation, self._speculation = self._speculation, None
            if speculation is not None and speculation[0] == key and not speculation[1].cancelled():
                self.hits += 1
                return speculation[1], True
            if speculation is not None:
                speculation[1].cancel()  # a no-op once started: it runs out, unused
            self.misses += 1
            return self._pool.submit(self._transcribe, audio), False

    def close(self) -> None:
        with self._lock:
            self._drop_speculation()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[1].cancel()
            self._speculation = None
