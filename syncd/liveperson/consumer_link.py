"""The connection lifecycle behind ``ConsumerClient``: identity, connect, resubscribe, reconnect.

``ConsumerLink`` hands out an open ``MessagingConnection`` on demand. Opening one means:
use the stored consumer identity (or sign up when there is none or LivePerson refused it),
open the WebSocket, subscribe the tracked conversations' messaging events from the
daemon's stored sequence, then subscribe to the consumer's OPEN conversations and wait for
the first (snapshot) notification, so the OPEN conversations are known before any request.
Connecting never opens a conversation (a request rings an agent).

After a lost connection a supervisor thread reconnects with backoff until it succeeds or
``close()`` is called. A socket closed with 4401/4407 ("a fresh token is required") is
reconnected once with the same token before signing up: signup tokens live about 13 years
(protocol.md §3), a new signup is a new consumer that can no longer see the route's
conversation, and LivePerson is known to send these codes for other troubles. A token
refused at the upgrade (HTTP 401), or closed with 4401/4407 again before its subscriptions
are done, is given up and a new consumer signed up; the conversations of the old consumer
are reported through ``on_conversations_lost`` so the route can open a new one at once.

Backoff and outages. The supervisor reconnects at once after a drop; once a connect has
failed it waits (``ReconnectBackoff``: exponential with full jitter, capped at 15 s, at least
a ``Retry-After``). A connect that failed for the link's reason (``is_link_failure``) starts
an *outage* (``LinkHealth``): until the next successful connect the link is ``offline``,
only the supervisor connects, and requests fail at once with ``LinkDownError`` instead of
knocking on LivePerson's door themselves. Every successful connect (subscriptions done) is
reported through ``on_connected``, so whatever waits for the link goes at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from syncd.errors import (
    AuthenticationError,
    LinkDownError,
    RequestRejectedError,
    RequestTimeoutError,
    SyncdError,
)
from syncd.liveperson import protocol
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity, signup
from syncd.liveperson.link_health import LinkHealth
from syncd.liveperson.retrying import (
    ReconnectBackoff,
    RetryPolicy,
    is_link_failure,
    retry_transient,
)
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


@dataclass(frozen=True)
class IdentityStore:
    """Where a route keeps its consumer identity (the daemon backs both with SQLite)."""

    load: Callable[[], ConsumerIdentity | None]
    save: Callable[[ConsumerIdentity], None]


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
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self._resolver = resolver
        self._http = http
        self._account = account
        self._identity_store = identity_store
        self._resume_sequence = resume_sequence
        self._tracker = tracker
        self._on_notification = on_notification
        self._settings = settings
        self._lock = threading.Lock()
        self._connection: MessagingConnection | None = None
        self._identity: ConsumerIdentity | None = None
        self._on_conversations_lost = on_conversations_lost
        # The consumer whose token was closed with 4401/4407 once and gets one more try.
        self._token_suspect: str | None = None
        self._token_refused = False
        self._state = "disconnected"
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
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

    def ensure_connected(self) -> MessagingConnection:
        """Return an open, subscribed connection, opening one if needed.

        Raises ClientClosedError after ``close()``, LinkDownError during an outage (only
        the supervisor connects then), AuthenticationError when even a fresh identity is
        refused, ConnectionLostError/RequestTimeoutError/TransientTransferError/a transient
        RequestRejectedError (the link's trouble), and configuration errors
        (TlsVerificationError, UnsafeRemoteError, ProtocolError).
        """
        with self._lock:
            if self._stopping.is_set():
                raise ClientClosedError("the consumer client is closed")
            connection = self._connection
            if connection is not None and connection.is_open:
                return connection
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
        # Outside the lock: the callback may wake threads that connect through this link.
        self._on_connected()
        return connection

    def reconnect_now(self) -> None:
        """During an outage, cut the supervisor's current wait short (another route just
        reached LivePerson, so this one probably can too). Does nothing otherwise."""
        if self._health.offline_since is not None:
            self._retry_now.set()

    def close(self) -> None:
        """Stop reconnecting, close the connection and join the supervisor."""
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

    # --- internals -------------------------------------------------------------------

    def _is_supervisor(self) -> bool:
        return threading.current_thread() is self._supervisor

    def _start_supervisor(self) -> None:
        # Started by the first use, whatever its outcome: a link that never connected must
        # keep trying too.
        if self._supervisor is None:
            self._supervisor = threading.Thread(
                target=self._supervise, name="lp-consumer-supervisor", daemon=True
            )
            self._supervisor.start()

    def _connect_and_subscribe(self) -> MessagingConnection:
        identity = None if self._token_refused else self._identity_store.load()
        if identity is None and not self._token_refused:
            identity = self._signup(None)  # a fresh state: nothing to lose, nothing to warn about
        elif identity is None:
            identity = self._signup("LivePerson refused the consumer token")
        try:
            connection = self._open_connection(identity)
        except AuthenticationError:
            reason = f"LivePerson refused the token of consumer {identity.consumer_id}"
            identity = self._signup(reason)
            connection = self._open_connection(identity)
        previous = self._identity
        lost: list[str] = []
        if previous is not None and previous.consumer_id != identity.consumer_id:
            # The new consumer is no participant of the old one's conversations.
            for conversation_id in self._tracker.tracked():
                logger.warning(
                    "conversation %s belonged to consumer %s and is no longer followed",
                    conversation_id,
                    previous.consumer_id,
                )
                self._tracker.untrack(conversation_id)
                lost.append(conversation_id)
        self._identity = identity
        self._token_refused = False
        if lost:
            # Reported now, whatever happens next: they are untracked for good.
            self._on_conversations_lost(lost)
        try:
            self._subscribe_all(connection)
        except SyncdError:
            connection.close()
            raise
        # Subscribed with this token: a later 4401/4407 gets its one retry again.
        self._token_suspect = None
        return connection

    def _signup(self, replacing_reason: str | None) -> ConsumerIdentity:
        """Sign up a consumer; ``replacing_reason`` says why a stored one is replaced, if so."""
        identity = retry_transient(self._settings.retry_policy, "signup")(
            signup, self._http, self._resolver, self._account
        )
        # signup() itself logs the new consumer at INFO; replacing a stored one also hides its
        # conversations from this route, which deserves a warning.
        if replacing_reason is not None:
            logger.warning(
                "%s; signed up as NEW consumer %s (conversations of the previous consumer are "
                "no longer visible to this route)",
                replacing_reason,
                identity.consumer_id,
            )
        self._identity_store.save(identity)
        # This token has not been refused; if connecting fails now, the next try reuses it.
        self._token_refused = False
        return identity

    def _open_connection(self, identity: ConsumerIdentity) -> MessagingConnection:
        connection = MessagingConnection()
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
        timeout = self._settings.request_timeout_seconds
        # What was OPEN before the drop may have been closed meanwhile: ask afresh.
        self._tracker.forget_open()
        for conversation_id in self._tracker.tracked():
            body = protocol.subscribe_messaging_events_body(
                conversation_id, self._resume_sequence(conversation_id)
            )
            try:
                connection.request(protocol.SUBSCRIBE_MESSAGING_EVENTS, body, timeout)
            except RequestRejectedError as error:
                if error.is_transient:
                    raise
                # A final refusal must not keep the whole route offline.
                logger.warning("conversation %s is no longer followed: %s", conversation_id, error)
                self._tracker.untrack(conversation_id)
        seen = self._tracker.snapshot_count()
        body = protocol.subscribe_ex_conversations_body()
        connection.request(protocol.SUBSCRIBE_EX_CONVERSATIONS, body, timeout)
        if not self._tracker.wait_for_snapshot(seen, timeout):
            raise RequestTimeoutError("no OPEN conversations snapshot after subscribing")
        open_ids = set(self._tracker.open_conversation_ids())
        for conversation_id in self._tracker.tracked():
            if conversation_id not in open_ids:
                # Closed while we were away; its missed events were just re-subscribed.
                self._tracker.untrack(conversation_id)

    def _handle_close(self, connection: MessagingConnection, error: SyncdError) -> None:
        # Runs on the dead connection's reader thread: only flags, no waiting.
        if isinstance(error, AuthenticationError):
            consumer_id = self.consumer_id
            if consumer_id is not None and self._token_suspect != consumer_id:
                # The first refusal of this token: reconnect with it once more.
                self._token_suspect = consumer_id
                logger.warning(
                    "LivePerson closed the connection of consumer %s (%s); reconnecting with "
                    "the same token once before signing up a new consumer",
                    consumer_id,
                    error,
                )
            else:
                self._token_refused = True
        if connection is not self._connection:
            return
        self._state = "disconnected"
        # A peer that broke a limit asks for a pause (retry_after): it may do so again.
        self._reconnect_pause_seconds = getattr(error, "retry_after_seconds", None) or 0.0
        self._wake.set()

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            pause, self._reconnect_pause_seconds = self._reconnect_pause_seconds, 0.0
            if pause > 0:
                self._stopping.wait(pause)
            while not self._stopping.is_set():
                # After a failed connect (here or in a caller) back off; after a drop, go.
                wait = self._health.backoff_seconds(self._settings.reconnect_policy, time.time())
                if wait > 0:
                    self._retry_now.wait(wait)
                    self._retry_now.clear()
                    if self._stopping.is_set():
                        return
                try:
                    self.ensure_connected()
                    logger.info("LivePerson messaging connection is up again")
                    break
                except SyncdError as error:
                    if is_link_failure(error):
                        # The outage is reported by whoever watches offline_since.
                        logger.debug("reconnect failed: %s", error)
                    else:
                        logger.warning("reconnect failed: %s", error)
