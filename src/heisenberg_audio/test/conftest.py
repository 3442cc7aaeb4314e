"""Fixtures the audio node tests share (the workspace's conftest.py has the session-wide ones)."""

import pytest


@pytest.fixture
def nodes():
    """Node processes started by a test; all stopped at its end (even when it fails)."""
    started = []
    yield started
    for process in started:
        process.stop()
