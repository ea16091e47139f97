"""The log lines of a LivePerson outage: one when it starts, a summary while it lasts, one
when it ends ("LivePerson reachable again after 10 min 12 s; 37 files queued").

The daemon's main loop hands every route's ``LinkHealth`` to ``OutageReporter.observe`` on
each pass; the decisions are ``rules.OutageWatch``'s, the counting is the caller's
(``count_waiting_files``, so this module needs no state database).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from syncd.liveperson.link_health import LinkHealth
from syncd.rules.outage import OutageChange, OutageWatch, format_duration

log = logging.getLogger("syncd.outage")


class OutageReporter:
    """Logs each route's outages. Not thread-safe: one caller (the main loop)."""

    def __init__(self, count_waiting_files: Callable[[str], int]) -> None:
        self._count_waiting_files = count_waiting_files
        self._watches: dict[str, OutageWatch] = {}

    def observe(self, route: str, health: LinkHealth, now: float) -> None:
        """Look at ``route``'s link at ``now`` and log what changed. Raises what
        ``count_waiting_files`` raises (StateError), only when a line is due."""
        watch = self._watches.setdefault(route, OutageWatch())
        notice = watch.observe(health.offline_since, now)
        if notice is None:
            return
        lasted = format_duration(notice.lasted_seconds)
        if notice.change == OutageChange.STARTED:
            log.warning(
                "route=%s: LivePerson unreachable (%s); files wait for the link, which "
                "retries every few seconds",
                route,
                health.last_failure,
            )
            return
        files = self._count_waiting_files(route)
        if notice.change == OutageChange.ONGOING:
            log.warning(
                "route=%s: LivePerson unreachable for %s; %d files queued; last error: %s",
                route,
                lasted,
                files,
                health.last_failure,
            )
        else:
            log.warning(
                "route=%s: LivePerson reachable again after %s; %d files queued",
                route,
                lasted,
                files,
            )
