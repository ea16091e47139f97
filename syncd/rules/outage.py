"""Outages of the LivePerson link: how long to wait between reconnects, and what to tell.

While LivePerson cannot be reached, a route's files wait for the link instead of climbing
their own retry schedule, and the link reconnects on the schedule below. The daemon watches
each route's link through ``OutageWatch`` and logs three kinds of line: one when an outage
starts, a summary every ``summary_interval_seconds`` while it lasts, one when it ends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Low enough that a recovery is noticed, and the backlog sent, within 15 s of LivePerson coming
# back (the wait drawn just before it comes back is at most this); high enough that a long
# outage costs LivePerson one connection attempt per route every 5 s on average.
RECONNECT_FIRST_WAIT_SECONDS = 1.0
RECONNECT_MAX_WAIT_SECONDS = 10.0
OUTAGE_SUMMARY_INTERVAL_SECONDS = 60.0


def reconnect_delay_seconds(
    attempts: int,
    random_fraction: float,
    retry_after_seconds: float | None = None,
    first_wait_seconds: float = RECONNECT_FIRST_WAIT_SECONDS,
    max_wait_seconds: float = RECONNECT_MAX_WAIT_SECONDS,
) -> float:
    """Return the wait before the next reconnect after ``attempts`` failed ones in a row.

    Exponential backoff with full jitter: a uniform draw (``random_fraction`` in [0, 1], the
    caller's random number) from zero to ``first_wait_seconds * 2**(attempts-1)``, which is
    capped at ``max_wait_seconds``. Full jitter spreads many routes (or many daemons) that lost
    LivePerson at the same instant over the whole window instead of reconnecting in step. A
    server's ``Retry-After`` (``retry_after_seconds``) is honoured as the shortest wait. Raises
    ValueError for ``attempts < 1`` or a fraction outside [0, 1].
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    if not 0.0 <= random_fraction <= 1.0:
        raise ValueError(f"random_fraction must be within [0, 1], got {random_fraction}")
    exponent = min(attempts - 1, 32)
    ceiling_seconds = min(first_wait_seconds * 2.0**exponent, max_wait_seconds)
    jittered_seconds = ceiling_seconds * random_fraction
    if retry_after_seconds is not None:
        return max(jittered_seconds, retry_after_seconds)
    return jittered_seconds


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"10 min 12 s"``, ``"2 h 5 min"``: a duration for people (rounded down
    to whole seconds; negative durations count as zero). Raises nothing."""
    whole = max(int(seconds), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def count_files(count: int) -> str:
    """``"1 file"``, ``"37 files"``. Raises nothing."""
    return f"{count} file" if count == 1 else f"{count} files"


def count_attempts(count: int) -> str:
    """``"1 connection attempt"``, ``"9 connection attempts"``. Raises nothing."""
    return f"{count} connection attempt" if count == 1 else f"{count} connection attempts"


class OutageChange(enum.StrEnum):
    """What an observation of a link found, when it is worth a log line."""

    STARTED = "started"
    ONGOING = "ongoing"
    ENDED = "ended"


@dataclass(frozen=True)
class OutageNotice:
    """One line to log: ``change``, the outage's start (unix s) and how long it has lasted."""

    change: OutageChange
    down_since: float
    lasted_seconds: float


class OutageWatch:
    """Turns successive observations of one link into start, summary and end notices.

    Pure: it keeps only what it was told. Not thread-safe (the daemon's main loop owns it).
    """

    def __init__(self, summary_interval_seconds: float = OUTAGE_SUMMARY_INTERVAL_SECONDS) -> None:
        self._summary_interval_seconds = summary_interval_seconds
        self._down_since: float | None = None
        self._next_summary_at = 0.0

    def observe(self, down_since: float | None, now: float) -> OutageNotice | None:
        """Note that the link has been down since ``down_since`` (None: it is up) at ``now``.

        Returns a notice when an outage started, when a summary is due, or when the outage
        ended; otherwise None. An outage that ends and a new one that starts between two
        observations is reported as one that went on.
        """
        previous = self._down_since
        # A new outage right after an unobserved recovery continues the one already told.
        self._down_since = down_since if previous is None or down_since is None else previous
        if down_since is None:
            if previous is None:
                return None
            return OutageNotice(OutageChange.ENDED, previous, now - previous)
        if previous is None:
            self._next_summary_at = now + self._summary_interval_seconds
            return OutageNotice(OutageChange.STARTED, down_since, now - down_since)
        if now >= self._next_summary_at:
            self._next_summary_at = now + self._summary_interval_seconds
            return OutageNotice(OutageChange.ONGOING, previous, now - previous)
        return None
