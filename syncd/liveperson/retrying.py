"""In-call retries of LivePerson requests, set up once with tenacity.

LivePerson's retry recommendation (protocol.md §3.4): never retry a 4xx, wait at least one
second after a 429, back off after a 5xx. Everything that is retried here is bounded by a
number of attempts *and* by a total time, and the waits are jittered so that many routes
coming back after an outage do not knock on the door at the same instant. What outlasts
these bounds is the caller's business (the daemon re-queues durably in SQLite).

The retry decision looks only at syncd's own exception types (``syncd.errors``).
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, stop_after_attempt
from tenacity.stop import stop_before_delay

from syncd.errors import LinkDownError, RequestRejectedError, TransientError
from syncd.rules import retry_delay_seconds
from syncd.rules.outage import (
    RECONNECT_FIRST_WAIT_SECONDS,
    RECONNECT_MAX_WAIT_SECONDS,
    reconnect_delay_seconds,
)

logger = logging.getLogger(__name__)

# LivePerson asks for "a window of at least 1 second in between subsequent request retries"
# after a 429.
RATE_LIMIT_MIN_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry one call.

    ``max_attempts`` counts the first try. A wait is ``first_wait_seconds * 2**(n-1)`` capped at
    ``max_wait_seconds`` plus a random ``0..jitter_seconds``, unless the server named a
    ``Retry-After``. No retry starts when its wait would end past ``max_total_seconds`` after
    the first try. ``waits_enabled=False`` makes every wait zero (tests) while keeping the
    attempt bound.
    """

    max_attempts: int = 4
    max_total_seconds: float = 60.0
    first_wait_seconds: float = 1.0
    max_wait_seconds: float = 15.0
    jitter_seconds: float = 1.0
    waits_enabled: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.max_total_seconds, self.first_wait_seconds, self.max_wait_seconds) < 0:
            raise ValueError("retry seconds must not be negative")
        if self.jitter_seconds < 0:
            raise ValueError("jitter_seconds must not be negative")

    def without_waits(self) -> RetryPolicy:
        """Return a copy whose waits are all zero (for tests); attempts stay bounded."""
        return dataclasses.replace(self, waits_enabled=False)

    def backoff_seconds(self, attempt_number: int) -> float:
        """Return the wait after failed attempt ``attempt_number`` (1-based), without jitter."""
        if not self.waits_enabled:
            return 0.0
        exponent = min(max(attempt_number - 1, 0), 30)
        return float(min(self.first_wait_seconds * (2**exponent), self.max_wait_seconds))

    def wait_seconds(self, attempt_number: int, error: BaseException | None) -> float:
        """Return how long to wait after failed attempt ``attempt_number`` raised ``error``.

        A server's ``retry_after_seconds`` wins over the backoff (it knows its own load); a
        rate-limit answer never waits less than one second.
        """
        if not self.waits_enabled:
            return 0.0
        hinted = server_hint_seconds(error)
        if hinted is not None:
            return hinted
        return self.backoff_seconds(attempt_number) + random.uniform(0.0, self.jitter_seconds)


@dataclass(frozen=True)
class ReconnectBackoff:
    """How a link spaces its reconnect attempts (``rules.reconnect_delay_seconds``).

    For the link's own failures: exponential from ``first_wait_seconds`` with full jitter,
    capped at ``max_wait_seconds``; other refusals follow the durable retry schedule. A
    server's ``Retry-After`` is the shortest wait. There is no attempt bound: the link
    tries until it is closed. ``waits_enabled=False`` makes every wait zero (tests).
    """

    first_wait_seconds: float = RECONNECT_FIRST_WAIT_SECONDS
    max_wait_seconds: float = RECONNECT_MAX_WAIT_SECONDS
    waits_enabled: bool = True

    def __post_init__(self) -> None:
        if min(self.first_wait_seconds, self.max_wait_seconds) < 0:
            raise ValueError("reconnect seconds must not be negative")

    def wait_seconds(self, attempt_number: int, error: BaseException | None) -> float:
        """Return the wait after failed reconnect ``attempt_number`` (1-based) that raised
        ``error``. Raises ValueError for ``attempt_number < 1``."""
        if not self.waits_enabled:
            return 0.0
        if error is not None and not is_link_failure(error):
            # Refused for a reason a person must fix (a key the connector does not hold, an
            # identity flow the account lacks): knocking every few seconds changes nothing,
            # so such refusals follow the durable schedule (5, 10, 15 s, then minutes).
            return retry_delay_seconds(attempt_number, server_hint_seconds(error))
        return reconnect_delay_seconds(
            attempt_number,
            random.random(),
            server_hint_seconds(error),
            self.first_wait_seconds,
            self.max_wait_seconds,
        )


