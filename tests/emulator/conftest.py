"""Fixtures of the emulator tests: a real emulator on a loopback port, and no leaked threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator


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


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """Settings of the ``emulator`` fixture; override with ``parametrize`` in a test."""
    return EmulatorSettings()


@pytest.fixture
def emulator(emulator_settings: EmulatorSettings) -> Iterator[RunningEmulator]:
    """A running emulator on 127.0.0.1 and a free port, stopped after the test."""
    with start_emulator(emulator_settings) as running:
        yield running
