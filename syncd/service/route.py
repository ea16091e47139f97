"""One route's parts inside the daemon, and the life of its outbox watcher.

The daemon owns the loop and the shared state; a ``RouteParts`` owns what belongs to one
route: its intake, LivePerson client, sender, receiver, threads and watcher. ``step(now)``
is the route's share of a main-loop pass (rescan when due, watcher health, settle and claim).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from syncd.config import RouteConfig
from syncd.inbox.receiver import RouteReceiver
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.intake import Intake
from syncd.outbox.sender import RouteSender
from syncd.outbox.watcher import OutboxWatcher, PathSeen
from syncd.rules.error_kinds import log_kind

log = logging.getLogger("syncd.daemon")

# After a route's step raised something unexpected, leave it alone this long (one traceback
# per pause instead of one per tick), then try again.
ROUTE_ERROR_DELAY_SECONDS = 10.0


@dataclass
class RouteParts:
    """The parts of one route; ``on_seen`` receives the watcher's events (the daemon's queue)."""

    config: RouteConfig
    intake: Intake
    client: ConsumerClient
    sender: RouteSender
    receiver: RouteReceiver
    on_seen: Callable[[PathSeen], None]
    watcher: OutboxWatcher | None = None
    next_scan_at: float = 0.0
    # Set after the route's step raised something unexpected: skip it until then.
    paused_until: float = 0.0
    threads: list[threading.Thread] = field(default_factory=list)

    def start_watcher(self) -> None:
        """Watch the outbox; a folder that cannot be watched is logged and left to the
        rescan (``step`` tries again on every pass)."""
        watcher = OutboxWatcher(
            self.config.name,
            self.config.outbox,
            self.config.watch,
            self.config.poll_seconds,
            self.on_seen,
        )
        try:
            watcher.start()
        except OSError as error:
            log.warning(
                "route=%s: cannot watch %s: %s",
                self.config.name,
                self.config.outbox,
                error,
                extra=log_kind(kind_of(error)),
            )
            return
        self.watcher = watcher

    def stop_watcher(self) -> None:
        """Stop the watcher, if one runs."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None

    def step(self, now: float) -> None:
        """Rescan when due, restart a dead watcher, settle and claim; wake the sender when a
        file was claimed. Raises what the intake raises (OSError, StateError)."""
        if now >= self.next_scan_at:
            self.intake.scan(now)
            self.next_scan_at = now + self.config.rescan_seconds
        if self.watcher is None or not self.watcher.is_healthy():
            self._restart_watcher(now)
        if self.intake.step(now):
            self.sender.wake()

    def threads_alive(self) -> bool:
        """True while every thread of the route runs (a dead one must trip the watchdog)."""
        return all(thread.is_alive() for thread in self.threads)

    def _restart_watcher(self, now: float) -> None:
        self.stop_watcher()
        if self.config.outbox.is_dir():
            self.start_watcher()
            self.intake.scan(now)  # events between the old watch and the new one are lost
