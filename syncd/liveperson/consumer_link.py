"""The connection lifecycle behind ``ConsumerClient``: identity, connect, resubscribe, renew.

``ConsumerLink`` hands out an open ``MessagingConnection`` on demand. Opening one means:
take the route's identity from ``IdentityKeeper`` (stored, renewed when due, or new), open
the WebSocket, subscribe the tracked conversations' messaging events from the daemon's
stored sequence, then subscribe to the consumer's OPEN conversations and wait for the first
(snapshot) notification, so the OPEN conversations are known before any request.
Connecting never opens a conversation (a request rings an agent).

A supervisor thread keeps it so. After a lost connection it reconnects with backoff until it
succeeds or ``close()`` is called. Before the token expires it renews it (same consumer),
opens and subscribes a second socket with the new token, makes it current and closes the
old one once its requests are answered, so a token's end never interrupts a request.

A token refused at the upgrade (HTTP 401) or a socket closed with 4401/4407 ("a fresh token
is required") is renewed by the configured flow. Signup tokens cannot be renewed: such a
socket is reconnected once with the same token (LivePerson is known to send these codes for
other troubles), and only a second refusal makes a new consumer. When the consumer changes,
its old conversations are reported through ``on_conversations_lost`` so the route records
them closed (the next file ready to send opens a new one).

Backoff and outages. The supervisor reconnects at once after a drop; once a connect has
failed it waits (``ReconnectBackoff``: exponential with full jitter, capped at 10 s, at least
a ``Retry-After``). A connect that failed for the link's reason (``is_link_failure``) starts
an *outage* (``LinkHealth``): until the next successful connect the link is ``offline``,
only the supervisor connects, and requests fail at once with ``LinkDownError`` instead of
knocking on LivePerson's door themselves. Every successful connect (subscriptions done) is
reported through ``on_connected``, so whatever waits for the link goes at once.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from syncd.errors import AuthenticationError, LinkDownError, SyncdError
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import IdentityFlow, SignupFlow
from syncd.liveperson.identity_keeper import IdentityKeeper, IdentityStore
from syncd.liveperson.link_health import LinkHealth
from syncd.liveperson.resubscribe import subscribe_all
from syncd.liveperson.retrying import ReconnectBackoff, RetryPolicy, is_link_failure
from syncd.liveperson.session import MessagingConnection, NotificationHandler

logger = logging.getLogger(__name__)

MESSAGING_SERVICE = "asyncMessagingEnt"


class ClientClosedError(SyncdError):
    """The consumer client was closed; it makes no further requests."""


@dataclass(frozen=True)
class ConsumerSettings:
    """Timeouts, keepalive, TLS trust and retry policies of a consumer session.

    ``retry_policy`` bounds in-call retries; ``reconnect_policy`` spaces the supervisor's
    reconnect attempts once one has failed (it tries until ``close()``).
    """

    request_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 10.0
    keepalive_seconds: float = 30.0
    ca_file: Path | None = None
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect_policy: ReconnectBackoff = field(default_factory=ReconnectBackoff)


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
        on_connected: Callable[[], None] = lambda: None,
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
        self._on_connected = on_connected
        self._health = LinkHealth()
        self._retry_now = threading.Event()
        self._reconnect_pause_seconds = 0.0

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
            self._retry_now.set()

    def close(self) -> None:
        """Stop reconnecting, close the connections and join the helper threads."""
        self._stopping.set()
        self._wake.set()
        self._retry_now.set()
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

    def _is_supervisor(self) -> bool:
        return threading.current_thread() is self._supervisor

    def _start_supervisor(self) -> None:
        # Started by the first use, whatever its outcome: a link that never connected must
        # keep trying too.
        if self._supervisor is None:
            # copy_context: the thread logs under its starter's route label (service.log_route).
            self._supervisor = threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._supervise,),
                name="lp-consumer-supervisor",
                daemon=True,
            )
            self._supervisor.start()

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
        self._start_supervisor()
        if self._health.offline_since is not None and not self._is_supervisor():
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
            target=contextvars.copy_context().run,
            args=(connection.close_when_idle, timeout),
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
        # A peer that broke a limit asks for a pause (retry_after): it may do so again.
        self._reconnect_pause_seconds = getattr(error, "retry_after_seconds", None) or 0.0
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

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            # Sleep until woken (a drop, a failed caller) or until the token is due.
            self._wake.wait(self._keeper.seconds_until_renewal())
            self._wake.clear()
            pause, self._reconnect_pause_seconds = self._reconnect_pause_seconds, 0.0
            if pause > 0:
                self._stopping.wait(pause)
            while not self._stopping.is_set():
                # After a failed connect or renewal back off; after a drop, go at once.
                wait = self._health.backoff_seconds(self._settings.reconnect_policy, time.time())
                if wait > 0:
                    self._retry_now.wait(wait)
                    self._retry_now.clear()
                    if self._stopping.is_set():
                        return
                try:
                    self._maintain()
                    break
                except SyncdError as error:
                    if is_link_failure(error):
                        # The outage is reported by whoever watches offline_since.
                        logger.debug("reconnect failed: %s", error)
                    else:
                        logger.warning("reconnect failed: %s", error)
