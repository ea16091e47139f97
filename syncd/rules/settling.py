"""When is a file in an outbox completely written? Size, mtime and inode stay put for a while.

The intake keeps, per path, the first observation of the file's present state, drops it on
every watcher event (so an event restarts the wait even when ``stat`` shows no change), stats
the file again on its next step and asks ``settle_decision``. A close-after-write event
shortens the wait but never replaces the second ``stat``, and any later event cancels it.
(``last_event_at`` serves a caller that keeps event times instead of dropping observations.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Shortest quiet period after a close-after-write event. The event says the writer closed the
# file, but some scanner drivers write a file in several open/close rounds, so one more stat
# is still due.
CLOSE_WRITE_SETTLE_SECONDS = 0.2

SettleDecision = Literal["wait", "ready"]


@dataclass(frozen=True)
class SettleObservation:
    """One ``stat`` of a candidate file, taken at ``observed_at`` (monotonic seconds)."""

    size_bytes: int
    mtime_ns: int
    inode: int
    observed_at: float

    def same_file_state(self, other: SettleObservation) -> bool:
        """True when ``other`` saw the same inode with the same size and mtime."""
        return (self.size_bytes, self.mtime_ns, self.inode) == (
            other.size_bytes,
            other.mtime_ns,
            other.inode,
        )


def settle_ready_at(
    previous: SettleObservation | None,
    current: SettleObservation,
    settle_seconds: float,
    close_write_seen: bool,
    last_event_at: float | None = None,
) -> float:
    """Return the earliest moment at which a file in ``current``'s state may count as settled.

    ``previous`` is the observation the caller kept from an earlier look: the *first* one that
    saw the file's present state (keep the old one while nothing changes, replace it with
    ``current`` when something does). The quiet period starts at that first sighting, or at
    ``last_event_at`` (the latest watcher event for the path) when that is later. A
    close-after-write event shortens the quiet period to ``CLOSE_WRITE_SETTLE_SECONDS``; the
    caller clears ``close_write_seen`` when any later event (a write after the close) arrives.

    When ``previous`` is missing or differs, the answer is measured from ``current``: a second,
    equal observation is always required. Raises nothing.
    """
    quiet_seconds = (
        min(settle_seconds, CLOSE_WRITE_SETTLE_SECONDS) if close_write_seen else settle_seconds
    )
    if previous is None or not previous.same_file_state(current):
        quiet_since = current.observed_at
    else:
        quiet_since = previous.observed_at
    if last_event_at is not None:
        quiet_since = max(quiet_since, last_event_at)
    return quiet_since + quiet_seconds


def settle_decision(
    previous: SettleObservation | None,
    current: SettleObservation,
    now: float,
    settle_seconds: float,
    close_write_seen: bool,
    last_event_at: float | None = None,
) -> SettleDecision:
    """Decide whether a file is completely written.

    Returns ``"ready"`` when ``previous`` and ``current`` saw the same inode, size and mtime
    and the file has been quiet (no change, no event) for the settle period by ``now``;
    ``"wait"`` otherwise, in which case ``settle_ready_at`` says when to look again. The
    arguments are those of ``settle_ready_at``. Raises nothing.
    """
    if previous is None or not previous.same_file_state(current):
        return "wait"
    ready_at = settle_ready_at(previous, current, settle_seconds, close_write_seen, last_event_at)
    return "ready" if now >= ready_at else "wait"
