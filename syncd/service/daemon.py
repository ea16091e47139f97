"""The daemon: wires watchers, intake, preparer, senders and receivers around one state store.

``Daemon.start()`` does only local work (state, folders, watchers) and never waits for
LivePerson, so systemd gets READY=1 at once even when the network is down; every route's
LivePerson session connects lazily in its own threads. The main loop is ``step(now)``,
which tests can call directly. Signal handlers only set a flag.

A route's parts are built and started by ``route_start``, stopped within a grace by
``route_stop``; what each pass reports (``syncd status``, STATUS=, the watchdog) is
``reporting``'s job.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from syncd.config import Config
from syncd.errors import ConfigError, FolderChangedError, StateCorruptError, StateError
from syncd.folders.route import RouteFolders
from syncd.imaging import pipeline as imaging
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.preparer import Preparer
from syncd.outbox.reconcile import reconcile_route
from syncd.outbox.sender import ACTIVE_STATES
from syncd.outbox.watcher import PathSeen
from syncd.rules.error_kinds import log_kind
from syncd.service.log_route import install_route_labels
from syncd.service.notify import Notifier
from syncd.service.reporting import StatusReporter, connection_states
from syncd.service.route import ROUTE_ERROR_DELAY_SECONDS, RouteParts
from syncd.service.route_folders import route_folder_problems
from syncd.service.route_start import (
    build_route,
    change_forwarder,
    event_forwarder,
    link_up_forwarder,
    start_route,
)
from syncd.service.route_stop import stop_routes
from syncd.service.wiring import LivePersonServices
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore

if TYPE_CHECKING:
    from syncd.service.metrics import MetricsServer

log = logging.getLogger("syncd.daemon")

# How often the main loop runs when nothing wakes it: settle checks need this resolution.
TICK_SECONDS = 0.1
# After a main-loop pass failed to write the state (disk full), wait this long: the same
# pass would fail again at once, and each failure logs a line.
STEP_ERROR_DELAY_SECONDS = 5.0
# A route stopped by a swapped folder records its error again this often (status shows it).
ROUTE_STOPPED_RECHECK_SECONDS = 60.0


class Daemon:
    """Runs every route of ``config`` until ``request_stop`` is called."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        on_published: Callable[[OutboundRow], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._notifier = notifier or Notifier.from_environment()
        self._on_published = on_published
        self._events: queue.SimpleQueue[PathSeen] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._routes: dict[str, RouteParts] = {}
        self._folders: dict[str, RouteFolders] = {}
        self._store: StateStore | None = None
        self._preparer: Preparer | None = None
        self._services: LivePersonServices | None = None
        # Connection states, route errors, outages, STATUS= and the watchdog.
        self._reporter = StatusReporter(config, self._notifier, lambda: self.store)
        self._metrics: MetricsServer | None = None

    @property
    def store(self) -> StateStore:
        """The open state store (after ``start``)."""
        if self._store is None:
            raise RuntimeError("daemon not started")
        return self._store

    def start(self) -> None:
        """Open the state, reconcile folders, start watchers and route threads; then READY=1.

        Raises ConfigError when a route's outbox or inbox is missing (without
        ``create_folders``) or unusable, AlreadyRunningError when another syncd holds the
        state, StateCorruptError when SQLite finds it damaged, StateError when the database
        cannot be opened, FolderChangedError when a configured outbox or inbox is a symbolic
        link or a file, and OSError when a route's folders cannot be created.
        """
        problems = route_folder_problems(self.config)
        if problems:
            raise ConfigError(problems)
        self._store = StateStore.open(self.config.state.database, exclusive=True)
        install_route_labels()
        logging.getLogger().addHandler(self._reporter.route_errors)
        problems = self._store.integrity_problems()
        if problems:
            raise StateCorruptError(
                f"state database {self.config.state.database} is damaged (SQLite quick_check: "
                f"{'; '.join(problems[:3])}); stop syncd, move it aside and restore a backup"
            )
        self._start_metrics()
        routes = {route.name: route for route in self.config.routes}
        for route in self.config.routes:
            self._folders[route.name] = RouteFolders(route.name, route.outbox, route.inbox)
        self._services = LivePersonServices(self.config, self._store)
        self._preparer = Preparer(
            self._store,
            routes,
            self._folders,
            workers=self.config.daemon.prepare_workers,
            limits=imaging.ImageLimits(),
            clock=self._clock,
            on_finished=self._wake_sender,
        )
        now = self._clock()
        for route in self.config.routes:
            folders = self._folders[route.name]
            reconcile_route(route, folders, self._store, now)
            self._routes[route.name] = build_route(
                route,
                self._store,
                folders,
                self._services,
                self._preparer,
                self._clock,
                on_published=self._on_published,
                on_messaging_event=event_forwarder(self._routes, route.name),
                on_conversation_change=change_forwarder(self._routes, route.name),
                on_connected=link_up_forwarder(self._routes, route.name),
                has_pending_files=partial(self._has_pending_files, route.name),
                on_seen=self._events.put,
            )
        for state in self._routes.values():
            start_route(state, self._stop, now)
        self._notifier.ready()
        log.info("syncd started with %d route(s)", len(self._routes))

    def _has_pending_files(self, route_name: str) -> bool:
        """True while a file of ``route_name`` is on its way out (keeps its conversation)."""
        pending = (OutboundState.DETECTED, *ACTIVE_STATES)
        return bool(self.store.outbound_in_states(pending, route=route_name, limit=1))

    def _wake_sender(self, route_name: str) -> None:
        state = self._routes.get(route_name)
        if state is not None:
            state.sender.wake()

    def request_stop(self) -> None:
        """Ask the main loop to stop (safe from a signal handler: it only sets a flag)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def step(self, now: float) -> None:
        """One pass of the main loop: events, settling and claiming, rescans, health, status."""
        while True:
            try:
                seen = self._events.get_nowait()
            except queue.Empty:
                break
            state = self._routes.get(seen.route)
            if state is not None:
                state.intake.note_seen(seen.path, seen.close_write, now)
        for state in self._routes.values():
            if now < state.paused_until:
                continue
            try:
                state.step(now)
            except StateError:
                raise  # every route shares the state: run_until_stopped waits and retries
            except FolderChangedError as error:
                # A route folder was swapped under syncd: this route stops; the others go on.
                self.store.note_error(state.config.name, str(error), now, kind=kind_of(error))
                state.paused_until = now + ROUTE_STOPPED_RECHECK_SECONDS
            except OSError as error:
                # A folder or file problem (a full disk, a file where a folder must be): the
                # error names the path and the cause; the route tries again after a pause.
                log.error(
                    "route=%s: intake step failed: %s",
                    state.config.name,
                    error,
                    extra=log_kind(kind_of(error)),
                )
                state.paused_until = now + ROUTE_ERROR_DELAY_SECONDS
            except Exception:
                # One route's surprise (an I/O error in its folders, a bug) must not stop
                # the daemon or the other routes; the files stay where they are.
                log.exception("route=%s: intake step failed unexpectedly", state.config.name)
                state.paused_until = now + ROUTE_ERROR_DELAY_SECONDS
        self._reporter.report(self._routes, now)

    def _routes_connection_states(self) -> dict[str, str]:
        return connection_states(self._routes)

    def _start_metrics(self) -> None:
        """Serve Prometheus metrics when ``[metrics] listen`` is set (ConfigError if it
        cannot be bound)."""
        settings = self.config.metrics
        if settings.host is None or settings.port is None:
            return
        # Imported only when enabled: prometheus_client is not needed otherwise.
        from syncd.service.metrics import MetricsServer, StateCollector

        collector = StateCollector(
            self.store,
            [route.name for route in self.config.routes],
            self._routes_connection_states,
            self._clock,
        )
        self._metrics = MetricsServer(collector, settings.host, settings.port)
        log.info("metrics on http://%s:%d/metrics", settings.host, self._metrics.port)

    def run_until_stopped(self) -> None:
        """Loop ``step`` until a stop is requested, then stop gracefully."""
        try:
            while not self._stop.is_set():
                try:
                    self.step(self._clock())
                except StateError as error:
                    # A full disk or a locked database must not end the daemon: nothing
                    # was committed, so the same files are picked up again next time.
                    log.error("cannot record progress, trying again shortly: %s", error)
                    self._stop.wait(STEP_ERROR_DELAY_SECONDS)
                self._stop.wait(TICK_SECONDS)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Stop watchers, give in-flight work ``route_stop.STOP_GRACE_SECONDS``, close
        connections and the state.

        A route thread still busy after the grace (an upload or a LivePerson request
        hanging in an outage) is abandoned, not waited for: each step it takes is a
        committed transition in the state, so the next start resumes it. The state
        connection and the folder descriptors are then left for the process exit to close.
        """
        # Logged here, not in the signal handler: logging takes locks a handler must not.
        log.info("stopping")
        self._notifier.stopping()
        self._stop.set()
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None
        busy = stop_routes(self._routes, self._preparer, self._services)
        if self._store is not None:
            self._reporter.record_route_errors(self._routes)
            if not busy:
                self._store.close()
            self._store = None
        # An abandoned thread may still use its route's folder descriptors: closing them
        # under it could hand the numbers to other files. The process exit closes them.
        for folders in self._folders.values() if not busy else ():
            folders.close()
        self._folders.clear()
        logging.getLogger().removeHandler(self._reporter.route_errors)
        log.info("syncd stopped")


def database_path(config: Config) -> Path:
    """The state database of ``config`` (for commands that only read it)."""
    return config.state.database
