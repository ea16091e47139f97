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

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError
from syncd.folders import open_entry, remove_entry
from syncd.folders.route import RouteFolders
from syncd.imaging.plan import ImageLimits, PreparedImage
from syncd.imaging.rasteriser import render_pages
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.archive import archive_original
from syncd.outbox.failing import fail_row
from syncd.outbox.uploads import page_upload_name, write_named_upload, write_upload
from syncd.rules import printable_name
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.pages import PreparedPage
from syncd.state.store import StateStore

log = logging.getLogger("syncd.preparer")


def prepare_document(
    store: StateStore,
    route: RouteConfig,
    folders: RouteFolders,
    row: OutboundRow,
    name: str,
    limits: ImageLimits,
    clock: Callable[[], float],
) -> bool:
    """Prepare the claimed document ``row`` (work-folder entry ``name``); True when prepared.

    A document that cannot be made into pages is failed (quarantined with its reason) and
    False is returned. Raises FileNotFoundError when the claimed file is gone, and StateError
    or OSError when the result cannot be stored (the row stays claimed and is prepared again
    later).
    """
    modified = datetime.fromtimestamp(row.mtime_ns / 1e9, UTC).astimezone()
    prepared: list[PreparedPage] = []
    try:
        # The renderer child reads the open file: checked here (no link, FIFO or hard
        # link), and never opened again by a path someone could swap.
        with os.fdopen(open_entry(folders.work, name), "rb") as source:
            for page, pages, image in render_pages(source, limits, route.max_pages):
                if pages == 1:
                    _prepare_single_page(store, route, folders, row, image, modified, clock())
                    return True
                # Written durably (file and folder fsynced) before the pages' rows exist.
                write_named_upload(
                    folders.work, page_upload_name(row.id, page), image.data, durable=True
                )
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
        _remove_page_uploads(folders, row.id, len(prepared))
        fail_row(store, route, folders, row, error.reason, clock(), kind=kind_of(error))
        return False
    store.mark_document_prepared(row.id, prepared, clock())
    crash_point("prepared")
    _log_prepared(route, row, len(prepared), "pages", sum(page.upload_bytes for page in prepared))
    return True


def _prepare_single_page(
    store: StateStore,
    route: RouteConfig,
    folders: RouteFolders,
    row: OutboundRow,
    image: PreparedImage,
    modified: datetime,
    now: float,
) -> None:
    """A document of one page is prepared as an image is: one row, the route's caption."""
    caption = rules.render_caption(route.caption, row.source_name, route.name, modified)
    write_upload(folders.work, row.id, image.data)
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


def finish_document(
    store: StateStore, route: RouteConfig, folders: RouteFolders, row: OutboundRow, now: float
) -> None:
    """The original of a document whose pages went out: archive (or delete) it, or fail it.

    The sender calls this when the original reaches the head of the queue, which happens
    only after every page row has ended (they sort before it). A page that failed fails the
    original, which goes to ``failed/`` with the page's reason. An original that cannot be
    archived does not hold the route (as for an image): the row is done and its
    ``last_error`` says where the original is and why.
    """
    pages = store.page_rows(row.id)
    failed = [page for page in pages if page.state == OutboundState.FAILED]
    if failed:
        first = failed[0]
        reason = f"page {first.page} of {row.pages} could not be sent: {first.last_error}"
        # The page's own failure was recorded with its kind; this is the document's, as a file.
        fail_row(store, route, folders, row, reason, now, kind=ErrorKind.FILE)
        return
    if any(page.state != OutboundState.DONE for page in pages):
        return  # not reachable in send order; wait rather than archive early
    final_path, problem = archive_original(route, folders, row)
    store.finish_document(row.id, final_path, now, note=problem)
    if problem is None:
        store.note_success(route.name, now)
    else:
        log.error(
            "route=%s file=%s: %s",
            route.name,
            printable_name(row.source_name),
            problem,
            extra=log_kind(ErrorKind.STORAGE),
        )
        # The original could not be moved out of the outbox: a local file system problem.
        store.note_error(route.name, f"{row.source_name}: {problem}", now, kind=ErrorKind.STORAGE)
    crash_point("done")
    log.info(
        "route=%s file=%s: all %d pages published",
        route.name,
        printable_name(row.source_name),
        row.pages,
    )


def fail_page_after_a_failed_one(
    store: StateStore, route: RouteConfig, folders: RouteFolders, row: OutboundRow, now: float
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
            fail_row(store, route, folders, row, reason, now, kind=ErrorKind.FILE)
            return True
    return False


def _remove_page_uploads(folders: RouteFolders, document_id: int, pages: int) -> None:
    for page in range(1, pages + 1):
        try:
            remove_entry(folders.work, page_upload_name(document_id, page))
        except OSError as error:
            log.warning("cannot remove page %d of #%d: %s", page, document_id, error)


def _log_prepared(
    route: RouteConfig, row: OutboundRow, pages: int, what: str, upload_bytes: int
) -> None:
    log.info(
        "route=%s file=%s: prepared %d page(s) (%s), %d → %d bytes",
        route.name,
        printable_name(row.source_name),
        pages,
        what,
        row.size_bytes,
        upload_bytes,
    )
