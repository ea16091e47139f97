"""``SYNCD_TEST_TIMERS=fast`` shortens the retry schedule and the still-being-written window,
and nothing else changes without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from syncd import rules
from syncd.rules.retry import FAST_TEST_TIMERS, RetryPolicy

REPOSITORY = Path(__file__).resolve().parents[2]

_TIMERS_OF_A_FRESH_PROCESS = """
import json
from syncd import rules
print(json.dumps([
    rules.retry_delay_seconds(1),
    rules.retry_delay_seconds(4),
    rules.retry_delay_seconds(1, retry_after_seconds=7),
    rules.is_still_writing_exhausted(5, 0.0, 10.0),
    rules.next_still_writing_check_at(4, 0.0),
]))
"""


def _timers_with(value: str | None) -> list[float | bool]:
    environment = {k: v for k, v in os.environ.items() if k != "SYNCD_TEST_TIMERS"}
    if value is not None:
        environment["SYNCD_TEST_TIMERS"] = value
    done = subprocess.run(
        [sys.executable, "-c", _TIMERS_OF_A_FRESH_PROCESS],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    timers: list[float | bool] = json.loads(done.stdout)
    return timers


def test_this_test_process_runs_with_the_production_timers() -> None:
    assert not FAST_TEST_TIMERS
    assert RetryPolicy() == rules.DEFAULT_RETRY_POLICY
    assert rules.STILL_WRITING_MIN_SECONDS == 60.0


def test_without_the_variable_a_daemon_keeps_the_production_timers() -> None:
    # 5 s, then 2 min; a server hint of 7 s is kept; 10 s is far inside the 60 s window.
    assert _timers_with(None) == [5.0, 120.0, 7.0, False, 15.0]
    assert _timers_with("slow") == [5.0, 120.0, 7.0, False, 15.0]


def test_fast_test_timers_shorten_the_schedule_and_the_window_but_not_a_server_hint() -> None:
    assert _timers_with("fast") == [0.5, 12.0, 7.0, True, 2.0]
