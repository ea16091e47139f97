"""The sender: one thread per route moves rows prepared → uploaded → publishing → published
→ done, strictly in row order (FIFO per route), exactly once.

Exactly once (design.md): ``publishing`` is committed *before* the publish frame is sent.
A row found in ``publishing`` (after a crash, a lost connection or a timeout) is never
published blindly: the conversation is replayed first up to the last sequence its metadata
reports (``ConsumerClient.replay_events``, which assumes no frame order), and our own event
(our consumer id or the CONSUMER role) with the row's unique ``relativePath`` proves the
publish happened; its absence from the complete history proves it did not.

The sender is the only part that opens a conversation, and only when a file is ready to
publish and the route has none OPEN (a request rings an agent).

Only the publishes need that order: the uploads of the next few files run ahead of them
(``upload_window.py``, ``upload_window_files`` per route), so over a network the round trips
of the uploads overlap the publishes; archiving a published file is done off that path too
(``finisher.py``). Whose fault a failed step was, and what follows, is ``send_faults.py``.
With ``upload_window_files = 1`` the sender does every step itself, one file at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import (
    AuthenticationError,
    FolderChangedError,
    PermanentFileError,
    ProtocolError,
    RequestRejectedError,
    SyncdError,
    TlsVerificationError,
    TransientError,
    UnsafeRemoteError,
    UploadUrlExpiredError,
)
from syncd.folders.route import RouteFolders
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.retrying import is_link_failure
from syncd.liveperson.storage import SwiftStorage
from syncd.outbox.documents import fail_page_after_a_failed_one, finish_document
from syncd.outbox.finisher import Finisher
from syncd.outbox.preparer import Preparer
from syncd.outbox.row_upload import RowUploader
from syncd.outbox.send_faults import SendFaults
from syncd.outbox.upload_window import UploadWindow
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore
from syncd.worker_loop import run_woken_loop

log = logging.getLogger("syncd.sender")

ACTIVE_STATES = (
    OutboundState.CLAIMED,
    OutboundState.PREPARED,
    OutboundState.UPLOADED,
    OutboundState.PUBLISHING,
    OutboundState.PUBLISHED,
)
# How many rows ahead of the upload window the preparer works, so preparing overlaps
# uploading.
PREPARE_AHEAD_ROWS = 4
# While an upload ahead of the head row runs, look again after this long at most (the
# window wakes the sender as soon as it finishes).
UPLOAD_AHEAD_POLL_SECONDS = 1.0


class RouteSender:
    """Sends one route's files. ``step`` does one unit of work and is what tests drive."""

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        folders: RouteFolders,
        client: ConsumerClient,
        storage: Callable[[], SwiftStorage],
        preparer: Preparer,
        clock: Callable[[], float],
        on_published: Callable[[OutboundRow], None] | None = None,
    ) -> None:
        self.route = route
        self._store = store
        self._folders = folders
        self._client = client
        self._storage = storage
        self._preparer = preparer
        self._clock = clock
        self._on_published = on_published
        self._wake = threading.Event()
        self._verified_publishing: set[int] = set()
        # The conversation this sender last recorded: recording it again changes nothing
        # but costs a write transaction per file, on the one store every thread shares.
        self._recorded_conversation: str | None = None
        self._link_waiter = client.link_waiter()
        self._faults = SendFaults(
            route, store, folders, self._link_waiter, self._verified_publishing
        )
        self._uploader = RowUploader(route, store, folders, client, storage, preparer, clock)
        self._window = UploadWindow(self._uploader, route.upload_window_files, self.wake)
        self._finisher = Finisher(route, store, folders, clock, self.wake)

    def wake(self) -> None:
        """Ask the sender thread to look at the queue now (a file was claimed or prepared)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Thread body: step until ``stop`` is set; sleeps until woken or something is due."""
        run_woken_loop(
            stop,
            self._wake,
            lambda: self.step(self._clock()),
            f"route={self.route.name}: sender step",
            error_delay_seconds=5.0,
        )

    def step(self, now: float) -> float:
        """Handle the head row of the route; return how long to wait before the next step.

        Returns 0 when more work is ready right away. A swapped route folder stops the
        route's sending (the error is recorded for ``syncd status``).
        """
        try:
            self._folders.verify()
        except FolderChangedError as error:
            self._store.note_error(self.route.name, str(error), now, kind=kind_of(error))
            return 60.0
        # Read before the rows: a row not busy now cannot be changed behind our back.
        busy_ids = self._window.busy_ids()
        finishing_ids = self._finisher.busy_ids()
        # Send order: FIFO, with a document's pages in page order in its place.
        window_files = self.route.upload_window_files
        queue = self._store.send_queue(
            self.route.name, ACTIVE_STATES, window_files + PREPARE_AHEAD_ROWS + len(finishing_ids)
        )
        # Rows being finished were published: the next one to publish is behind them.
        rows = [row for row in queue if row.id not in finishing_ids]
        if not rows:
            return 60.0
        for row in rows:
            if row.state == OutboundState.CLAIMED and row.next_attempt_at <= now:
                self._preparer.submit(row)
        head = rows[0]
        if head.next_attempt_at > now:
            return head.next_attempt_at - now
        if head.state == OutboundState.CLAIMED:
            return 1.0  # the preparer wakes us when it is done
        link_wait_seconds = self._link_waiter.seconds_left(now)
        if link_wait_seconds > 0:
            return link_wait_seconds
        self._window.offer(rows, now)
        if head.id in busy_ids:
            return UPLOAD_AHEAD_POLL_SECONDS  # its upload ahead wakes us when it ends
        if head.has_pages and finishing_ids:
            # A document is finished once its pages are done; its last one may be being
            # finished right now (the finisher wakes us when it is).
            return UPLOAD_AHEAD_POLL_SECONDS
        try:
            self._advance(head)
        except (TransientError, RequestRejectedError) as error:
            if is_link_failure(error):
                return self._faults.wait_for_link(head, error, now)
            if isinstance(error, RequestRejectedError):
                self._faults.rejected(head, error, now)
            else:
                self._faults.retry_later(head, error, now)
        except (AuthenticationError, TlsVerificationError) as error:
            # A certificate that does not verify is a configuration problem: say so on the
            # row and in the log (not as a crash), keep the file, and try again.
            self._faults.retry_later(head, error, now)
        except (UnsafeRemoteError, ProtocolError) as error:
            # LivePerson answered something syncd refuses (a URL for another host, a
            # malformed answer): keep the file, record why, and do not hammer the server.
            self._faults.retry_later(head, error, now, minimum_seconds=300)
        except FolderChangedError as error:
            self._store.note_error(self.route.name, str(error), now, kind=kind_of(error))
            return 60.0
        except (HttpStatusError, UploadUrlExpiredError, PermanentFileError, OSError) as error:
            # About this row only (storage refusing its upload, its file unusable): a few
            # tries, then it fails and the rows behind it move on.
            self._faults.row_fault(head, error, now)
        self._link_waiter.succeeded()
        return 0.0

    def _advance(self, row: OutboundRow) -> None:
        if row.state == OutboundState.PREPARED and row.has_pages:
            finish_document(self._store, self.route, self._folders, row, self._clock())
        elif row.state in (OutboundState.PREPARED, OutboundState.UPLOADED):
            # A page uploaded ahead may belong to a document whose earlier page has failed
            # since: it is failed, not published, like a page still prepared.
            if fail_page_after_a_failed_one(
                self._store, self.route, self._folders, row, self._clock()
            ):
                return
            if row.state == OutboundState.PREPARED:
                self._uploader.upload(row)
            else:
                self._publish(row)
        elif row.state == OutboundState.PUBLISHING:
            self._settle_publishing(row)
        elif row.state == OutboundState.PUBLISHED:
            self._finisher.finish(row)

    def _publish(self, row: OutboundRow) -> None:
        conversation_id = self._client.ensure_open_conversation()
        if conversation_id != self._recorded_conversation:
            self._store.note_conversation_open(
                self.route.name, conversation_id, self.route.skill_id, self._clock()
            )
            self._recorded_conversation = conversation_id
        self._store.mark_publishing(row.id, conversation_id, self._clock())
        crash_point("publishing")
        self._verified_publishing.add(row.id)
        self._send_publish(row, conversation_id)

    def _send_publish(self, row: OutboundRow, conversation_id: str) -> None:
        if row.relative_path is None or row.file_type is None:
            raise SyncdError(f"row {row.id} reached publishing without an upload")
        sequence = self._client.publish_hosted_file(
            conversation_id, row.caption or "", row.relative_path, row.file_type, row.preview
        )
        crash_point("publish-sent")
        self._verified_publishing.discard(row.id)
        self._store.mark_published(row.id, sequence, self._clock())
        crash_point("published")
        log.info(
            "route=%s file=%s: published to conversation %s as sequence %d",
            self.route.name,
            row.source_name,
            conversation_id,
            sequence,
        )
        if self._on_published is not None:
            self._on_published(self._store.get_outbound(row.id))
        if self.route.upload_window_files > 1:
            # Off the path of the next publish (``finisher.py``).
            self._finisher.finish_in_background(row.id)

    def _settle_publishing(self, row: OutboundRow) -> None:
        """A row left in ``publishing``: find out whether its publish happened."""
        conversation_id = row.conversation_id
        if conversation_id is None or row.relative_path is None:
            self._store.revert_publishing(row.id, self._clock())
            return
        if row.id not in self._verified_publishing:
            for event in self._client.replay_events(conversation_id, 0):
                hosted = event.hosted_file
                if (
                    hosted is not None
                    and hosted.relative_path == row.relative_path
                    and event.is_from_consumer(self._client.consumer_id)
                    and event.sequence is not None
                ):
                    self._store.mark_published(row.id, event.sequence, self._clock())
                    crash_point("published")
                    log.info(
                        "route=%s file=%s: found already published as sequence %d",
                        self.route.name,
                        row.source_name,
                        event.sequence,
                    )
                    return
            self._verified_publishing.add(row.id)
        # Proven absent: publish, into the same conversation if it is still open.
        if conversation_id in self._store.open_conversations(self.route.name):
            self._send_publish(row, conversation_id)
        else:
            self._verified_publishing.discard(row.id)
            self._store.revert_publishing(row.id, self._clock())
