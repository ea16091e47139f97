"""The image step in a worker pool: claimed → prepared (or failed), off the main thread.

Two workers match this machine's two cores: Pillow releases the GIL in its codecs, so two
threads prepare two images at once (research/image-perf.md). The prepared upload is written
next to the claimed original as ``NNNNNNNN.upload`` and its preview goes into SQLite, so
the sender (and a restart) can upload without preparing again. Memory stays flat however
long the queue is, because only the rows being prepared are in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError, StateError, StillWritingError
from syncd.folders import read_own_file
from syncd.imaging import pipeline as imaging
from syncd.imaging.formats import sniff_document_format
from syncd.outbox.quarantine import quarantine
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore

log = logging.getLogger("syncd.preparer")

# How long a row whose prepared file could not be stored waits before it is prepared again.
STORE_RETRY_SECONDS = 15.0


def upload_path(work_dir: Path, row_id: int) -> Path:
    """Where the prepared upload of a row lives until it is sent."""
    return work_dir / f"{row_id:08d}.upload"


def page_upload_path(work_dir: Path, document_id: int, page: int) -> Path:
    """Where the prepared upload of page ``page`` of the original ``document_id`` lives."""
    return work_dir / f"{document_id:08d}-p{page:04d}.upload"


def upload_path_of(work_dir: Path, row: OutboundRow) -> Path:
    """The upload file of ``row``: its own, or its page's for a page row."""
    if row.document_id is not None and row.page is not None:
        return page_upload_path(work_dir, row.document_id, row.page)
    return upload_path(work_dir, row.id)


def row_id_from_upload_name(name: str) -> int | None:
    """Inverse of ``upload_path``'s file name; None for names syncd did not make."""
    stem, dot, suffix = name.partition(".")
    if dot and suffix == "upload" and stem.isdigit():
        return int(stem)
    return None


def page_from_upload_name(name: str) -> tuple[int, int] | None:
    """Inverse of ``page_upload_path``'s file name: (document id, page); None otherwise."""
    stem, dot, suffix = name.partition(".")
    document, separator, page = stem.partition("-p")
    if dot and suffix == "upload" and separator and document.isdigit() and page.isdigit():
        return int(document), int(page)
    return None


def write_upload(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write a prepared upload through a temp name so a crash never leaves half a file.

    No fsync by default: a lost upload file after a power cut is simply prepared again.
    ``durable`` (document pages, whose row exists only once every page is written) fsyncs
    the file; the caller fsyncs the folder once for all pages.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temporary, path)


def fail_row(
    store: StateStore, route: RouteConfig, row: OutboundRow, reason: str, now: float
) -> None:
    """Quarantine a claimed row's original into ``failed/`` and mark the row failed."""
    if row.work_path is not None and os.path.lexists(row.work_path):
        quarantine(
            Path(row.work_path),
            route.failed_dir,
            route=route.name,
            original_name=row.source_name,
            reason=reason,
            attempts=row.attempts + 1,
            now=now,
            row_id=row.id,
        )
    store.mark_failed(row.id, reason, now)
    crash_point("failed")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(upload_path_of(route.work_dir, row))


def document_format(data: bytes) -> str | None:
    """The page-making format of a claimed file ("PDF", "TIFF", ...), or None for an image.

    From the format sniffer, not imaging.pages: the daemon itself never loads PDFium.
    """
    return sniff_document_format(data[:1024])


class Preparer:
    """Prepares claimed rows on a small thread pool, each row at most once at a time."""

    def __init__(
        self,
        store: StateStore,
        routes: dict[str, RouteConfig],
        workers: int,
        limits: imaging.ImageLimits,
        clock: Callable[[], float],
        on_finished: Callable[[str], None],
    ) -> None:
        self._store = store
        self._routes = routes
        self._limits = limits
        self._clock = clock
        self._on_finished = on_finished
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare")
        self._in_flight: dict[int, Future[None]] = {}
        # Row id → time before which it is not prepared again: its result could not be
        # stored (a full disk). Kept in memory, since the state may be what cannot be written.
        self._held_until: dict[int, float] = {}
        self._lock = threading.Lock()

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
        except (StateError, OSError) as error:
            # The prepared file or its row cannot be written (a full disk): the row stays
            # claimed and is prepared again a little later; one line, not a traceback.
            log.error(
                "route=%s file=%s: cannot store the prepared file, trying again in %.0f s: %s",
                row.route,
                row.source_name,
                STORE_RETRY_SECONDS,
                error,
            )
            with self._lock:
                self._held_until[row_id] = self._clock() + STORE_RETRY_SECONDS
        except Exception:
            # A bug must not lose the file: keep the row claimed and try again later.
            log.exception(
                "route=%s file=%s: preparing failed unexpectedly", row.route, row.source_name
            )
            now = self._clock()
            self._store.schedule_retry(row.id, "internal error while preparing", now + 60, now)
        else:
            with self._lock:
                self._held_until.pop(row_id, None)
        finally:
            self._on_finished(row.route)

    def prepare_now(self, row: OutboundRow, route: RouteConfig) -> bool:
        """Prepare one claimed row on the calling thread; True when it became ``prepared``."""
        now = self._clock()
        if row.work_path is None:
            fail_row(self._store, route, row, "claimed file has no work path", now)
            return False
        try:
            data = read_own_file(Path(row.work_path))
            if document_format(data) is not None:
                del data  # the renderer child reads the file itself; do not hold it meanwhile
                # Imported here: the document step builds on this module's helpers.
                from syncd.outbox.documents import prepare_document

                return prepare_document(self._store, route, row, self._limits, self._clock)
            prepared = imaging.prepare(data, self._limits)
        except FileNotFoundError:
            self._store.mark_failed(
                row.id, "the claimed file disappeared from the work folder", now
            )
            return False
        except StillWritingError as error:
            reason = f"image data is truncated or corrupt: {error}"
            fail_row(self._store, route, row, reason, now)
            return False
        except PermanentFileError as error:
            fail_row(self._store, route, row, error.reason, now)
            return False
        modified = datetime.fromtimestamp(row.mtime_ns / 1e9, UTC).astimezone()
        caption = rules.render_caption(route.caption, row.source_name, route.name, modified)
        write_upload(upload_path(route.work_dir, row.id), prepared.data)
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
