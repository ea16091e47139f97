"""The in-call retry policy: what is retried, how long it waits, and when it gives up."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from syncd.errors import (
    ConnectionLostError,
    RequestRejectedError,
    RequestTimeoutError,
    TransientTransferError,
    UploadUrlExpiredError,
)
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.retrying import (
    RetryPolicy,
    is_rate_limited,
    is_retryable,
    retry_transient,
)

NO_WAITS = RetryPolicy(max_attempts=4).without_waits()


def failing(
    errors: Sequence[BaseException], result: str = "done"
) -> tuple[Callable[[], str], list[int]]:
    """Return a function raising ``errors`` one per call, then returning ``result``."""
    calls: list[int] = []

    def function() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return function, calls


@pytest.mark.parametrize(
    "error",
    [
        TransientTransferError("HTTP 503"),
        ConnectionLostError("closed with code 1011"),
        RequestTimeoutError("no response"),
        RequestRejectedError("ms.GenerateURLForUploadFile", 429, "slow down"),
        RequestRejectedError("ms.GenerateURLForUploadFile", 500, "oops"),
    ],
)
def test_transient_errors_are_retried_until_success(error: BaseException) -> None:
    function, calls = failing([error, error])

    assert is_retryable(error)
    assert retry_transient(NO_WAITS)(function) == "done"
    assert len(calls) == 3


@pytest.mark.parametrize(
    "error",
    [
        RequestRejectedError("ms.GenerateURLForUploadFile", 400, "file sharing is disabled"),
        HttpStatusError(404, "Not Found"),
        UploadUrlExpiredError("401 Temp URL invalid"),
        ValueError("a bug"),
    ],
)
def test_final_errors_are_raised_at_once(error: BaseException) -> None:
    function, calls = failing([error])

    assert not is_retryable(error)
    with pytest.raises(type(error)):
        retry_transient(NO_WAITS)(function)
    assert len(calls) == 1


def test_attempts_are_bounded_and_the_last_error_is_raised_unchanged() -> None:
    errors = [TransientTransferError(f"failure {number}") for number in range(1, 10)]
    function, calls = failing(errors)

    with pytest.raises(TransientTransferError, match="failure 4"):
        retry_transient(NO_WAITS)(function)
    assert len(calls) == NO_WAITS.max_attempts


def test_total_time_bound_stops_retries_even_with_attempts_left() -> None:
    no_time = RetryPolicy(max_attempts=10, max_total_seconds=0).without_waits()
    function, calls = failing([TransientTransferError("HTTP 502")] * 5)

    with pytest.raises(TransientTransferError):
        retry_transient(no_time)(function)
    assert len(calls) == 1


def test_rate_limit_only_predicate_does_not_resend_after_a_timeout_or_a_5xx() -> None:
    for error in (RequestTimeoutError("no response"), RequestRejectedError("publish", 503, "")):
        function, calls = failing([error])
        with pytest.raises(type(error)):
            retry_transient(NO_WAITS, "publish", retry_if=is_rate_limited)(function)
        assert len(calls) == 1

    function, calls = failing([RequestRejectedError("publish", 429, "")])
    assert retry_transient(NO_WAITS, "publish", retry_if=is_rate_limited)(function) == "done"
    assert len(calls) == 2


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    policy = RetryPolicy(first_wait_seconds=1.0, max_wait_seconds=15.0, jitter_seconds=0)

    waits = [policy.wait_seconds(attempt, TransientTransferError("x")) for attempt in range(1, 7)]

    assert waits == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


def test_jitter_stays_within_its_bound() -> None:
    policy = RetryPolicy(first_wait_seconds=2.0, jitter_seconds=0.5)

    waits = {policy.wait_seconds(1, TransientTransferError("x")) for _ in range(200)}

    assert all(2.0 <= wait <= 2.5 for wait in waits)
    assert len(waits) > 1


def test_server_hints_win_and_a_rate_limit_waits_at_least_one_second() -> None:
    policy = RetryPolicy(first_wait_seconds=5.0, jitter_seconds=0)

    assert policy.wait_seconds(1, TransientTransferError("HTTP 503", retry_after_seconds=7)) == 7
    assert policy.wait_seconds(1, RequestRejectedError("GetClock", 429, "")) == 1.0
    assert policy.wait_seconds(1, RequestRejectedError("GetClock", 503, "")) == 5.0


def test_waits_can_be_switched_off_for_tests_whatever_the_hint() -> None:
    hinted = TransientTransferError("HTTP 429", retry_after_seconds=30)

    assert NO_WAITS.wait_seconds(3, hinted) == 0.0
    assert NO_WAITS.max_attempts == 4


@pytest.mark.parametrize(
    "arguments",
    [{"max_attempts": 0}, {"first_wait_seconds": -1}, {"jitter_seconds": -0.1}],
)
def test_nonsensical_policies_are_refused(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**arguments)  # type: ignore[arg-type]
