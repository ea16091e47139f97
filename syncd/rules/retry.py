"""When to try again: LivePerson's retry schedule and the patience given to incomplete files.

In-call retries (tenacity, in the adapters) handle the first few seconds; these functions give
the durable ``next_attempt_at`` stored in SQLite for everything longer.
"""

from __future__ import annotations

import email.utils
import os
from dataclasses import dataclass

# Test-only (like SYNCD_CRASH_AFTER): ``SYNCD_TEST_TIMERS=fast`` shortens the two slow timers
# below about tenfold, so the reliability tests run the same retry and still-being-written
# paths without waiting out production time. Read once at import; unset in production, where
# it changes nothing. A server's Retry-After hint is never shortened.
FAST_TEST_TIMERS = os.environ.get("SYNCD_TEST_TIMERS", "") == "fast"


@dataclass(frozen=True)
class RetryPolicy:
    """LivePerson's recommended schedule (protocol.md §3.4): 5, 10, 15 s, then 2, 4, 8 min….

    ``jitter_spread`` is the largest fraction added on top of a delay; jitter only lengthens a
    wait so that no retry comes earlier than the schedule (or a server's hint) allows.
    """

    first_delays_seconds: tuple[float, ...] = (5.0, 10.0, 15.0)
    backoff_start_seconds: float = 120.0
    backoff_factor: float = 2.0
    max_delay_seconds: float = 1800.0
    min_retry_after_seconds: float = 1.0
    jitter_spread: float = 0.2


# The schedule under ``SYNCD_TEST_TIMERS=fast``: the same shape, ten times quicker.
FAST_TEST_RETRY_POLICY = RetryPolicy(
    first_delays_seconds=(0.5, 1.0, 1.5), backoff_start_seconds=12.0, max_delay_seconds=180.0
)

DEFAULT_RETRY_POLICY = FAST_TEST_RETRY_POLICY if FAST_TEST_TIMERS else RetryPolicy()


def retry_delay_seconds(
    attempts: int,
    retry_after_seconds: float | None = None,
    jitter_fraction: float = 0.0,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> float:
    """Return how long to wait after the ``attempts``-th failed attempt (1 for the first).

    A server's ``Retry-After`` hint wins over the schedule (as rclone does), but never below
    ``min_retry_after_seconds`` (LivePerson asks for at least 1 s after a 429) nor above
    ``max_delay_seconds``. ``jitter_fraction`` in [0, 1] (the caller's random number) stretches
    the wait by up to ``jitter_spread``. Raises ValueError for ``attempts < 1`` or a jitter
    fraction outside [0, 1].
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if not 0.0 <= jitter_fraction <= 1.0:
        raise ValueError(f"jitter_fraction must be within [0, 1], got {jitter_fraction}")
    if retry_after_seconds is not None:
        base_seconds = max(retry_after_seconds, policy.min_retry_after_seconds)
    elif attempts <= len(policy.first_delays_seconds):
        base_seconds = policy.first_delays_seconds[attempts - 1]
    else:
        # Cap the exponent too, so a row retried for months cannot overflow a float.
        exponent = min(attempts - len(policy.first_delays_seconds) - 1, 64)
        base_seconds = policy.backoff_start_seconds * policy.backoff_factor**exponent
    capped_seconds = min(base_seconds, policy.max_delay_seconds)
    return capped_seconds * (1.0 + policy.jitter_spread * jitter_fraction)


def next_attempt_at(
    attempts: int,
    now: float,
    retry_after_seconds: float | None = None,
    jitter_fraction: float = 0.0,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
) -> float:
    """Return when to try again after the ``attempts``-th failure at ``now`` (same clock).

    See ``retry_delay_seconds`` for the schedule and the errors raised.
    """
    return now + retry_delay_seconds(attempts, retry_after_seconds, jitter_fraction, policy)


# A truncated image counts as "still being written" for at least this long and this many
# looks, whichever comes later: a slow network scanner can pause mid-file for tens of seconds,
# but a file that stays truncated for a minute and five looks is broken, not in progress.
# Under ``SYNCD_TEST_TIMERS=fast`` the window is 10 s, looked at every 2 s at most.
STILL_WRITING_MIN_SECONDS = 10.0 if FAST_TEST_TIMERS else 60.0
STILL_WRITING_MIN_ATTEMPTS = 5
STILL_WRITING_MAX_RECHECK_SECONDS = 2.0 if FAST_TEST_TIMERS else 15.0


def is_still_writing_exhausted(
    attempts: int,
    first_seen_at: float,
    now: float,
    min_seconds: float = STILL_WRITING_MIN_SECONDS,
    min_attempts: int = STILL_WRITING_MIN_ATTEMPTS,
) -> bool:
    """Tell whether a file that keeps looking incomplete should now fail for good.

    ``attempts`` counts the looks that found it incomplete, ``first_seen_at`` is when the first
    one happened. True once both ``min_attempts`` looks and ``min_seconds`` have passed.
    Raises nothing.
    """
    return attempts >= min_attempts and now - first_seen_at >= min_seconds


def next_still_writing_check_at(attempts: int, now: float) -> float:
    """Return when to look again at a file that looked incomplete ``attempts`` times.

    Waits 2, 4, 8 s…, at most ``STILL_WRITING_MAX_RECHECK_SECONDS``. Raises nothing.
    """
    exponent = min(max(attempts, 1), 16)
    return now + min(2.0**exponent, STILL_WRITING_MAX_RECHECK_SECONDS)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds an HTTP ``Retry-After`` value asks for, or None if absent or bad.

    Accepts delta-seconds (``"5"``) and an HTTP date, measured from ``now`` (unix seconds);
    dates in the past give 0.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)
