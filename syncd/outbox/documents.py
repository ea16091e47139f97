"""The document step: a claimed PDF, multi-page TIFF or other page format → prepared pages.

Every page is rendered (in a child process with a time limit per page, see
``imaging.rasteriser``) and written to the work folder *before* anything is recorded, so the
whole document is known to be readable before its first page can go out: an encrypted PDF,
an empty one, one over ``max_pages`` or a TIFF whose page N is damaged fails as a whole, and
nothing of it is published. Then one transaction records the original as ``prepared`` with
one ``prepared`` row per page (``state.pages``), which the sender publishes in page order.
A document of one page is prepared like an image: one row, the route's ``caption``.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError, UnsafeFileError
from syncd.folders import fsync_directory, move_without_clobber
from syncd.imaging.plan import ImageLimits, PreparedImage
from syncd.imaging.rasteriser import render_pages
from syncd.outbox.preparer import fail_row, page_upload_path, upload_path, write_upload
from syncd.rules.filecheck import unsafe_entry_reason
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.pages import PreparedPage
from syncd.state.store import StateStore

log = logging.getLogger("syncd.preparer")


def prepare_document(
    store: StateStore,
    route: RouteConfig,
    row: OutboundRow,
    limits: ImageLimits,
    clock: Callable[[], float],
) -> bool:
    """Prepare the claimed document ``row`` (its file is ``row.work_path``); True when prepared.

    A document that cannot be made into pages is failed (quarantined with its reason) and
    False is returned. Raises FileNotFoundError when the claimed file is gone, and StateError
    or OSError when the result cannot be stored (the row stays claimed and is prepared again
    later).
    """
    modified = datetime.fromtimestamp(row.mtime_ns / 1e9, UTC).astimezone()
    prepared: list[PreparedPage] = []
    try:
        with _open_claimed(Path(str(row.work_path))) as source:
            for page, pages, image in render_pages(source, limits, route.max_pages):
                if pages == 1:
                    _prepare_single_page(store, route, row, image, modified, clock())
                    return True
                path = page_upload_path(route.work_dir, row.id, page)
                write_upload(path, image.data, durable=True)
                caption = rules.render_caption(
                    route.document_caption,
                    row.source_name,
                    route.name,
                    modified,
                    page=page,
                    pages=pages,
                )
                prepared.append(
                    PreparedPage(
                        page,
                        caption,
                        image.file_type,
                        len(image.data),
                        image.preview_data_uri,
                        image.width,
                        image.height,
                    )
                )
    except PermanentFileError as error:
        _remove_page_uploads(route, row.id, len(prepared))
        fail_row(store, route, row, error.reason, clock())
        return False
    fsync_directory(route.work_dir)
    store.mark_document_prepared(row.id, prepared, clock())
    crash_point("prepared")
    _log_prepared(route, row, len(prepared), "pages", sum(page.upload_bytes for page in prepared))
    return True


def _prepare_single_page(
    store: StateStore,
    route: RouteConfig,
    row: OutboundRow,
    image: PreparedImage,
    modified: datetime,
    now: float,
) -> None:
    """A document of one page is prepared as an image is: one row, the route's caption."""
    caption = rules.render_caption(route.caption, row.source_name, route.name, modified)
    write_upload(upload_path(route.work_dir, row.id), image.data)
    store.mark_prepared(
        row.id,
        caption,
        image.file_type,
        len(image.data),
        image.preview_data_uri,
        image.width,
        image.height,
        now,
    )
    crash_point("prepared")
    _log_prepared(route, row, 1, image.file_type, len(image.data))


def _open_claimed(path: Path) -> IO[bytes]:
    """Open a claimed file for the renderer child, refusing links, FIFOs and hard links.

    The same checks as ``folders.read_own_file``, on the descriptor the child will read.
    Raises UnsafeFileError, FileNotFoundError or OSError.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(
                "symbolic link: syncd never follows links out of a watched folder"
            ) from error
        raise
    try:
        reason = unsafe_entry_reason(os.fstat(descriptor))
        if reason is not None:
            raise UnsafeFileError(reason)
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def finish_document(store: StateStore, route: RouteConfig, row: OutboundRow, now: float) -> None:
    """The original of a document whose pages went out: archive (or delete) it, or fail it.

    The sender calls this when the original reaches the head of the queue, which happens
    only after every page row has ended (they sort before it). A page that failed fails the
    original, which goes to ``failed/`` with the page's reason.
    """
    pages = store.page_rows(row.id)
    failed = [page for page in pages if page.state == OutboundState.FAILED]
    if failed:
        first = failed[0]
        reason = f"page {first.page} of {row.pages} could not be sent: {first.last_error}"
        fail_row(store, route, row, reason, now)
        return
    if any(page.state != OutboundState.DONE for page in pages):
        return  # not reachable in send order; wait rather than archive early
    final_path: Path | None = None
    work_path = Path(row.work_path) if row.work_path else None
    if work_path is not None and os.path.lexists(work_path):
        if route.after_send == "archive":
            final_path = move_without_clobber(work_path, route.sent_dir, row.source_name)
        else:
            os.unlink(work_path)
    store.finish_document(row.id, final_path, now)
    store.note_success(route.name, now)
    crash_point("done")
    log.info("route=%s file=%s: all %d pages published", route.name, row.source_name, row.pages)


def fail_page_after_a_failed_one(
    store: StateStore, route: RouteConfig, row: OutboundRow, now: float
) -> bool:
    """Fail page row ``row`` if an earlier page of its document failed; True when it did.

    Agents must not get page 3 without page 2: once a page could not be sent (LivePerson
    refused it), the pages after it are not sent either, and the document fails as a whole.
    """
    if row.document_id is None or row.page is None:
        return False
    for page in store.page_rows(row.document_id):
        if page.page is not None and page.page < row.page and page.state == OutboundState.FAILED:
            reason = f"page {page.page} of this document could not be sent"
            fail_row(store, route, row, reason, now)
            return True
    return False


def _remove_page_uploads(route: RouteConfig, document_id: int, pages: int) -> None:
    for page in range(1, pages + 1):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(page_upload_path(route.work_dir, document_id, page))


def _log_prepared(
    route: RouteConfig, row: OutboundRow, pages: int, what: str, upload_bytes: int
) -> None:
    log.info(
        "route=%s file=%s: prepared %d page(s) (%s), %d → %d bytes",
        route.name,
        row.source_name,
        pages,
        what,
        row.size_bytes,
        upload_bytes,
    )
