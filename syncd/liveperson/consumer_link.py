"""The connection lifecycle behind ``ConsumerClient``: identity, connect, resubscribe, renew.

``ConsumerLink`` hands out an open ``MessagingConnection`` on demand. Opening one means:
take the route's identity from ``IdentityKeeper`` (stored, renewed when due, or new), open
the WebSocket, subscribe the tracked conversations' messaging events from the daemon's
stored sequence, then subscribe to the consumer's OPEN conversations and wait for the first
(snapshot) notification, so the OPEN conversation is known before any request.

A supervisor thread keeps it so. After a lost connection it reconnects with backoff until it
succeeds or ``close()`` is called. Before the token expires it renews it (same consumer),
opens and subscribes a second socket with the new token, makes it current and closes the
old one once its requests are answered, so a token's end never interrupts a request.

A token refused at the upgrade (HTTP 401) or a socket closed with 4401/4407 ("a fresh token
is required") is renewed by the configured flow. Signup tokens cannot be renewed: such a
socket is reconnected once with the same token (LivePerson is known to send these codes for
other troubles), and only a second refusal makes a new consumer. When the consumer changes,
its old conversations are reported through ``on_conversations_lost`` so the route opens a
new one at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from syncd.errors import (
    AuthenticationError,
    SyncdError,
)
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import IdentityFlow, SignupFlow
from syncd.liveperson.identity_keeper import IdentityKeeper, IdentityStore
from syncd.liveperson.resubscribe import subscribe_all
from syncd.liveperson.retrying import RetryPolicy
from syncd.liveperson.session import MessagingConnection, NotificationHandler

logger = logging.getLogger(__name__)

MESSAGING_SERVICE = "asyncMessagingEnt"


class ClientClosedError(SyncdError):
    """The consumer client was closed; it makes no further requests."""


@dataclass(frozen=True)
class ConsumerSettings:
    """Timeouts, keepalive, TLS trust and retry policies of a consumer session.

    ``retry_policy`` bounds in-call retries; ``reconnect_policy`` spaces the supervisor's
    reconnect attempts (its attempt bound is ignored: it tries until ``close()``).
    """

    request_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    keepalive_seconds: float = 30.0
    ca_file: Path | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect_policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(first_wait_seconds=1.0, max_wait_seconds=60.0)
    )


def consumer_socket_url(resolver: DomainResolver, account: str) -> str:
    """The consumer messaging WebSocket of ``account`` (API version 3). Raises the
    resolver's errors when the messaging domain cannot be resolved."""
    return (
        f"{resolver.ws_url(MESSAGING_SERVICE)}/ws_api/account/"
        f"{quote(account, safe='')}/messaging/consumer?v=3"
    )


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
    ) -> None:
        self._resolver = resolver
        self._account = account
        self._resume_sequence = resume_sequence
        self._tracker = tracker
        self._on_notification = on_notification
        self._settings = settings
        flow = identity_flow or SignupFlow(http, resolver, account)
        self._keeper = IdentityKeeper(flow, identity_store, settings.retry_policy)
        self._lock = threading.Lock()
        self._connection: MessagingConnection | None = None
        self._identity: ConsumerIdentity | None = None
        self._on_conversations_lost = on_conversations_lost
        # The signup consumer whose token was closed with 4401/4407 once and gets one more try.
        self._token_suspect: str | None = None
        self._token_refused = False
        self._state = "disconnected"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._retiring: list[threading.Thread] = []
        # The socket being opened and subscribed, before it becomes ``_connection``.
        self._candidate: MessagingConnection | None = None

    @property
    def state(self) -> str:
        """``connected``, ``connecting``, ``disconnected`` or ``auth-failed``."""
        return self._state

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

        Raises ClientClosedError after ``close()``, AuthenticationError when the token is
        refused even after renewal (IdentityRejectedError when the configuration must
        change), ConnectionLostError/RequestTimeoutError/TransientTransferError (worth
        retrying), and configuration errors (TlsVerificationError, UnsafeRemoteError,
        ProtocolError).
        """
        with self._lock:
            return self._ensure_connected_locked()

    def close(self) -> None:
        """Stop reconnecting, close the connections and join the helper threads."""
        self._stopping.set()
        self._wake.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._state = "disconnected"
            retiring, self._retiring = self._retiring, []
        for thread in retiring:
            thread.join()

    # --- internals -------------------------------------------------------------------

    def _ensure_connected_locked(self) -> MessagingConnection:
        if self._stopping.is_set():
            raise ClientClosedError("the consumer client is closed")
        connection = self._connection
        if connection is not None and connection.is_open:
            return connection
        if connection is not None:
            connection.close()
            self._connection = None
        self._state = "connecting"
        try:
            connection = self._connect_and_subscribe()
        except AuthenticationError:
            self._state = "auth-failed"
            self._wake.set()
            raise
        except SyncdError:
            self._state = "disconnected"
            # Keep the supervisor (if running) trying after this caller gives up.
            self._wake.set()
            raise
        self._connection = connection
        self._state = "connected"
        if self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="lp-consumer-supervisor", daemon=True
            )
            self._supervisor.start()
        # The supervisor's sleep until the next renewal starts from this token.
        self._wake.set()
        return connection

    def _connect_and_subscribe(self) -> MessagingConnection:
        if self._token_refused:
            identity = self._keeper.renew(self._identity)
        else:
            identity = self._keeper.current()
        try:
            connection = self._open_connection(identity)
        except AuthenticationError:
            # Refused at the upgrade: expired or revoked. Renew it (a new consumer only for
            # signup, whose tokens cannot be renewed) and try once more.
            identity = self._keeper.renew(identity)
            connection = self._open_connection(identity)
        self._token_refused = False
        self._adopt(identity)
        try:
            self._subscribe_all(connection)
        except SyncdError:
            connection.close()
            raise
        # Subscribed with this token: a later 4401/4407 gets its one retry again.
        self._token_suspect = None
        return connection

    def _adopt(self, identity: ConsumerIdentity) -> None:
        """Make ``identity`` the one in use; a new consumer loses the old one's conversations."""
        previous = self._identity
        self._identity = identity
        if previous is None or previous.consumer_id == identity.consumer_id:
            return
        lost: list[str] = []
        # The new consumer is no participant of the old one's conversations.
        for conversation_id in self._tracker.tracked():
            logger.warning(
                "conversation %s belonged to consumer %s and is no longer followed",
                conversation_id,
                previous.consumer_id,
            )
            self._tracker.untrack(conversation_id)
            lost.append(conversation_id)
        if lost:
            # Reported now, whatever happens next: they are untracked for good.
            self._on_conversations_lost(lost)

    def _renew_connection(self) -> None:
        """Renew the token and move to a socket opened with it (lock held)."""
        old = self._connection
        identity = self._keeper.renew()
        connection = self._open_connection(identity)
        self._adopt(identity)
        try:
            self._subscribe_all(connection)
        except SyncdError:
            connection.close()
            raise
        self._connection = connection
        self._state = "connected"
        self._token_suspect = None
        if old is not None:
            self._retire(old)

    def _retire(self, connection: MessagingConnection) -> None:
        """Close ``connection`` once its requests in flight are answered (or time out)."""
        timeout = self._settings.request_timeout_seconds
        thread = threading.Thread(
            target=connection.close_when_idle,
            args=(timeout,),
            name="lp-consumer-retire",
            daemon=True,
        )
        self._retiring = [t for t in self._retiring if t.is_alive()] + [thread]
        thread.start()

    def _open_connection(self, identity: ConsumerIdentity) -> MessagingConnection:
        connection = MessagingConnection()
        self._candidate = connection
        connection.connect(
            consumer_socket_url(self._resolver, self._account),
            identity.jwt,
            self._settings.connect_timeout_seconds,
            self._settings.ca_file,
            self._settings.keepalive_seconds,
            self._on_notification,
            lambda error: self._handle_close(connection, error),
        )
        return connection

    def _subscribe_all(self, connection: MessagingConnection) -> None:
        subscribe_all(
            connection, self._tracker, self._resume_sequence, self._settings.request_timeout_seconds
        )

    def _handle_close(self, connection: MessagingConnection, error: SyncdError) -> None:
        # Runs on the dead connection's reader thread: only flags, no waiting.
        if connection is not self._connection and connection is not self._candidate:
            return  # a retired socket (its token may well have expired): nothing to do
        if isinstance(error, AuthenticationError):
            consumer_id = self.consumer_id
            if self._keeper.flow.renewable:
                self._token_refused = True
            elif consumer_id is not None and self._token_suspect != consumer_id:
                # The first refusal of a signup token: reconnect with it once more.
                self._token_suspect = consumer_id
                logger.warning(
                    "LivePerson closed the connection of consumer %s (%s); reconnecting with "
                    "the same token once before signing up a new consumer",
                    consumer_id,
                    error,
                )
            else:
                self._token_refused = True
        self._state = "disconnected"
        self._wake.set()

    def _maintain(self) -> None:
        """Reconnect a lost connection or renew a token that is due (supervisor thread)."""
        with self._lock:
            if self._stopping.is_set():
                return
            connection = self._connection
            if connection is None or not connection.is_open:
                self._ensure_connected_locked()
                logger.info("LivePerson messaging connection is up")
            elif self._keeper.seconds_until_renewal() == 0.0:
                self._renew_connection()

    def _supervise(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            if attempt == 0:
                self._wake.wait(self._keeper.seconds_until_renewal())
                self._wake.clear()
            try:
                self._maintain()
                attempt = 0
            except SyncdError as error:
                attempt += 1
                wait = self._settings.reconnect_policy.wait_seconds(attempt, error)
                logger.warning("reconnect failed (%s); next try in %.1f s", error, wait)
                self._stopping.wait(wait)
