"""The connection lifecycle behind ``ConsumerClient``: identity, connect, resubscribe, renew.

``ConsumerLink`` hands out an open ``MessagingConnection`` on demand. Opening one means:
take the route's identity from ``IdentityKeeper`` (stored, renewed when due, or new), open
the WebSocket, subscribe the tracked conversations' messaging events from the daemon's
stored sequence, then subscribe to the consumer's OPEN conversations and wait for the first
(snapshot) notification, so the OPEN conversations are known before any request.
Connecting never opens a conversation (a request rings an agent).

A supervisor thread (``link_supervisor.py``) keeps it so: it reconnects a lost connection
with backoff, and renews the token before it expires (same consumer) onto a second socket
(``link_sockets.py``) that takes over once subscribed; the old one is closed once its
requests are answered, so a token's end never interrupts a request.

A token refused at the upgrade (HTTP 401) or a socket closed with 4401/4407 ("a fresh token
is required") is renewed by the configured flow; a signup token, which cannot be renewed,
first gets one more try (``TokenRefusals``). When the consumer changes, its old
conversations are reported through ``on_conversations_lost`` so the route records them
closed (the next file ready to send opens a new one).

Outages. A connect that failed for the link's reason (``is_link_failure``) starts an
*outage* (``LinkHealth``): until the next successful connect the link is ``offline``, only
the supervisor connects, and requests fail at once with ``LinkDownError``. Every successful
connect (subscriptions done) is reported through ``on_connected``: what waits for it goes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from syncd.errors import AuthenticationError, ClientClosedError, LinkDownError, SyncdError
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.error_kinds import log_kind_of
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import IdentityFlow, SignupFlow
from syncd.liveperson.identity_keeper import IdentityKeeper, IdentityStore, TokenRefusals
from syncd.liveperson.link_health import LinkHealth
from syncd.liveperson.link_sockets import ConsumerSettings, LinkSockets
from syncd.liveperson.link_supervisor import LinkSupervisor
from syncd.liveperson.retrying import is_link_failure
from syncd.liveperson.session import MessagingConnection, NotificationHandler

logger = logging.getLogger(__name__)


class ConsumerLink:
    """Keeps one route's messaging connection open. Thread-safe."""

    def __init__(
        self,
        *,
        resolver: DomainResolver,
        http: HttpClient,
        account: str,
        identity_store: IdentityStore,
        resume_sequence: Callable[[str], int],
        tracker: ConversationTracker,
        on_notification: NotificationHandler,
        settings: ConsumerSettings,
        on_conversations_lost: Callable[[list[str]], None] = lambda _conversations: None,
        identity_flow: IdentityFlow | None = None,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self._tracker = tracker
        flow = identity_flow or SignupFlow(http, resolver, account)
        self._keeper = IdentityKeeper(flow, identity_store, settings.retry_policy)
        self._lock = threading.Lock()
        self._connection: MessagingConnection | None = None
        self._identity: ConsumerIdentity | None = None
        self._on_conversations_lost = on_conversations_lost
        self._refusals = TokenRefusals()
        self._state = "disconnected"
        self._sockets = LinkSockets(
            resolver=resolver,
            account=account,
            tracker=tracker,
            resume_sequence=resume_sequence,
            on_notification=on_notification,
            on_close=self._handle_close,
            settings=settings,
        )
        self._on_connected = on_connected
        self._health = LinkHealth()
        self._supervisor = LinkSupervisor(
            maintain=self._maintain,
            report_failure=self._report_failure,
            seconds_until_due=self._keeper.seconds_until_renewal,
            backoff_seconds=lambda: self._health.backoff_seconds(
                settings.reconnect_policy, time.time()
            ),
        )
        # The supervisor's events, as the link sets and reads them.
        self._wake = self._supervisor.wake
        self._stopping = self._supervisor.stopping

    @property
    def state(self) -> str:
        """``connected``, ``connecting``, ``disconnected``, ``offline`` (an outage: connecting
        failed for a reason of the link, the supervisor retries) or ``auth-failed``."""
        if self._health.offline_since is not None and self._state != "connected":
            return "offline"
        return self._state

    @property
    def health(self) -> LinkHealth:
        """The outage record: ``offline_since``, ``last_failure``, ``connections``… (read only)."""
        return self._health

    @property
    def peer(self) -> str:
        """Address of the messaging server connected to ("" when not connected)."""
        connection = self._connection
        return connection.peer if connection is not None else ""

    @property
    def consumer_id(self) -> str | None:
        """The consumer id in use (``originatorId`` of our events), None before connecting."""
        return self._identity.consumer_id if self._identity else None

    @property
    def renewals(self) -> int:
        """How many times this link renewed its token (for logs and tests)."""
        return self._keeper.renewals

    def ensure_connected(self) -> MessagingConnection:
        """Return an open, subscribed connection, opening one if needed.

        Raises ClientClosedError after ``close()``, LinkDownError during an outage (only
        the supervisor connects then), AuthenticationError when the token is refused even
        after renewal (IdentityRejectedError when the configuration must change),
        ConnectionLostError/RequestTimeoutError/TransientTransferError/a transient
        RequestRejectedError (the link's trouble), and configuration errors
        (TlsVerificationError, UnsafeRemoteError, ProtocolError).
        """
        with self._lock:
            connection, opened = self._ensure_connected_locked()
        if opened:
            # Outside the lock: the callback may wake threads that connect through this link.
            self._on_connected()
        return connection

    def reconnect_now(self) -> None:
        """During an outage, cut the supervisor's current wait short (another route just
        reached LivePerson, so this one probably can too). Does nothing otherwise."""
        if self._health.offline_since is not None:
            self._supervisor.retry_now.set()

    def close(self) -> None:
        """Stop reconnecting, close the connections and join the helper threads."""
        self._supervisor.stop()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._state = "disconnected"
            retiring = self._sockets.take_retiring()
        for thread in retiring:
            thread.join()

    # --- internals -------------------------------------------------------------------

    def _ensure_connected_locked(self) -> tuple[MessagingConnection, bool]:
        """The open connection, and whether it was opened just now (lock held)."""
        if self._stopping.is_set():
            raise ClientClosedError("the consumer client is closed")
        connection = self._connection
        if connection is not None and connection.is_open:
            return connection, False
        if connection is not None:
            connection.close()
            self._connection = None
        # Started by the first use, whatever its outcome: a link never connected retries too.
        self._supervisor.start()
        if self._health.offline_since is not None and not self._supervisor.is_current_thread():
            raise LinkDownError(f"LivePerson is unreachable: {self._health.last_failure}")
        self._state = "connecting"
        try:
            connection = self._connect_and_subscribe()
        except SyncdError as error:
            self._state = (
                "auth-failed" if isinstance(error, AuthenticationError) else "disconnected"
            )
            self._health.failed(error, time.time())
            # Keep the supervisor trying after this caller gives up.
            self._wake.set()
            raise
        self._connection = connection
        self._state = "connected"
        self._health.succeeded()
        # The supervisor's sleep until the next renewal starts from this token.
        self._wake.set()
        return connection, True

    def _connect_and_subscribe(self) -> MessagingConnection:
        if self._refusals.refused:
            identity = self._keeper.renew(self._identity)
        else:
            identity = self._keeper.current()
        try:
            connection = self._sockets.open(identity)
        except AuthenticationError:
            # Refused at the upgrade: expired or revoked. Renew it (a new consumer only for
            # signup, whose tokens cannot be renewed) and try once more.
            identity = self._keeper.renew(identity)
            connection = self._sockets.open(identity)
        self._refusals.refused = False
        self._adopt(identity)
        self._sockets.subscribe(connection)
        self._refusals.subscribed()
        return connection

    def _adopt(self, identity: ConsumerIdentity) -> None:
        """Make ``identity`` the one in use; a new consumer loses the old one's conversations."""
        previous = self._identity
        self._identity = identity
        if previous is None or previous.consumer_id == identity.consumer_id:
            return
        # The new consumer is no participant of the old one's conversations.
        lost = self._tracker.tracked()
        for conversation_id in lost:
            logger.warning(
                "conversation %s belonged to consumer %s and is no longer followed",
                conversation_id,
                previous.consumer_id,
            )
            self._tracker.untrack(conversation_id)
        if lost:
            # Reported now, whatever happens next: they are untracked for good.
            self._on_conversations_lost(lost)

    def _renew_connection(self) -> None:
        """Renew the token and move to a socket opened with it (lock held)."""
        old = self._connection
        identity = self._keeper.renew()
        connection = self._sockets.open(identity)
        self._adopt(identity)
        self._sockets.subscribe(connection)
        self._connection = connection
        self._state = "connected"
        self._refusals.subscribed()
        if old is not None:
            self._sockets.retire(old)

    def _handle_close(self, connection: MessagingConnection, error: SyncdError) -> None:
        # Runs on the dead connection's reader thread: only flags, no waiting.
        if connection is not self._connection and connection is not self._sockets.candidate:
            return  # a retired socket (its token may well have expired): nothing to do
        if isinstance(error, AuthenticationError) and self._refusals.closed(
            self.consumer_id, self._keeper.flow.renewable
        ):
            logger.warning(
                "LivePerson closed the connection of consumer %s (%s); reconnecting with "
                "the same token once before signing up a new consumer",
                self.consumer_id,
                error,
            )
        self._state = "disconnected"
        # A peer that broke a limit asks for a pause (retry_after): it may do so again.
        self._supervisor.pause_seconds = getattr(error, "retry_after_seconds", None) or 0.0
        self._wake.set()

    def _maintain(self) -> None:
        """Reconnect a lost connection or renew a token that is due (supervisor thread).

        Raises what connecting or renewing raises; a failed renewal is recorded in the link's
        health, so the supervisor backs off before the next try.
        """
        opened = False
        with self._lock:
            if self._stopping.is_set():
                return
            connection = self._connection
            if connection is None or not connection.is_open:
                _, opened = self._ensure_connected_locked()
                logger.info("LivePerson messaging connection is up")
            elif self._keeper.seconds_until_renewal() == 0.0:
                try:
                    self._renew_connection()
                except SyncdError as error:
                    # The current socket still works: back off, but this is no outage.
                    self._health.failed(error, time.time(), may_start_outage=False)
                    raise
                self._health.succeeded()
        if opened:
            self._on_connected()

    def _report_failure(self, error: SyncdError) -> None:
        """Log a failed reconnect or renewal of the supervisor."""
        if is_link_failure(error):
            # The outage is reported by whoever watches offline_since.
            logger.debug("reconnect failed: %s", error)
        else:
            logger.warning("reconnect failed: %s", error, extra=log_kind_of(error))
