"""The reliability tests' daemons run with syncd's test-only timers.

``SYNCD_TEST_TIMERS=fast`` (syncd/rules/retry.py) makes the durable retry schedule start at
0.5 s instead of 5 s and lets a file stay incomplete for 10 s instead of 60 s before it
fails. The daemons these tests start as child processes inherit it; the paths they take are
the production ones, only the waits are shorter. The test process itself keeps the
production values (syncd.rules is imported below, before any test sets the variable), so
in-process daemons and later unit tests do too.
"""

from __future__ import annotations

import pytest

# Imported before any test sets the variable, so this process keeps the production timers.
import syncd.rules  # noqa: F401


@pytest.fixture(autouse=True)
def fast_daemon_timers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every daemon process started by the test ``SYNCD_TEST_TIMERS=fast``."""
    monkeypatch.setenv("SYNCD_TEST_TIMERS", "fast")
