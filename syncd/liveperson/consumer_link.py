"""The connection lifecycle behind ``ConsumerClient``: identity, connect, resubscribe, reconnect.

``ConsumerLink`` hands out an open ``MessagingConnection`` on demand. Opening one means:
use the stored consumer identity (or sign up when there is none or LivePerson refused it),
open the WebSocket, subscribe the tracked conversations' messaging events from the
daemon's stored sequence, then subscribe to the consumer's OPEN conversations and wait for
the first (snapshot) notification, so the OPEN conversation is known before any request.

After a lost connection a supervisor thread reconnects with backoff until it succeeds or
``close()`` is called. A socket closed with 4401/4407 ("a fresh token is required") is
reconnected once with the same token before signing up: signup tokens live about 13 years
(protocol.md §3), a new signup is a new consumer that can no longer see the route's
conversation, and LivePerson is known to send these codes for other troubles. A token
refused at the upgrade (HTTP 401), or closed with 4401/4407 again before its subscriptions
are done, is given up and a new consumer signed up; the conversations of the old consumer
are reported through ``on_conversations_lost`` so the route can open a new one at once.
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
    RequestRejectedError,
    RequestTimeoutError,
    SyncdError,
)
from syncd.liveperson import protocol
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity, signup
from syncd.liveperson.retrying import RetryPolicy, retry_transient
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
        self._reconnect_pause_seconds = 0.0

    @property
    def state(self) -> str:
        """``connected``, ``connecting``, ``disconnected`` or ``auth-failed``."""
        return self._state

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

        Raises ClientClosedError after ``close()``, AuthenticationError when even a fresh
        identity is refused, ConnectionLostError/RequestTimeoutError/TransientTransferError
        (worth retrying), and configuration errors (TlsVerificationError, UnsafeRemoteError,
        ProtocolError).
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
            return connection

    def close(self) -> None:
        """Stop reconnecting, close the connection and join the supervisor."""
        self._stopping.set()
        self._wake.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection = None
            self._state = "disconnected"

    # --- internals -------------------------------------------------------------------

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
        open_id = self._tracker.open_conversation_id
        for conversation_id in self._tracker.tracked():
            if conversation_id != open_id:
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
            attempt = 0
            while not self._stopping.is_set():
                try:
                    self.ensure_connected()
                    logger.info("LivePerson messaging connection is up again")
                    break
                except SyncdError as error:
                    attempt += 1
                    wait = self._settings.reconnect_policy.wait_seconds(attempt, error)
                    logger.warning("reconnect failed (%s); next try in %.1f s", error, wait)
                    self._stopping.wait(wait)
