"""What the daemon reports after each main-loop pass: every route's connection state and
newest logged problem to the state database (for ``syncd status``), outages to the log, and
``STATUS=`` and the watchdog to systemd.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from syncd.config import Config
from syncd.errors import StateError
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.outage_report import OutageReporter
from syncd.rules.error_kinds import log_kind
from syncd.service.notify import Notifier, watchdog_interval_seconds
from syncd.service.route import RouteParts
from syncd.service.route_errors import RouteErrorCollector
from syncd.service.status import DismissedCount, status_line, waiting_files
from syncd.state.store import StateStore

log = logging.getLogger("syncd.daemon")

# STATUS= costs a few COUNT queries; once a second is plenty for `systemctl status`.
STATUS_INTERVAL_SECONDS = 1.0


def connection_states(routes: Mapping[str, RouteParts]) -> dict[str, str]:
    """The connection state of each route's LivePerson client, by route name."""
    return {name: state.client.connection_state for name, state in routes.items()}


def routes_healthy(routes: Mapping[str, RouteParts]) -> bool:
    """True while every route thread is alive (a dead thread must trip the watchdog)."""
    return all(state.threads_alive() for state in routes.values())


class StatusReporter:
    """Reports the daemon's routes after each pass of its main loop.

    ``store`` returns the daemon's open state store (it raises RuntimeError before the
    daemon started). ``route_errors`` is the logging handler that collects each route's
    newest problem; the daemon installs it on the root logger while it runs.
    """

    def __init__(self, config: Config, notifier: Notifier, store: Callable[[], StateStore]) -> None:
        self._notifier = notifier
        self._store = store
        self._watchdog_seconds = watchdog_interval_seconds()
        self._next_watchdog_at = 0.0
        self._next_status_at = 0.0
        # The connection state of each route as last written to the state database, so
        # `syncd status` can show it; written only when it changes.
        self._recorded_connection_states: dict[str, str] = {}
        self._outages = OutageReporter(lambda route: waiting_files(store(), route))
        # The newest logged problem of each route, written to the state for `syncd status`.
        self.route_errors = RouteErrorCollector()
        self._dismissed = DismissedCount(config)

    def report(self, routes: Mapping[str, RouteParts], now: float) -> None:
        """Record connection states and route errors, observe outages, send ``STATUS=``
        when due and the watchdog ping when due and every route thread is alive. Raises
        StateError when the ``STATUS=`` line cannot be read from the state."""
        states = connection_states(routes)
        self._record_connection_states(states, now)
        for name, state in routes.items():
            self._outages.observe(name, state.client.link, now)
        self.record_route_errors(routes)
        if now >= self._next_status_at:
            self._next_status_at = now + STATUS_INTERVAL_SECONDS
            self._notifier.status(status_line(self._store(), states, self._dismissed))
        if (
            self._watchdog_seconds is not None
            and now >= self._next_watchdog_at
            and routes_healthy(routes)
        ):
            self._next_watchdog_at = now + self._watchdog_seconds
            self._notifier.watchdog()

    def _record_connection_states(self, states: dict[str, str], now: float) -> None:
        """Write each route's connection state to the state database when it changed."""
        for route, connection_state in states.items():
            if self._recorded_connection_states.get(route) == connection_state:
                continue
            # Remembered before writing: a failing write (disk full) is logged once per
            # change instead of on every tick; the next change is written again.
            self._recorded_connection_states[route] = connection_state
            try:
                self._store().note_connection_state(route, connection_state, now)
            except StateError as error:
                log.warning(
                    "route=%s: cannot record the connection state: %s",
                    route,
                    error,
                    extra=log_kind(kind_of(error)),
                )

    def record_route_errors(self, routes: Mapping[str, RouteParts]) -> None:
        """Write the problems logged about each route of ``routes`` since the last call to
        the state (a failing write is logged, not raised)."""
        for route, problem in self.route_errors.drain().items():
            if route not in routes:
                continue
            try:
                self._store().note_error(
                    route, problem.message, problem.logged_at, kind=problem.kind
                )
            except StateError as error:
                # Worded without "route=", so this line is not collected in turn.
                log.warning("cannot record the last error of route %s: %s", route, error)
