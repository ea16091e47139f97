"""What the sender does when a step of a row failed: whose fault it was decides.

A step that failed for the link's reason (``retrying.is_link_failure``: socket closed or
refused, timeout, 429/5xx) leaves the row untouched — it does not climb the row's retry
schedule — and the sender waits for the link (``LinkWaiter``), woken the moment the link
reconnects. A failure about the file itself (a 4xx, an answer syncd refuses) follows the
row's durable schedule (``rules.next_attempt_at``); a few of those and the row fails, so the
rows behind it move on.

``verified_publishing`` is the sender's set of rows in ``publishing`` whose absence from the
conversation was proven; a lost answer or connection takes a row out of it (the publish may
or may not have reached LivePerson: it is replayed before publishing again).
"""

from __future__ import annotations

import logging

from syncd import rules
from syncd.config import RouteConfig
from syncd.errors import (
    ConnectionLostError,
    ProtocolError,
    RequestRejectedError,
    RequestTimeoutError,
    SyncdError,
)
from syncd.folders.route import RouteFolders
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.link_health import LinkWaiter
from syncd.outbox.failing import fail_row
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore

log = logging.getLogger("syncd.sender")

# A 4xx on publish is retried this many times (the conversation may have just closed).
PUBLISH_REJECTIONS_BEFORE_FAILING = 3
# Storage refusing a row's upload (401 every time, 403, another 4xx) or a local file problem
# with that row: this many tries, then the row fails and the route goes on.
ROW_FAULTS_BEFORE_FAILING = 3


class SendFaults:
    """The sender's answers to failed steps, for one route."""

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        folders: RouteFolders,
        link_waiter: LinkWaiter,
        verified_publishing: set[int],
    ) -> None:
        self._route = route
        self._store = store
        self._folders = folders
        self._link_waiter = link_waiter
        self._verified_publishing = verified_publishing

    def wait_for_link(self, row: OutboundRow, error: SyncdError, now: float) -> float:
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
            self._store.note_error(self._route.name, str(error), now, kind=kind_of(error))
            log.warning(
                "route=%s file=%s: waiting for LivePerson (%s); the file keeps its place",
                self._route.name,
                row.source_name,
                error,
                extra=log_kind(kind_of(error)),
            )
        else:
            log.debug("route=%s: still waiting for LivePerson: %s", self._route.name, error)
        return wait_seconds

    def row_fault(self, row: OutboundRow, error: Exception, now: float) -> None:
        """A fault of this row alone: retried ``ROW_FAULTS_BEFORE_FAILING`` times, then the
        row fails (its original to failed/ with the reason) and the route goes on."""
        if row.state == OutboundState.PUBLISHED:
            # Published already: failing it would lose that fact. Archiving is retried.
            self.retry_later(row, error, now, minimum_seconds=60)
            return
        if row.attempts + 1 >= ROW_FAULTS_BEFORE_FAILING:
            kind = kind_of(error)
            fail_row(
                self._store, self._route, self._folders, row, f"not sent: {error}", now, kind=kind
            )
            self._store.note_error(
                self._route.name,
                f"{row.source_name}: not sent: {error}",
                now,
                kind=kind,
            )
            return
        self.retry_later(row, error, now)

    def retry_later(
        self,
        row: OutboundRow,
        error: Exception,
        now: float,
        minimum_seconds: float = 0.0,
        *,
        kind: ErrorKind | None = None,
    ) -> None:
        """Schedule the row's next attempt on its durable schedule (at least
        ``minimum_seconds`` away, or the server's ``Retry-After``) and record the error, as
        ``kind`` when the caller knows better than the error's class (``kind_of``)."""
        kind = kind or kind_of(error)
        if isinstance(error, ConnectionLostError | RequestTimeoutError | ProtocolError) and (
            row.state in (OutboundState.UPLOADED, OutboundState.PUBLISHING)
        ):
            # The publish may or may not have reached LivePerson: replay before publishing.
            self._verified_publishing.discard(row.id)
        retry_after = getattr(error, "retry_after_seconds", None)
        when = max(rules.next_attempt_at(row.attempts + 1, now, retry_after), now + minimum_seconds)
        self._store.schedule_retry(row.id, str(error), when, now)
        self._store.note_error(self._route.name, str(error), now, kind=kind)
        log.warning(
            "route=%s file=%s: %s; retrying in %.0f s",
            self._route.name,
            row.source_name,
            error,
            when - now,
            extra=log_kind(kind),
        )

    def rejected(self, row: OutboundRow, error: RequestRejectedError, now: float) -> None:
        """LivePerson refused the row's step with a 4xx (not 429)."""
        if row.state == OutboundState.PREPARED:
            # A refused upload URL is about the account (file sharing disabled, limits), not
            # this file: keep the file and keep trying, loudly.
            log.error(
                "route=%s: LivePerson refused an upload URL (%s); is file sharing enabled? "
                "(syncd enable-file-sharing)",
                self._route.name,
                error.body,
                extra=log_kind(ErrorKind.ACCOUNT),
            )
            self.retry_later(row, error, now, minimum_seconds=60, kind=ErrorKind.ACCOUNT)
            return
        current = self._store.get_outbound(row.id)
        if current.state == OutboundState.PUBLISHING and (
            current.conversation_id not in self._store.open_conversations(self._route.name)
        ):
            # Refused because the conversation is gone (closed, or a new consumer cannot see
            # it): not the file's fault; it is published into the route's current one.
            self._verified_publishing.discard(row.id)
            self._store.revert_publishing(row.id, now)
            self.retry_later(row, error, now)
            return
        if row.attempts + 1 >= PUBLISH_REJECTIONS_BEFORE_FAILING:
            fail_row(
                self._store,
                self._route,
                self._folders,
                row,
                f"LivePerson refused it: {error}",
                now,
                kind=kind_of(error),
            )
            return
        # A refused publish into the current conversation stays in publishing for its next
        # try: reverting would reset the row's attempts, and it would never climb its schedule.
        self.retry_later(row, error, now)
