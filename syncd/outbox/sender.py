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

Whose fault: a step that failed for the link's reason (``retrying.is_link_failure``: socket
closed or refused, timeout, 429/5xx) leaves the row untouched — it does not climb the row's
retry schedule — and the sender waits for the link (``LinkWaiter``), woken the moment the
link reconnects. A failure about the file itself (a 4xx, an answer syncd refuses) follows
the row's durable schedule (``rules.next_attempt_at``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    FolderChangedError,
    PermanentFileError,
    ProtocolError,
    RequestRejectedError,
    RequestTimeoutError,
    SyncdError,
    TlsVerificationError,
    TransientError,
    UnsafeRemoteError,
    UploadUrlExpiredError,
)
from syncd.folders import remove_entry
from syncd.folders.route import RouteFolders
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.http import HttpStatusError
from syncd.liveperson.retrying import is_link_failure
from syncd.liveperson.storage import SwiftStorage
from syncd.outbox.archive import archive_original
from syncd.outbox.documents import fail_page_after_a_failed_one, finish_document
from syncd.outbox.preparer import Preparer, fail_row
from syncd.outbox.uploads import read_named_upload, upload_name_of
from syncd.rules import printable_name
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
# How many rows ahead of the head the preparer works, so preparing overlaps uploading.
PREPARE_AHEAD_ROWS = 4
# A fresh upload URL is asked for at most this often per row before giving up for now.
UPLOAD_URL_ATTEMPTS = 3
# A 4xx on publish is retried this many times (the conversation may have just closed).
PUBLISH_REJECTIONS_BEFORE_FAILING = 3
# Storage refusing a row's upload (401 every time, 403, another 4xx) or a local file problem
# with that row: this many tries, then the row fails and the route goes on.
ROW_FAULTS_BEFORE_FAILING = 3


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
            self._store.note_error(self.route.name, str(error), now)
            return 60.0
        # Send order: FIFO, with a document's pages in page order in its place.
        rows = self._store.send_queue(self.route.name, ACTIVE_STATES, PREPARE_AHEAD_ROWS)
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
        try:
            self._advance(head)
        except (TransientError, RequestRejectedError) as error:
            if is_link_failure(error):
                return self._wait_for_link(head, error, now)
            if isinstance(error, RequestRejectedError):
                self._rejected(head, error, now)
            else:
                self._retry_later(head, error, now)
        except (AuthenticationError, TlsVerificationError) as error:
            # A certificate that does not verify is a configuration problem: say so on the
            # row and in the log (not as a crash), keep the file, and try again.
            self._retry_later(head, error, now)
        except (UnsafeRemoteError, ProtocolError) as error:
            # LivePerson answered something syncd refuses (a URL for another host, a
            # malformed answer): keep the file, record why, and do not hammer the server.
            self._retry_later(head, error, now, minimum_seconds=300)
        except FolderChangedError as error:
            self._store.note_error(self.route.name, str(error), now)
            return 60.0
        except (HttpStatusError, UploadUrlExpiredError, PermanentFileError, OSError) as error:
            # About this row only (storage refusing its upload, its file unusable): a few
            # tries, then it fails and the rows behind it move on.
            self._row_fault(head, error, now)
        self._link_waiter.succeeded()
        return 0.0

    def _wait_for_link(self, row: OutboundRow, error: SyncdError, now: float) -> float:
        """The link failed the head row's step: keep the row as it is (no attempt counted,
        no schedule climbed) and wait for the link; returns the seconds to sleep."""
        if isinstance(error, ConnectionLostError | RequestTimeoutError) and (
            row.state in (OutboundState.UPLOADED, OutboundState.PUBLISHING)
        ):
            # The publish may or may not have reached LivePerson: replay before publishing.
            self._verified_publishing.discard(row.id)
        wait_seconds = self._link_waiter.failed(error, now)
        if self._link_waiter.failures_in_a_row == 1:
            # Once per wait: during an outage the daemon reports the link, not every file.
            self._store.note_error(self.route.name, str(error), now)
            log.warning(
                "route=%s file=%s: waiting for LivePerson (%s); the file keeps its place",
                self.route.name,
                row.source_name,
                error,
            )
        else:
            log.debug("route=%s: still waiting for LivePerson: %s", self.route.name, error)
        return wait_seconds

    def _advance(self, row: OutboundRow) -> None:
        if row.state == OutboundState.PREPARED and row.has_pages:
            finish_document(self._store, self.route, self._folders, row, self._clock())
        elif row.state == OutboundState.PREPARED:
            if not fail_page_after_a_failed_one(
                self._store, self.route, self._folders, row, self._clock()
            ):
                self._upload(row)
        elif row.state == OutboundState.UPLOADED:
            self._publish(row)
        elif row.state == OutboundState.PUBLISHING:
            self._settle_publishing(row)
        elif row.state == OutboundState.PUBLISHED:
            self._finish(row)

    def _upload(self, row: OutboundRow) -> None:
        try:
            # Read and checked against its hash here, right before the PUT.
            data = read_named_upload(self._folders.work, upload_name_of(row))
        except FileNotFoundError:
            if row.is_page:
                # Pages are written durably before their rows exist: only outside hands
                # remove one. The document then fails as a whole when its turn comes.
                reason = f"the prepared page {row.page} of {row.source_name} disappeared"
                fail_row(self._store, self.route, self._folders, row, reason, self._clock())
                return
            # Lost in a crash (written without fsync on purpose): prepare it again.
            self._preparer.prepare_now(row, self.route)
            return
        except PermanentFileError as error:
            if row.is_page:
                # A page cannot be prepared alone: it fails, and with it the document.
                reason = f"the prepared page {row.page} of {row.source_name} is unusable: {error}"
                fail_row(self._store, self.route, self._folders, row, reason, self._clock())
                return
            log.error(
                "route=%s file=%s: prepared upload refused (%s); preparing it again",
                self.route.name,
                row.source_name,
                error,
            )
            remove_entry(self._folders.work, upload_name_of(row))
            self._preparer.prepare_now(row, self.route)
            return
        for _attempt in range(UPLOAD_URL_ATTEMPTS):
            temp_url = self._client.request_upload_url(len(data), row.file_type or "JPG")
            try:
                self._storage().upload(temp_url, data)
            except UploadUrlExpiredError:
                log.info(
                    "route=%s file=%s: upload URL expired, asking again",
                    self.route.name,
                    row.source_name,
                )
                continue
            self._store.mark_uploaded(row.id, temp_url.relative_path, self._clock())
            crash_point("uploaded")
            return
        raise UploadUrlExpiredError("the upload URL expired before the upload finished, 3 times")

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

    def _finish(self, row: OutboundRow) -> None:
        """published → done: archive (or delete) the original, drop the prepared upload.

        An original that cannot be archived does not hold the route: the row is done (it
        was published) and its ``last_error`` says where the original is and why.
        """
        final_path, problem = archive_original(self.route, self._folders, row)
        self._store.mark_done(row.id, final_path, self._clock(), note=problem)
        if problem is None:
            self._store.note_success(self.route.name, self._clock())
        else:
            log.error(
                "route=%s file=%s: %s", self.route.name, printable_name(row.source_name), problem
            )
            self._store.note_error(self.route.name, f"{row.source_name}: {problem}", self._clock())
        crash_point("done")

    def _row_fault(self, row: OutboundRow, error: Exception, now: float) -> None:
        """A fault of this row alone: retried ``ROW_FAULTS_BEFORE_FAILING`` times, then the
        row fails (its original to failed/ with the reason) and the route goes on."""
        if row.state == OutboundState.PUBLISHED:
            # Published already: failing it would lose that fact. Archiving is retried.
            self._retry_later(row, error, now, minimum_seconds=60)
            return
        if row.attempts + 1 >= ROW_FAULTS_BEFORE_FAILING:
            fail_row(self._store, self.route, self._folders, row, f"not sent: {error}", now)
            self._store.note_error(self.route.name, f"{row.source_name}: not sent: {error}", now)
            return
        self._retry_later(row, error, now)

    def _retry_later(
        self, row: OutboundRow, error: Exception, now: float, minimum_seconds: float = 0.0
    ) -> None:
        if isinstance(error, ConnectionLostError | RequestTimeoutError | ProtocolError) and (
            row.state in (OutboundState.UPLOADED, OutboundState.PUBLISHING)
        ):
            # The publish may or may not have reached LivePerson: replay before publishing.
            self._verified_publishing.discard(row.id)
        retry_after = getattr(error, "retry_after_seconds", None)
        when = max(rules.next_attempt_at(row.attempts + 1, now, retry_after), now + minimum_seconds)
        self._store.schedule_retry(row.id, str(error), when, now)
        self._store.note_error(self.route.name, str(error), now)
        log.warning(
            "route=%s file=%s: %s; retrying in %.0f s",
            self.route.name,
            row.source_name,
            error,
            when - now,
        )

    def _rejected(self, row: OutboundRow, error: RequestRejectedError, now: float) -> None:
        if row.state == OutboundState.PREPARED:
            # A refused upload URL is about the account (file sharing disabled, limits), not
            # this file: keep the file and keep trying, loudly.
            log.error(
                "route=%s: LivePerson refused an upload URL (%s); is file sharing enabled? "
                "(syncd enable-file-sharing)",
                self.route.name,
                error.body,
            )
            self._retry_later(row, error, now, minimum_seconds=60)
            return
        current = self._store.get_outbound(row.id)
        if current.state == OutboundState.PUBLISHING and (
            current.conversation_id not in self._store.open_conversations(self.route.name)
        ):
            # Refused because the conversation is gone (closed, or a new consumer cannot see
            # it): not the file's fault; it is published into the route's current one.
            self._verified_publishing.discard(row.id)
            self._store.revert_publishing(row.id, now)
            self._retry_later(row, error, now)
            return
        if row.attempts + 1 >= PUBLISH_REJECTIONS_BEFORE_FAILING:
            fail_row(
                self._store, self.route, self._folders, row, f"LivePerson refused it: {error}", now
            )
            return
        # A refused publish into the current conversation stays in publishing for its next
        # try: reverting would reset the row's attempts, and it would never climb its schedule.
        self._retry_later(row, error, now)