def is_retryable(error: BaseException) -> bool:
    """Return True for errors that a later identical call may not hit.

    Those are every ``TransientError`` (network errors, timeouts, HTTP 429/5xx, lost
    WebSocket) and a ``RequestRejectedError`` whose code is 429 or 5xx. Any other 4xx is final.
    ``LinkDownError`` is not retried in the call: the link reconnects on its own schedule
    and says when it is back.
    """
    if isinstance(error, LinkDownError):
        return False
    if isinstance(error, TransientError):
        return True
    return isinstance(error, RequestRejectedError) and error.is_transient


def is_link_failure(error: BaseException) -> bool:
    """Return True when ``error`` says LivePerson or the way to it is in trouble, not a file.

    Those are the errors ``is_retryable`` accepts (and ``LinkDownError``): a closed or
    refused socket, a timeout, a network error, HTTP or response code 429 or 5xx. A file
    whose step failed with one of these waits for the link instead of climbing its own
    retry schedule. Everything else (a 4xx, a refused token, an answer syncd refuses) is
    the file's or the configuration's business.
    """
    return isinstance(error, LinkDownError) or is_retryable(error)


def server_hint_seconds(error: BaseException | None) -> float | None:
    """Return the wait the server asked for with ``error``, or None when it asked nothing."""
    if isinstance(error, TransientError) and error.retry_after_seconds is not None:
        return max(0.0, error.retry_after_seconds)
    if isinstance(error, RequestRejectedError) and error.code == 429:
        return RATE_LIMIT_MIN_WAIT_SECONDS
    return None


def is_rate_limited(error: BaseException) -> bool:
    """Return True for a 429 answer: the request was refused unprocessed, so resending is safe."""
    if isinstance(error, RequestRejectedError):
        return error.code == 429
    return False


class AttemptStreak:
    """Failed attempts of one kind of call in a row, counted across calls until one succeeds.

    ``retry_transient`` bounds each call to a few attempts; during an outage the caller then
    calls again later (the link's supervisor reconnects until LivePerson answers). Counting
    per call would log "attempt 1 of 4" again and again; a streak shared by the calls counts
    on ("attempt 7") and starts over after a success. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @property
    def count(self) -> int:
        """Failed attempts since the last success (0: none)."""
        return self._count

    def failed(self) -> int:
        """Count one more failed attempt; return its number (1 for the first in a row)."""
        with self._lock:
            self._count += 1
            return self._count

    def succeeded(self) -> None:
        """An attempt went through: the next failure is number 1 again."""
        with self._lock:
            self._count = 0


def retry_transient(
    policy: RetryPolicy,
    description: str = "call",
    retry_if: Callable[[BaseException], bool] = is_retryable,
    streak: AttemptStreak | None = None,
) -> Retrying:
    """Return a tenacity ``Retrying`` that retries ``retry_if`` errors under ``policy``.

    Use it as ``retry_transient(policy, "upload")(function, *args)``. ``retry_if`` defaults
    to ``is_retryable``; pass a narrower predicate for requests that are unsafe to repeat.
    When the attempts or the time run out, the last error is raised unchanged (not
    tenacity's ``RetryError``), so callers keep handling syncd's own types. ``description``
    only names the call in log lines. Without ``streak`` a log line numbers the attempt
    within this call ("attempt 2 of 4"); with one, within the streak ("attempt 7"): failed
    attempts of earlier calls count, a success starts the count over.
    """
    # The number of the attempt that just failed, as the log line shows it.
    shown = [0]

    def should_retry(retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if error is None:
            if streak is not None:
                streak.succeeded()
            return False
        if not retry_if(error):
            return False
        shown[0] = streak.failed() if streak is not None else retry_state.attempt_number
        return True

    def wait(retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return policy.wait_seconds(retry_state.attempt_number, error)

    def log_retry(retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        attempt = f"attempt {shown[0]}"
        if streak is None:
            attempt += f" of {policy.max_attempts}"
        # Only the type and our own message: syncd's error messages never carry secrets.
        logger.warning(
            "%s failed (%s): %s: %s; retrying in %.1f s",
            description,
            attempt,
            type(error).__name__,
            error,
            retry_state.upcoming_sleep,
            # Copies differing only in the attempt and the wait are one repeated warning
            # (summarised by the daemon's log handler, service/log_repeats.py).
            extra={"repeat_key": f"{description} failed: {type(error).__name__}: {error}"},
        )

    return Retrying(
        retry=should_retry,
        stop=stop_after_attempt(policy.max_attempts) | stop_before_delay(policy.max_total_seconds),
        wait=wait,
        before_sleep=log_retry,
        reraise=True,
    )
