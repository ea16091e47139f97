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
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.rules.outage import (
    OutageChange,
    OutageWatch,
    count_attempts,
    count_files,
    format_duration,
)

log = logging.getLogger("syncd.outage")
# Every line here is about the link to LivePerson (kept as the route's last error kind).
_ABOUT_LIVEPERSON = log_kind(ErrorKind.LIVEPERSON)

# During an outage the backlog is counted this often, so the line at its end names the
# backlog as it was when the link came back, before the first files of it went out.
COUNT_INTERVAL_SECONDS = 1.0


class OutageReporter:
    """Logs each route's outages. Not thread-safe: one caller (the main loop)."""

    def __init__(self, count_waiting_files: Callable[[str], int]) -> None:
        self._count_waiting_files = count_waiting_files
        self._watches: dict[str, OutageWatch] = {}
        # Per route: (when counted, how many files waited) during its outage.
        self._counts: dict[str, tuple[float, int]] = {}

    def observe(self, route: str, health: LinkHealth, now: float) -> None:
        """Look at ``route``'s link at ``now``, count its waiting files once a second while
        it is offline, and log what changed. Raises what ``count_waiting_files`` raises
        (StateError)."""
        watch = self._watches.setdefault(route, OutageWatch())
        notice = watch.observe(health.offline_since, now)
        if health.offline_since is not None:
            counted_at, _count = self._counts.get(route, (0.0, 0))
            if now - counted_at >= COUNT_INTERVAL_SECONDS:
                self._counts[route] = (now, self._count_waiting_files(route))
        if notice is None:
            return
        lasted = format_duration(notice.lasted_seconds)
        if notice.change == OutageChange.STARTED:
            log.warning(
                "route=%s: LivePerson unreachable (%s); files wait for the link, which "
                "retries every few seconds",
                route,
                health.last_failure,
                extra=_ABOUT_LIVEPERSON,
            )
            return
        if notice.change == OutageChange.ENDED:
            files = count_files(self._counts.pop(route, (now, 0))[1])
        else:
            files = count_files(self._counts[route][1])
        if notice.change == OutageChange.ONGOING:
            # The link's failed connects in a row: they count on for the whole outage.
            log.warning(
                "route=%s: LivePerson unreachable for %s, %s; %s queued; last error: %s",
                route,
                lasted,
                count_attempts(health.failures),
                files,
                health.last_failure,
                extra=_ABOUT_LIVEPERSON,
            )
        else:
            log.warning(
                "route=%s: LivePerson reachable again after %s; %s queued",
                route,
                lasted,
                files,
                extra=_ABOUT_LIVEPERSON,
            )
