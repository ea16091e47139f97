"""The sockets of one consumer link: where they connect and with what settings, opening one
with a token, subscribing it, and retiring the one it replaces.

A new socket is the ``candidate`` from the moment it starts opening until the link makes it
current: its close is then still the link's business (a retired socket's is not). Retiring
a socket closes it once its requests in flight are answered or time out, on a thread of its
own, so a token's end never interrupts a request. ``ConsumerSettings`` and the socket's
address are shared with the daemon's wiring and ``syncd check --online``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from syncd.errors import SyncdError
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.resubscribe import subscribe_all
from syncd.liveperson.retrying import ReconnectBackoff, RetryPolicy
from syncd.liveperson.session import MessagingConnection, NotificationHandler

MESSAGING_SERVICE = "asyncMessagingEnt"


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


# Told which socket closed, and why.
CloseHandler = Callable[[MessagingConnection, SyncdError], None]


class LinkSockets:
    """Opens, subscribes and retires the sockets of one link (callers hold the link's lock)."""

    def __init__(
        self,
        *,
        resolver: DomainResolver,
        account: str,
        tracker: ConversationTracker,
        resume_sequence: Callable[[str], int],
        on_notification: NotificationHandler,
        on_close: CloseHandler,
        settings: ConsumerSettings,
    ) -> None:
        self._resolver = resolver
        self._account = account
        self._tracker = tracker
        self._resume_sequence = resume_sequence
        self._on_notification = on_notification
        self._on_close = on_close
        self._settings = settings
        # The socket being opened and subscribed, before it becomes the link's connection.
        self.candidate: MessagingConnection | None = None
        self._retiring: list[threading.Thread] = []

    def open(self, identity: ConsumerIdentity) -> MessagingConnection:
        """Open a socket with ``identity``'s token (it becomes the candidate).

        Raises what ``MessagingConnection.connect`` raises (AuthenticationError for a token
        refused at the upgrade) and the resolver's errors.
        """
        connection = MessagingConnection()
        self.candidate = connection
        connection.connect(
            consumer_socket_url(self._resolver, self._account),
            identity.jwt,
            self._settings.connect_timeout_seconds,
            self._settings.ca_file,
            self._settings.keepalive_seconds,
            self._on_notification,
            lambda error: self._on_close(connection, error),
        )
        return connection

    def subscribe(self, connection: MessagingConnection) -> None:
        """Subscribe the tracked conversations and the OPEN ones on ``connection``; closes it
        and raises what subscribing raised when that fails."""
        try:
            subscribe_all(
                connection,
                self._tracker,
                self._resume_sequence,
                self._settings.request_timeout_seconds,
            )
        except SyncdError:
            connection.close()
            raise

    def retire(self, connection: MessagingConnection) -> None:
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

    def take_retiring(self) -> list[threading.Thread]:
        """The threads closing retired sockets (for the caller to join); forgets them."""
        retiring, self._retiring = self._retiring, []
        return retiring
