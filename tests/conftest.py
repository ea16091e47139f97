"""Fixtures shared by every test: the real emulator on a loopback port, leak checks."""

from __future__ import annotations

import threading
import time
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


# Threads that live as long as the process on purpose: syncd's one timer thread serves every
# client, and watchdog reads every inotify watch through one shared descriptor thread.
PROCESS_WIDE_THREAD_NAMES = frozenset({"syncd-deadlines"})
PROCESS_WIDE_THREAD_CLASSES = frozenset({"InotifyFD"})


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves a thread of its own running, daemon threads included.

    Nearly every thread syncd starts is a daemon thread (so a stuck one cannot hold the
    process at exit); a stopped daemon must still have ended them all. Stragglers get up to
    5 s to finish; only the process-wide timer thread is allowed to stay.
    """
    before = set(threading.enumerate())
    yield
    leaked = [
        thread
        for thread in threading.enumerate()
        if thread not in before
        and thread.is_alive()
        and thread.name not in PROCESS_WIDE_THREAD_NAMES
        and type(thread).__name__ not in PROCESS_WIDE_THREAD_CLASSES
    ]
    deadline = time.monotonic() + 5
    for thread in leaked:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    still = [thread.name for thread in leaked if thread.is_alive()]
    assert not still, f"threads left running: {still}"
