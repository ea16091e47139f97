"""Attempt counters of retried calls count on across calls until one succeeds, repeated retry
lines are summarised although their attempt numbers differ, and an outage's summary line
counts the link's connection attempts."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import pytest

from syncd.errors import RequestRejectedError, TransientTransferError
from syncd.liveperson.link_health import LinkHealth
from syncd.liveperson.outage_report import OutageReporter
from syncd.liveperson.retrying import AttemptStreak, RetryPolicy, retry_transient
from syncd.rules.outage import OUTAGE_SUMMARY_INTERVAL_SECONDS
from syncd.service.log_repeats import RepeatSummaryFilter

POLICY = RetryPolicy(max_attempts=3).without_waits()
_ATTEMPT = re.compile(r"\(attempt (\d+(?: of \d+)?)\)")


def _failing(times: int, then: str = "done") -> Callable[[], str]:
    """A call that raises a transient error ``times`` times, then returns ``then``."""
    left = [times]

    def call() -> str:
        if left[0] > 0:
            left[0] -= 1
            raise TransientTransferError("GET /x failed: connection refused by lp:443")
        return then

    return call


def _logged_attempts(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [_ATTEMPT.search(record.getMessage()) for record in caplog.records]
    return [match.group(1) for match in found if match is not None]


def test_a_streak_counts_on_across_calls_and_starts_over_after_a_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    streak = AttemptStreak()
    caplog.set_level(logging.WARNING, logger="syncd.liveperson.retrying")

    with pytest.raises(TransientTransferError):
        retry_transient(POLICY, "obtain a token", streak=streak)(_failing(5))
    assert streak.count == 3
    assert retry_transient(POLICY, "obtain a token", streak=streak)(_failing(2)) == "done"
    assert streak.count == 0
    with pytest.raises(TransientTransferError):
        retry_transient(POLICY, "obtain a token", streak=streak)(_failing(5))

    # The last attempt of a call is not followed by a retry, so it has no line of its own.
    assert _logged_attempts(caplog) == ["1", "2", "4", "5", "1", "2"]


def test_an_error_that_is_not_retried_does_not_count() -> None:
    streak = AttemptStreak()

    def refused() -> str:
        raise RequestRejectedError("publish", 400, "bad request")

    with pytest.raises(RequestRejectedError):
        retry_transient(POLICY, "publish", streak=streak)(refused)
    assert streak.count == 0


def test_without_a_streak_each_call_numbers_its_own_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="syncd.liveperson.retrying")
    for _ in range(2):
        with pytest.raises(TransientTransferError):
            retry_transient(POLICY, "storage upload")(_failing(5))
    assert _logged_attempts(caplog) == ["1 of 3", "2 of 3"] * 2


def test_the_outage_summary_counts_the_connection_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="syncd.outage")
    reporter = OutageReporter(lambda _route: 2)
    health = LinkHealth()
    error = TransientTransferError("connection refused by lp:443")
    start = 1_000.0
    for _ in range(3):
        health.failed(error, start)
    reporter.observe("claims", health, start)
    for _ in range(6):
        health.failed(error, start + 30)
    reporter.observe("claims", health, start + OUTAGE_SUMMARY_INTERVAL_SECONDS)

    summary = caplog.records[-1].getMessage()
    assert summary == (
        "route=claims: LivePerson unreachable for 1 min 0 s, 9 connection attempts; "
        "2 files queued; last error: connection refused by lp:443"
    )


def _retry_line(route: str, attempt: int, wait_seconds: float) -> logging.LogRecord:
    error = "TransientTransferError: GET /x failed: connection refused by lp:443"
    record = logging.LogRecord(
        "syncd.liveperson.retrying",
        logging.WARNING,
        __file__,
        1,
        f"route={route}: obtain a token failed (attempt {attempt}): {error}; "
        f"retrying in {wait_seconds:.1f} s",
        (),
        None,
    )
    record.repeat_key = f"obtain a token failed: {error}"
    return record


def test_retry_lines_differing_in_attempt_and_wait_are_one_repeated_warning_per_route() -> None:
    now = [0.0]
    repeats = RepeatSummaryFilter(summary_interval_seconds=300, clock=lambda: now[0])
    passed = []
    for attempt in range(1, 21):
        now[0] = attempt * 20.0
        for route in ("claims", "invoices"):
            record = _retry_line(route, attempt, attempt / 10)
            if repeats.filter(record):
                passed.append(record.getMessage())

    # Attempt 1, then the first copy 300 s after it (attempt 16 at 320 s), for each route.
    assert [line.split(" failed (")[1][:10] for line in passed] == [
        "attempt 1)",
        "attempt 1)",
        "attempt 16",
        "attempt 16",
    ]
    assert passed[2].startswith("route=claims: obtain a token failed (attempt 16): ")
    # 14 copies dropped (attempts 2 to 15); the times are local clock times.
    assert "; retrying in 1.6 s (repeated 14 more time(s) since " in passed[2]
