"""published → done for one route: archive (or delete) the original, record ``done``.

Nothing about finishing a published file concerns LivePerson, so with an upload window the
sender hands it to a thread of its own (``finish_in_background``) and goes on publishing the
next file at once: the archive's renames and the commits stay off the path of the ordered
publishes. A row being finished is left out of the sender's queue until it is ``done``; one
whose finishing failed (the archive raised) is back in the queue as ``published`` and the
sender finishes it itself, with its error handling. A crash before ``done`` leaves the row
``published``, and it is finished after the restart like any other.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.folders.route import RouteFolders
from syncd.outbox.archive import archive_original
from syncd.rules import printable_name
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore

log = logging.getLogger("syncd.sender")


class Finisher:
    """Finishes the published rows of one route, in the caller's thread or in its own."""

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        folders: RouteFolders,
        clock: Callable[[], float],
        on_done: Callable[[], None],
    ) -> None:
        """``on_done`` runs after each background finish (on its thread): it must only
        signal, e.g. wake the sender."""
        self._route = route
        self._store = store
        self._folders = folders
        self._clock = clock
        self._on_done = on_done
        self._lock = threading.Lock()
        self._busy: set[int] = set()

    def busy_ids(self) -> frozenset[int]:
        """The rows being finished in the background now (read before reading the queue)."""
        with self._lock:
            return frozenset(self._busy)

    def finish(self, row: OutboundRow) -> None:
        """published → done: archive (or delete) the original, drop the prepared upload.

        An original that cannot be archived does not hold the route: the row is done (it
        was published) and its ``last_error`` says where the original is and why. Raises
        OSError and StateError (the row stays ``published``).
        """
        final_path, problem = archive_original(self._route, self._folders, row)
        self._store.mark_done(row.id, final_path, self._clock(), note=problem)
        if problem is None:
            self._store.note_success(self._route.name, self._clock())
        else:
            log.error(
                "route=%s file=%s: %s",
                self._route.name,
                printable_name(row.source_name),
                problem,
                extra=log_kind(ErrorKind.STORAGE),
            )
            # The original could not be moved out of the outbox: a local file system problem.
            self._store.note_error(
                self._route.name,
                f"{row.source_name}: {problem}",
                self._clock(),
                kind=ErrorKind.STORAGE,
            )
        crash_point("done")

    def finish_in_background(self, row_id: int) -> None:
        """Finish published row ``row_id`` on a thread of its own; never raises."""
        with self._lock:
            if row_id in self._busy:
                return
            self._busy.add(row_id)
        # copy_context: the finish's log lines keep the route's label (service.log_route).
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(self._run, row_id),
            name="finish",
            daemon=True,
        ).start()

    def _run(self, row_id: int) -> None:
        try:
            row = self._store.get_outbound(row_id)
            if row.state == OutboundState.PUBLISHED:
                self.finish(row)
        except Exception as error:  # the sender meets the row again and handles it
            log.info(
                "route=%s: finishing row %d is left to the sender: %s",
                self._route.name,
                row_id,
                error,
            )
        finally:
            with self._lock:
                self._busy.discard(row_id)
            self._on_done()
