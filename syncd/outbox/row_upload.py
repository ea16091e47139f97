"""One row's upload: prepared bytes → upload URL → PUT → ``uploaded`` committed.

Two callers. The sender uploads the route's next row itself when no upload of it ran ahead
(``upload``: every problem is handled or raised for the sender's error handling). The upload
window (``upload_window.py``) uploads the rows behind it ahead of their publish
(``upload_ahead``): there a problem changes nothing — the row stays ``prepared`` and the
sender meets it again when the row is next, with all its error handling.

An upload URL lives about a minute (Swift TempURL). A PUT refused with 401 means it expired
before the upload started (a slow line, a long wait): a fresh URL is asked for, up to
``UPLOAD_URL_ATTEMPTS`` times. An uploaded object does not expire, so a row that waits in
``uploaded`` (behind a slow publish, across a crash) is published later with its
``relativePath`` as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError, SyncdError, UploadUrlExpiredError
from syncd.folders import remove_entry
from syncd.folders.route import RouteFolders
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.storage import SwiftStorage
from syncd.outbox.failing import fail_row
from syncd.outbox.preparer import Preparer
from syncd.outbox.uploads import read_named_upload, upload_name_of
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore

log = logging.getLogger("syncd.sender")

# A fresh upload URL is asked for at most this often per row before giving up for now.
UPLOAD_URL_ATTEMPTS = 3


class RowUploader:
    """Uploads the rows of one route (thread-safe: the sender and the window share it)."""

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        folders: RouteFolders,
        client: ConsumerClient,
        storage: Callable[[], SwiftStorage],
        preparer: Preparer,
        clock: Callable[[], float],
    ) -> None:
        self._route = route
        self._store = store
        self._folders = folders
        self._client = client
        self._storage = storage
        self._preparer = preparer
        self._clock = clock

    def upload(self, row: OutboundRow) -> None:
        """Upload prepared ``row`` and commit ``uploaded``; a missing or damaged prepared
        file is prepared again (a page: its row fails, and with it the document).

        Raises what ``ConsumerClient.request_upload_url`` and ``SwiftStorage.upload`` raise,
        UploadUrlExpiredError after ``UPLOAD_URL_ATTEMPTS`` expired URLs, OSError.
        """
        try:
            # Read and checked against its hash here, right before the PUT.
            data = read_named_upload(self._folders.work, upload_name_of(row))
        except FileNotFoundError:
            if row.is_page:
                # Pages are written durably before their rows exist: only outside hands
                # remove one. The document then fails as a whole when its turn comes.
                reason = f"the prepared page {row.page} of {row.source_name} disappeared"
                fail_row(
                    self._store,
                    self._route,
                    self._folders,
                    row,
                    reason,
                    self._clock(),
                    kind=ErrorKind.FILE,
                )
                return
            # Lost in a crash (written without fsync on purpose): prepare it again.
            self._preparer.prepare_now(row, self._route)
            return
        except PermanentFileError as error:
            if row.is_page:
                # A page cannot be prepared alone: it fails, and with it the document.
                reason = f"the prepared page {row.page} of {row.source_name} is unusable: {error}"
                fail_row(
                    self._store,
                    self._route,
                    self._folders,
                    row,
                    reason,
                    self._clock(),
                    kind=kind_of(error),
                )
                return
            log.error(
                "route=%s file=%s: prepared upload refused (%s); preparing it again",
                self._route.name,
                row.source_name,
                error,
                extra=log_kind(kind_of(error)),
            )
            remove_entry(self._folders.work, upload_name_of(row))
            self._preparer.prepare_now(row, self._route)
            return
        self._put_and_record(row, data)

    def upload_ahead(self, row: OutboundRow) -> bool:
        """Upload prepared ``row`` before its turn; True when ``uploaded`` was committed.

        Never raises for the row's or the link's sake: on any problem the row stays
        ``prepared`` (its attempts untouched) for the sender to handle in its turn.
        """
        try:
            data = read_named_upload(self._folders.work, upload_name_of(row))
            self._put_and_record(row, data)
        except (SyncdError, OSError) as error:
            log.debug(
                "route=%s file=%s: upload ahead did not finish (%s); it is uploaded in its turn",
                self._route.name,
                row.source_name,
                error,
            )
            return False
        return True

    def _put_and_record(self, row: OutboundRow, data: bytes) -> None:
        for _attempt in range(UPLOAD_URL_ATTEMPTS):
            temp_url = self._client.request_upload_url(len(data), row.file_type or "JPG")
            try:
                self._storage().upload(temp_url, data)
            except UploadUrlExpiredError:
                log.info(
                    "route=%s file=%s: upload URL expired, asking again",
                    self._route.name,
                    row.source_name,
                )
                continue
            self._store.mark_uploaded(row.id, temp_url.relative_path, self._clock())
            crash_point("uploaded")
            return
        raise UploadUrlExpiredError(
            f"the upload URL expired before the upload finished, {UPLOAD_URL_ATTEMPTS} times"
        )
