"""A link's record of its connect attempts: failures in a row, outage, next try.

``ConsumerLink`` keeps one ``LinkHealth`` and updates it under its own lock; readers on
other threads (the daemon's status, the route threads) read single attributes, which is safe
in Python without the lock and at worst one update stale.
"""

from __future__ import annotations

from syncd.errors import SyncdError
from syncd.liveperson.retrying import ReconnectBackoff, is_link_failure


class LinkHealth:
    """Failures in a row, the outage they started, and how many connects succeeded."""

    def __init__(self) -> None:
        self.failures = 0
        self.last_failure: SyncdError | None = None
        # Since when (unix s) the link is offline: set by the first failed connect whose
        # error is the link's (``is_link_failure``), cleared by the next success.
        self.offline_since: float | None = None
        self.next_attempt_at: float | None = None
        self.connections = 0

    def failed(self, error: SyncdError, now: float, *, may_start_outage: bool = True) -> None:
        """Record a failed connect attempt at ``now``; a link failure starts an outage unless
        ``may_start_outage`` is False (a token renewal failed while the socket still works)."""
        self.failures += 1
        self.last_failure = error
        if may_start_outage and is_link_failure(error) and self.offline_since is None:
            self.offline_since = now

    def succeeded(self) -> None:
        """Record a connect whose subscriptions are done: any outage is over."""
        self.failures = 0
        self.last_failure = None
        self.offline_since = None
        self.next_attempt_at = None
        self.connections += 1

    def backoff_seconds(self, policy: ReconnectBackoff, now: float) -> float:
        """Return how long to wait before the next attempt, 0 when none failed; records when
        that attempt is due. Raises nothing."""
        if self.failures == 0:
            return 0.0
        wait = policy.wait_seconds(self.failures, self.last_failure)
        self.next_attempt_at = now + wait
        return wait


# While the link is offline a route thread is woken when it comes back; this is only the
# safety net should that signal ever be missed.
LINK_DOWN_RECHECK_SECONDS = 60.0


class LinkWaiter:
    """One route thread's wait for its link after its work failed for the link's reason.

    Use: ``seconds_left(now)`` before each attempt (0: go), then ``failed(error, now)`` or
    ``succeeded()``. While the link is offline the thread waits for the link's next connect
    (the link's ``on_connected`` wakes it), at most ``LINK_DOWN_RECHECK_SECONDS``. While the
    link is up (storage answering 5xx, a request timing out on a live socket) it waits like
    a reconnect: exponential with full jitter, capped, at least a server's ``Retry-After``.
    Not thread-safe: one waiter per thread.
    """

    def __init__(self, health: LinkHealth, policy: ReconnectBackoff) -> None:
        self._health = health
        self._policy = policy
        self._retry_at: float | None = None
        self._connections_seen = health.connections
        self.failures_in_a_row = 0

    @property
    def waiting(self) -> bool:
        """True from a failure until the next success."""
        return self.failures_in_a_row > 0

    def seconds_left(self, now: float) -> float:
        """Return how long to wait still, 0 when the thread should try now (no failure to
        wait out, the wait is over, or the link connected since the failure)."""
        connections = self._health.connections
        retry_at = self._retry_at
        if retry_at is None or connections != self._connections_seen or now >= retry_at:
            self._connections_seen = connections
            self._retry_at = None
            return 0.0
        return retry_at - now

    def failed(self, error: BaseException, now: float) -> float:
        """Record a failure for the link's reason at ``now``; return the seconds to wait."""
        self.failures_in_a_row += 1
        if self._health.offline_since is not None:
            wait_seconds = LINK_DOWN_RECHECK_SECONDS
        else:
            # The link is up: a connect made during the failing step (its first, say) is no
            # reconnect after this failure; only a later one cuts the wait (a Retry-After) short.
            self._connections_seen = self._health.connections
            wait_seconds = self._policy.wait_seconds(self.failures_in_a_row, error)
        self._retry_at = now + wait_seconds
        return wait_seconds

    def succeeded(self) -> None:
        """The thread's work went through: no more waiting."""
        self.failures_in_a_row = 0
        self._retry_at = None
