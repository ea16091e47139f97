"""The image step in a worker pool: claimed → prepared (or failed), off the main thread.

Two workers match this machine's two cores: Pillow releases the GIL in its codecs, so two
threads prepare two images at once (research/image-perf.md). The prepared upload is written
next to the claimed original as ``NNNNNNNN.upload`` and its preview goes into SQLite, so
the sender (and a restart) can upload without preparing again. Memory stays flat however
long the queue is, because only the rows being prepared are in memory.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import FolderChangedError, PermanentFileError, StateError, StillWritingError
from syncd.folders import open_entry
from syncd.folders.route import RouteFolders
from syncd.imaging import pipeline as imaging
from syncd.imaging.formats import sniff_document_format
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.failing import fail_row, work_entry_name
from syncd.outbox.uploads import write_upload
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore

log = logging.getLogger("syncd.preparer")

# The intake refuses larger files; a claimed file never is larger unless it was swapped.
MAX_SOURCE_BYTES = 512 * 1024 * 1024
# Scans up to this size are read into memory (fastest); larger ones are streamed from the
# file, one at a time, so memory follows the pixels, not the file size.
IN_MEMORY_SOURCE_BYTES = 64 * 1024 * 1024
# Bytes of a claimed file's start that tell a document from an image.
DOCUMENT_SNIFF_BYTES = 1024
# How long a row whose prepared file could not be stored waits before it is prepared again.
STORE_RETRY_SECONDS = 15.0
# How long a row waits after an unexpected error (a bug) before it is prepared again: long
# enough not to spin on a deterministic failure, short enough that a transient one heals.
INTERNAL_ERROR_RETRY_SECONDS = 60.0


def document_format(head: bytes) -> str | None:
    """The page-making format of a claimed file ("PDF", "TIFF", ...) from its first bytes,
    or None for an image.

    From the format sniffer, not imaging.pages: the daemon itself never loads PDFium.
    """
    return sniff_document_format(head[:DOCUMENT_SNIFF_BYTES])


class Preparer:
    """Prepares claimed rows on a small thread pool, each row at most once at a time."""

    def __init__(
        self,
        store: StateStore,
        routes: dict[str, RouteConfig],
        folders: dict[str, RouteFolders],
        workers: int,
        limits: imaging.ImageLimits,
        clock: Callable[[], float],
        on_finished: Callable[[str], None],
    ) -> None:
        self._store = store
        self._routes = routes
        self._folders = folders
        self._limits = limits
        self._clock = clock
        self._on_finished = on_finished
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare")
        self._in_flight: dict[int, Future[None]] = {}
        # Row id → time before which it is not prepared again: its result could not be
        # stored (a full disk). Kept in memory, since the state may be what cannot be written.
        self._held_until: dict[int, float] = {}
        self._lock = threading.Lock()
        self._large_source_lock = threading.Lock()

    def submit(self, row: OutboundRow) -> None:
        """Queue ``row`` for preparing unless it is already queued or held back."""
        with self._lock:
            if row.id in self._in_flight or self._held_until.get(row.id, 0.0) > self._clock():
                return
            future = self._executor.submit(self._prepare, row.id)
            self._in_flight[row.id] = future
        row_id = row.id

        def finished(_future: Future[None]) -> None:
            self._finished(row_id)

        future.add_done_callback(finished)

    def in_flight(self) -> int:
        """Rows queued or being prepared right now."""
        with self._lock:
            return len(self._in_flight)

    def _finished(self, row_id: int) -> None:
        with self._lock:
            self._in_flight.pop(row_id, None)

    def shutdown(self) -> None:
        """Finish the images being prepared, drop the queued ones (they stay ``claimed``)."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _prepare(self, row_id: int) -> None:
        row = self._store.get_outbound(row_id)
        route = self._routes[row.route]
        try:
            self.prepare_now(row, route)
        except FolderChangedError as error:
            log.error(
                "route=%s file=%s: not prepared: %s",
                row.route,
                row.source_name,
                error,
                extra=log_kind(kind_of(error)),
            )
        except (StateError, OSError) as error:
            # The prepared file or its row cannot be written (a full disk): the row stays
            # claimed and is prepared again a little later; one line, not a traceback.
            log.error(
                "route=%s file=%s: cannot store the prepared file, trying again in %.0f s: %s",
                row.route,
                row.source_name,
                STORE_RETRY_SECONDS,
                error,
                extra=log_kind(kind_of(error)),
            )
            with self._lock:
                self._held_until[row_id] = self._clock() + STORE_RETRY_SECONDS
        except Exception:
            # A bug must not lose the file: keep the row claimed and try again later.
            log.exception(
                "route=%s file=%s: preparing failed unexpectedly", row.route, row.source_name
            )
            now = self._clock()
            self._store.schedule_retry(
                row.id, "internal error while preparing", now + INTERNAL_ERROR_RETRY_SECONDS, now
            )
        else:
            with self._lock:
                self._held_until.pop(row_id, None)
        finally:
            self._on_finished(row.route)

    @staticmethod
    def _is_document(folders: RouteFolders, name: str) -> bool:
        """True when work-folder entry ``name`` is a document (PDF, TIFF, ...) to make
        pages of. Raises what ``open_entry`` raises."""
        descriptor = open_entry(folders.work, name)
        try:
            head = os.pread(descriptor, DOCUMENT_SNIFF_BYTES, 0)
        finally:
            os.close(descriptor)
        return document_format(head) is not None

    def _prepare_entry(self, folders: RouteFolders, name: str) -> imaging.PreparedImage:
        """Prepare work-folder entry ``name``: in memory when small, streamed when large.

        Large scans are streamed one at a time (``_large_source_lock``), so two arriving
        together never hold two sets of full-size pixels. Raises what ``imaging.prepare``
        raises, FileNotFoundError, UnsafeFileError, PermanentFileError.
        """
        descriptor = open_entry(folders.work, name)
        with os.fdopen(descriptor, "rb") as handle:
            size_bytes = os.fstat(descriptor).st_size
            if size_bytes > MAX_SOURCE_BYTES:
                raise PermanentFileError(
                    f"file is {size_bytes} bytes, more than the {MAX_SOURCE_BYTES} syncd accepts"
                )
            if size_bytes <= IN_MEMORY_SOURCE_BYTES:
                return imaging.prepare(handle.read(), self._limits)
            with self._large_source_lock:
                return imaging.prepare_stream(handle, size_bytes, self._limits)

    def prepare_now(self, row: OutboundRow, route: RouteConfig) -> bool:
        """Prepare one claimed row (or a prepared one whose upload was lost) on the calling
        thread; True when it is ``prepared``.

        Raises FolderChangedError when a route folder was swapped, OSError and StateError
        when the result cannot be stored.
        """
        now = self._clock()
        folders = self._folders[route.name]
        folders.verify()
        name = work_entry_name(route, row)
        if name is None:
            reason = (
                f"the state names {row.work_path} as its claimed file, which is not inside "
                f"the work folder {route.work_dir}; syncd does not touch it"
            )
            self._store.mark_failed(row.id, reason, now)
            self._store.note_error(
                route.name, f"{row.source_name}: {reason}", now, kind=ErrorKind.FILE
            )
            return False
        try:
            if self._is_document(folders, name):
                # Imported here: the document step builds on this module's helpers.
                from syncd.outbox.documents import prepare_document

                return prepare_document(
                    self._store, route, folders, row, name, self._limits, self._clock
                )
            prepared = self._prepare_entry(folders, name)
        except FileNotFoundError:
            self._store.mark_failed(
                row.id, "the claimed file disappeared from the work folder", now
            )
            return False
        except StillWritingError as error:
            reason = f"image data is truncated or corrupt: {error}"
            fail_row(self._store, route, folders, row, reason, now, kind=ErrorKind.FILE)
            return False
        except PermanentFileError as error:
            fail_row(self._store, route, folders, row, error.reason, now, kind=kind_of(error))
            return False
        modified = datetime.fromtimestamp(row.mtime_ns / 1e9, UTC).astimezone()
        caption = rules.render_caption(route.caption, row.source_name, route.name, modified)
        write_upload(folders.work, row.id, prepared.data)
        self._store.mark_prepared(
            row.id,
            caption,
            prepared.file_type,
            len(prepared.data),
            prepared.preview_data_uri,
            prepared.width,
            prepared.height,
            self._clock(),
        )
        crash_point("prepared")
        log.info(
            "route=%s file=%s: prepared %s %dx%d, %d → %d bytes",
            route.name,
            row.source_name,
            prepared.file_type,
            prepared.width,
            prepared.height,
            prepared.source_bytes,
            len(prepared.data),
        )
        return True
