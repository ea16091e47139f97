"""Fixtures shared by every test: the real emulator on a loopback port, leak checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator


@pytest.fixture
def emulator_settings() -> EmulatorSettings:
    """Settings of the ``emulator`` fixture; a test overrides them with
    ``pytest.mark.parametrize("emulator_settings", [...])``."""
    return EmulatorSettings(port=0)


@pytest.fixture
def emulator(emulator_settings: EmulatorSettings) -> Iterator[RunningEmulator]:
    """A fresh LivePerson emulator on 127.0.0.1, port chosen by the kernel."""
    with start_emulator(emulator_settings) as running:
        yield running


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves non-daemon threads of its own running."""
    before = set(threading.enumerate())
    yield
    leaked = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.is_alive() and not thread.daemon
    ]
    for thread in leaked:
        thread.join(timeout=5)
    still = [thread.name for thread in leaked if thread.is_alive()]
    assert not still, f"threads left running: {still}"
