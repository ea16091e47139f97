"""Uploads that run ahead of a route's ordered publishes, in a small bounded window.

Over a network every step of a file costs round trips (upload URL, PUT, publish), and only
the publishes must be in order. So while the sender publishes the route's next file, the
window uploads the few files behind it, each on a thread of its own, at once: the upload URL
requests share the route's one socket (answers matched by ``reqId``) and the PUTs the storage
connection pool (keep-alive).

Bounds: the sender offers only the first ``upload_window_files`` rows of its queue, so at most
that many files are uploaded or uploading ahead of their publish (an upload URL, valid about a
minute, is asked for just before its PUT). A row is offered once while it waits: an upload
ahead that fails leaves the row ``prepared`` and it is uploaded in its turn, by the sender,
with every error handled there.

Every transition is the same committed ``prepared → uploaded`` as the sender's own, so a crash
can leave several rows ``uploaded`` behind the next one; they are published in order on
restart like any ``uploaded`` row (their objects stay in storage).
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable

from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.row_upload import RowUploader
from syncd.rules.error_kinds import log_kind
from syncd.state.model import OutboundRow, OutboundState

log = logging.getLogger("syncd.sender")

# Rows that were offered once are remembered; the memory is dropped past this many.
MAX_REMEMBERED_ROWS = 10_000


class UploadWindow:
    """Runs ``RowUploader.upload_ahead`` for offered rows, at most ``size - 1`` at a time
    (the ``size``-th file is the one the sender publishes). ``on_done`` runs after each
    upload ahead (on its thread): it must only signal, e.g. wake the sender."""

    def __init__(self, uploader: RowUploader, size: int, on_done: Callable[[], None]) -> None:
        self._uploader = uploader
        self._size = size
        self._on_done = on_done
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._offered: set[int] = set()

    def busy_ids(self) -> frozenset[int]:
        """The ids of the rows being uploaded ahead right now.

        Read it *before* reading the rows: a row not in it then cannot be changed by the
        window behind the reader's back (only rows offered later are started).
        """
        with self._lock:
            return frozenset(self._in_flight)

    def offer(self, queue: list[OutboundRow], now: float) -> int:
        """Start uploads ahead for the rows behind the head of ``queue`` (the route's send
        queue, in send order) that may go: prepared single images or pages, due, never
        failed, within the window and not offered before. Returns how many were started."""
        if self._size <= 1:
            return 0
        started: list[OutboundRow] = []
        with self._lock:
            for row in queue[1 : self._size]:
                if len(self._in_flight) >= self._size - 1:
                    break
                if row.id in self._offered or not _may_go_ahead(row, now):
                    continue
                if len(self._offered) >= MAX_REMEMBERED_ROWS:
                    self._offered.clear()
                self._offered.add(row.id)
                self._in_flight.add(row.id)
                started.append(row)
        for row in started:
            # copy_context: the upload's log lines keep the route's label (service.log_route).
            thread = threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._run, row),
                name="upload-ahead",
                daemon=True,
            )
            thread.start()
        return len(started)

    def _run(self, row: OutboundRow) -> None:
        try:
            self._uploader.upload_ahead(row)
        except Exception as error:  # e.g. the state closed under a stopping daemon
            log.warning(
                "upload ahead of row %d stopped: %s", row.id, error, extra=log_kind(kind_of(error))
            )
        finally:
            with self._lock:
                self._in_flight.discard(row.id)
            self._on_done()


def _may_go_ahead(row: OutboundRow, now: float) -> bool:
    """A row the window may upload early: prepared, one image (not a document's own row,
    which is never uploaded), due, and without a failed attempt (those wait for their turn,
    so their error handling stays the sender's)."""
    return (
        row.state == OutboundState.PREPARED
        and not row.has_pages
        and row.attempts == 0
        and row.next_attempt_at <= now
    )
