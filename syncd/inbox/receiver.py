"""The receiver: what agents send into a route's conversations lands in its inbox, once.

Events arrive from the route's LivePerson session (replayed from the stored cursor after
every connect) for every OPEN conversation the ``ConversationKeeper`` follows. A
``hosted/file`` from anyone but us, and (with ``save_agent_text``) an agent's text, becomes
an ``inbound`` row, unique per conversation and sequence, so replays never save twice. The
receiver thread downloads due files, checks their content (``content.py``: the types agents
may send), writes files and texts atomically into the inbox under names made from local
facts, marks them done, and sends LivePerson's receipt (an AcceptStatusEvent ACCEPT). A
file refused for its content or size keeps its reason on the row, which ``syncd status``
shows. The receiver never opens a conversation. Recording events as rows, on the session's
reader thread, is ``recorder.py``; this module is the receiver thread.

A download that fails for the link's reason (``retrying.is_link_failure``) does not climb
the row's retry schedule: the round stops and the receiver waits for the link, which wakes
it the moment it reconnects; pending downloads then go at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from syncd import rules
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
from syncd.inbox.agent_text import (
    AGENT_TEXT_CAPTION,
    AGENT_TEXT_TYPE,
    render_agent_text,
)
from syncd.inbox.content import agent_file_extension
from syncd.inbox.conversations import ConversationKeeper
from syncd.inbox.recorder import EventRecorder
from syncd.inbox.writer import remove_stale_temp_files, write_into_inbox
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.liveperson.retrying import is_link_failure
from syncd.liveperson.storage import SwiftStorage
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import InboundRow
from syncd.state.store import StateStore
from syncd.worker_loop import run_woken_loop

log = logging.getLogger("syncd.receiver")

DOWNLOAD_URL_ATTEMPTS = 3
# A received file the inbox refuses (a full disk, a folder planted at every name): this many
# tries, then the row fails with the reason and the files behind it go on.
INBOX_WRITE_ATTEMPTS = 5


class RouteReceiver:
    """Receives one route's inbound files. Event callbacks run on the session's reader thread
    and only record rows; downloads run on the receiver's own thread.
    """

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        folders: RouteFolders,
        client: ConsumerClient,
        storage: Callable[[], SwiftStorage],
        clock: Callable[[], float],
        has_pending_files: Callable[[], bool] = lambda: False,
    ) -> None:
        self.route = route
        self._store = store
        self._folders = folders
        self._client = client
        self._storage = storage
        self._clock = clock
        self._wake = threading.Event()
        self._keeper = ConversationKeeper(route, store, client, clock, has_pending_files)
        self._recorder = EventRecorder(route, store, client, self._keeper, clock, self._wake.set)
        self._link_waiter = client.link_waiter()

    def wake(self) -> None:
        """Make the receiver thread look for due downloads now."""
        self._wake.set()

    def handle_event(self, event: MessagingEvent) -> None:
        """Record one messaging event (called on the session's reader thread; see
        ``EventRecorder.handle_event``)."""
        self._recorder.handle_event(event)

    def handle_conversation_change(self, change: ConversationChange) -> None:
        """Keep the conversations table current (called on the session's reader thread)."""
        self._recorder.handle_conversation_change(change)

    def run(self, stop: threading.Event) -> None:
        """Thread body: follow the OPEN conversations; save what is due."""
        try:
            remove_stale_temp_files(self._folders.inbox)
        except OSError as error:
            log.warning(
                "route=%s: cannot tidy the inbox: %s",
                self.route.name,
                error,
                extra=log_kind(kind_of(error)),
            )
        run_woken_loop(
            stop,
            self._wake,
            self._round,
            f"route={self.route.name}: receiver step",
            error_delay_seconds=10.0,
        )

    def _round(self) -> float:
        """Follow the OPEN conversations, then save what is due."""
        link_wait_seconds = self._link_waiter.seconds_left(self._clock())
        if link_wait_seconds > 0:
            return link_wait_seconds
        try:
            keeper_wait = self._keeper.step(self._clock())
            replay_wait = self._recorder.replay_unrecorded(self._clock())
            wait_seconds = min(self.step(self._clock()), replay_wait, keeper_wait)
        except (TransientError, RequestRejectedError) as error:
            if not is_link_failure(error):
                log.warning(
                    "route=%s: LivePerson refused: %s",
                    self.route.name,
                    error,
                    extra=log_kind(kind_of(error)),
                )
                return 10.0
            if not self._link_waiter.waiting:
                log.warning(
                    "route=%s: waiting for LivePerson: %s",
                    self.route.name,
                    error,
                    extra=log_kind(kind_of(error)),
                )
            return self._link_waiter.failed(error, self._clock())
        except AuthenticationError as error:
            log.warning(
                "route=%s: LivePerson session not ready: %s",
                self.route.name,
                error,
                extra=log_kind(kind_of(error)),
            )
            return 10.0
        except (TlsVerificationError, UnsafeRemoteError, ProtocolError) as error:
            # Configuration or server problems: one clear line a minute, not a crash report.
            log.error(
                "route=%s: cannot use LivePerson: %s",
                self.route.name,
                error,
                extra=log_kind(kind_of(error)),
            )
            return 60.0
        except FolderChangedError as error:
            self._store.note_error(self.route.name, str(error), self._clock(), kind=kind_of(error))
            return 60.0
        self._link_waiter.succeeded()
        return wait_seconds

    def step(self, now: float) -> float:
        """Save every due inbound row; return the seconds until the next is due.

        Raises FolderChangedError when a route folder was swapped (the route stops), and
        the link's errors (``is_link_failure``), stopping there: the rows not yet downloaded
        keep their schedule and wait for the link.
        """
        self._folders.verify()
        for row in self._store.due_inbound(self.route.name, now):
            self._receive(row, now)
        return 30.0

    def _receive(self, row: InboundRow, now: float) -> None:
        try:
            received_at = datetime.fromtimestamp(row.created_at, UTC)
            if row.file_type == AGENT_TEXT_TYPE:
                data = render_agent_text(
                    row.created_at, row.conversation_id, row.originator_id, row.caption
                )
                caption, extension = AGENT_TEXT_CAPTION, "txt"
            else:
                data = self._download(row)
                caption, extension = row.caption, agent_file_extension(data, row.file_type)
            name = rules.inbox_file_name(
                received_at, row.conversation_id, row.sequence, caption, extension
            )
            written = write_into_inbox(self._folders.inbox, name, data, f"inbound-{row.id}")
            path = self.route.inbox / written
            crash_point("inbound-linked")
        except OSError as error:
            reason = f"cannot write it into the inbox: {error.strerror or error}"
            if row.attempts + 1 >= INBOX_WRITE_ATTEMPTS:
                self._store.mark_inbound_failed(row.id, reason, self._clock())
                # The inbox could not be written (full, not writable): the error says which.
                self._store.note_error(self.route.name, reason, self._clock(), kind=kind_of(error))
            else:
                when = rules.next_attempt_at(row.attempts + 1, now, None)
                self._store.schedule_inbound_retry(row.id, reason, when, now)
            log.error(
                "route=%s: received file #%d: %s",
                self.route.name,
                row.id,
                reason,
                extra=log_kind(kind_of(error)),
            )
            return
        except PermanentFileError as error:
            self._store.mark_inbound_failed(row.id, error.reason, self._clock())
            log.error(
                "route=%s: file from conversation %s sequence %d refused: %s",
                self.route.name,
                row.conversation_id,
                row.sequence,
                error.reason,
                extra=log_kind(ErrorKind.INBOUND),
            )
            return
        except (TransientError, AuthenticationError, UploadUrlExpiredError, SyncdError) as error:
            if is_link_failure(error):
                raise  # not the file's fault: the round waits for the link
            if isinstance(error, RequestRejectedError) and not error.is_transient:
                self._store.mark_inbound_failed(row.id, str(error), self._clock())
                log.error(
                    "route=%s: download refused: %s",
                    self.route.name,
                    error,
                    extra=log_kind(ErrorKind.INBOUND),
                )
                return
            when = rules.next_attempt_at(
                row.attempts + 1, now, getattr(error, "retry_after_seconds", None)
            )
            self._store.schedule_inbound_retry(row.id, str(error), when, now)
            log.warning(
                "route=%s: download failed, retrying: %s",
                self.route.name,
                error,
                extra=log_kind(ErrorKind.INBOUND),
            )
            return
        self._store.mark_inbound_done(row.id, path, len(data), self._clock())
        crash_point("inbound-done")
        log.info(
            "route=%s file=%s: received %d bytes into the inbox",
            self.route.name,
            path.name,
            len(data),
        )
        if self.route.send_accept_receipts:
            try:
                self._client.publish_accept(row.conversation_id, [row.sequence])
            except SyncdError as error:
                log.warning(
                    "route=%s: could not send the receipt: %s",
                    self.route.name,
                    error,
                    extra=log_kind(kind_of(error)),
                )

    def _download(self, row: InboundRow) -> bytes:
        for _attempt in range(DOWNLOAD_URL_ATTEMPTS):
            temp_url = self._client.request_download_url(row.relative_path)
            try:
                return self._storage().download(temp_url, self.route.max_download_bytes)
            except UploadUrlExpiredError:
                continue  # the 60-second URL expired: ask for a fresh one
        raise UploadUrlExpiredError("the download URL expired before the download, 3 times")
