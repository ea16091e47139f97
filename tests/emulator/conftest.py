"""Fixtures of the emulator tests: no leaked threads (the emulator fixture is shared)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread running (waiting up to 5 s for stragglers to end)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    leaked = [t for t in threading.enumerate() if t not in before]
    while leaked and time.monotonic() < deadline:
        leaked[0].join(timeout=0.1)
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"
