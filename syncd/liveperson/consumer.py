"""One route's LivePerson consumer session: the requests the daemon makes.

``ConsumerClient`` connects lazily and stays connected through ``ConsumerLink``
(``consumer_link.py``): reconnect with backoff, re-signup when the token is refused,
resubscribe from the daemon's stored sequence after every reconnect.

Requests that are safe to repeat are retried in the call (``retrying.py``). Publishing a
hosted file is not: see ``publish_hosted_file``.

Callbacks run on the connection's reader thread. They must return quickly and must not call
this client's request methods (the response they would wait for is read by that thread).
What reaches them is filtered by ``consumer_notifications.py``; reading a conversation's
history to its end is ``conversation_history.py``, retried here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from syncd.errors import SyncdError
from syncd.liveperson import notifications, protocol, request_bodies, response_bodies
from syncd.liveperson.consumer_link import ConsumerLink
from syncd.liveperson.consumer_notifications import NotificationHandler
from syncd.liveperson.conversation_history import ConversationHistory
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import IdentityFlow
from syncd.liveperson.identity_keeper import IdentityStore
from syncd.liveperson.link_health import LinkHealth, LinkWaiter
from syncd.liveperson.link_sockets import ConsumerSettings
from syncd.liveperson.retrying import RetryPolicy, is_rate_limited, retry_transient

__all__ = ["ConsumerClient", "ConsumerSettings"]

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


class ConsumerClient:
    """The LivePerson consumer session of one route (one identity, its OPEN conversations).

    ``on_connected`` runs after every successful (re)connect, subscriptions done, on the
    thread that connected; it must only signal (wake threads), never make requests.
    """

    def __init__(
        self,
        *,
        resolver: DomainResolver,
        http: HttpClient,
        account: str,
        skill_id: str | None,
        load_identity: Callable[[], ConsumerIdentity | None],
        save_identity: Callable[[ConsumerIdentity], None],
        resume_sequence: Callable[[str], int],
        on_messaging_event: Callable[[notifications.MessagingEvent], None],
        on_conversation_change: Callable[[notifications.ConversationChange], None],
        settings: ConsumerSettings | None = None,
        on_connected: Callable[[], None] = lambda: None,
        identity_flow: IdentityFlow | None = None,
        on_identity_replaced: Callable[[str], None] = lambda _reason: None,
    ) -> None:
        """``identity_flow`` obtains and renews tokens (default: the demo signup);
        ``on_identity_replaced`` is told why, when the stored consumer had to be replaced."""
        self._resume_sequence = resume_sequence
        self._skill_id = skill_id
        self._settings = settings or ConsumerSettings()
        self._tracker = ConversationTracker()
        self._conversation_lock = threading.Lock()
        handler = NotificationHandler(
            tracker=self._tracker,
            resume_sequence=resume_sequence,
            on_messaging_event=on_messaging_event,
            on_conversation_change=on_conversation_change,
            peer=lambda: self._link.peer,
        )
        self._link = ConsumerLink(
            resolver=resolver,
            http=http,
            account=account,
            identity_store=IdentityStore(load_identity, save_identity, on_identity_replaced),
            resume_sequence=resume_sequence,
            tracker=self._tracker,
            on_notification=handler.handle,
            settings=self._settings,
            on_conversations_lost=handler.report_lost_conversations,
            on_connected=on_connected,
            identity_flow=identity_flow,
        )
        self._history = ConversationHistory(self._link, self._tracker, self._settings)

    @property
    def connection_state(self) -> str:
        """``connected``, ``connecting``, ``disconnected``, ``offline`` or ``auth-failed``."""
        return self._link.state

    @property
    def link(self) -> LinkHealth:
        """The link's outage record (``offline_since``, ``connections``…), read only."""
        return self._link.health

    def link_waiter(self) -> LinkWaiter:
        """A new wait for this client's link, for one route thread (see ``LinkWaiter``)."""
        return LinkWaiter(self._link.health, self._settings.reconnect_policy)

    def reconnect_now(self) -> None:
        """During an outage, make the link try to reconnect now instead of after its wait."""
        self._link.reconnect_now()

    @property
    def token_renewals(self) -> int:
        """How many times the consumer token was renewed since the client was made."""
        return self._link.renewals

    @property
    def consumer_id(self) -> str | None:
        """The consumer id (``originatorId`` of our events) once connected, else None."""
        return self._link.consumer_id

    def open_conversation_ids(self) -> list[str]:
        """The consumer's OPEN conversations as last reported, oldest first (no request)."""
        return self._tracker.open_conversation_ids()

    def follow_open_conversations(self) -> list[str]:
        """Connect if needed and subscribe every OPEN conversation that is not followed yet
        (from ``resume_sequence``), including one an agent resumed; never opens one.

        Returns the OPEN conversation ids, oldest first. Raises the errors of ``_call``.
        """
        self._link.ensure_connected()
        open_ids = self._tracker.open_conversation_ids()
        tracked = set(self._tracker.tracked())
        for conversation_id in open_ids:
            if conversation_id not in tracked:
                self.subscribe(conversation_id, self._resume_sequence(conversation_id))
        return open_ids

    def ensure_open_conversation(self) -> str:
        """Return the newest OPEN conversation id, requesting one only if there is none.

        A request rings an agent, so callers ask only when a file is ready to publish. The
        conversation is tracked: its messaging events are subscribed from
        ``resume_sequence`` now and after every reconnect. A request that timed out may
        still have created the conversation; the retry then finds it through the OPEN
        conversations subscription. Raises the errors of ``_call``.
        """
        with self._conversation_lock:

            def attempt() -> str:
                connection = self._link.ensure_connected()
                existing = self._tracker.open_conversation_id
                if existing is not None:
                    return existing
                body = request_bodies.request_conversation_body(self._skill_id)
                response = connection.request(protocol.REQUEST_CONVERSATION, body, self._timeout)
                created = response_bodies.parse_conversation_id(response.body)
                self._tracker.set_open(created)
                logger.info("opened LivePerson conversation %s", created)
                return created

            conversation_id = self._retrying("open conversation", attempt)
            if conversation_id not in self._tracker.tracked():
                self.subscribe(conversation_id, self._resume_sequence(conversation_id))
            return conversation_id

    def subscribe(self, conversation_id: str, from_sequence: int) -> None:
        """Subscribe to the messaging events of ``conversation_id`` from ``from_sequence``.

        The conversation stays tracked (re-subscribed from ``resume_sequence`` after each
        reconnect) until it is reported closed. When the request fails it is not tracked,
        so ``follow_open_conversations`` subscribes it again later. Raises the errors of
        ``_call``.
        """
        self._tracker.track(conversation_id)
        body = request_bodies.subscribe_messaging_events_body(conversation_id, from_sequence)
        try:
            self._call(protocol.SUBSCRIBE_MESSAGING_EVENTS, body)
        except SyncdError:
            self._tracker.untrack(conversation_id)
            raise

    def request_upload_url(self, size_bytes: int, file_type: str) -> response_bodies.TempUrl:
        """Ask for a Swift upload URL (valid about 60 s) for ``size_bytes`` of ``file_type``."""
        body = request_bodies.generate_upload_url_body(size_bytes, file_type)
        return response_bodies.parse_temp_url(self._call(protocol.GENERATE_UPLOAD_URL, body).body)

    def request_download_url(self, relative_path: str) -> response_bodies.TempUrl:
        """Ask for a Swift download URL of the hosted file at ``relative_path``."""
        body = request_bodies.generate_download_url_body(relative_path)
        return response_bodies.parse_temp_url(self._call(protocol.GENERATE_DOWNLOAD_URL, body).body)

    def publish_hosted_file(
        self,
        conversation_id: str,
        caption: str,
        relative_path: str,
        file_type: str,
        preview: str | None,
    ) -> int:
        """Publish a ``hosted/file`` event and return its sequence.

        Not retried after a timeout or a lost connection: the event may have been applied,
        and publishing again would show the file twice. Those errors (RequestTimeoutError,
        ConnectionLostError) reach the caller, who replays the conversation
        (``replay_events``) to learn whether the event is there. Only a 429 — refused
        unprocessed — is resent here. Raises RequestRejectedError for other refusals.
        """
        body = request_bodies.publish_hosted_file_body(
            conversation_id, caption, relative_path, file_type, preview
        )
        # Connecting is safe to retry: nothing has been sent yet.
        connection = self._retrying("connect", self._link.ensure_connected)
        response = retry_transient(self._policy, "publish", retry_if=is_rate_limited)(
            connection.request, protocol.PUBLISH_EVENT, body, self._timeout
        )
        return response_bodies.parse_sequence(response.body)

    def publish_accept(self, conversation_id: str, sequences: list[int]) -> None:
        """Acknowledge receipt (ACCEPT) of ``sequences``; a repeated receipt is harmless."""
        body = request_bodies.publish_accept_status_body(conversation_id, sequences)
        self._call(protocol.PUBLISH_EVENT, body)

    def last_content_sequence(self, conversation_id: str) -> int | None:
        """Ask LivePerson for the sequence of the last content event of ``conversation_id``.

        A fresh ``cqm.SubscribeExConversations`` (OPEN and CLOSE) is made and its own
        notification — recognised by subscription id, whatever arrives first — read for the
        conversation's ``lastContentEventNotification``. Returns None when the metadata
        carries none (no content yet). Raises RequestTimeoutError when no notification for
        the subscription arrives, and the errors of ``_call``.
        """

        return self._retrying(
            "conversation metadata",
            lambda: self._history.last_content_sequence(conversation_id),
        )

    def replay_events(
        self, conversation_id: str, from_sequence: int = 0
    ) -> list[notifications.MessagingEvent]:
        """Return the events of ``conversation_id`` with sequence ≥ ``from_sequence``, up to
        at least the conversation's last content event.

        LivePerson promises no order between a subscription's history and later frames,
        and may split or repeat it, so completeness is decided from facts: the metadata's
        last content sequence (``last_content_sequence``, asked after the events of
        interest were sent), then waiting until every sequence from ``from_sequence`` up
        to it has arrived. The events also reach ``on_messaging_event`` as usual (the
        daemon de-duplicates by conversation and sequence), and the socket stays
        subscribed. Raises RequestTimeoutError when the history stays incomplete, and the
        errors of ``_call``.
        """
        return self._retrying(
            "replay", lambda: self._history.replay_events(conversation_id, from_sequence)
        )

    def close_conversation(self, conversation_id: str) -> None:
        """Close ``conversation_id`` (state CLOSE) and stop tracking it."""
        body = request_bodies.close_conversation_body(conversation_id)
        self._call(protocol.UPDATE_CONVERSATION_FIELD, body)
        self._tracker.untrack(conversation_id)
        self._tracker.forget(conversation_id)

    def close(self) -> None:
        """Stop reconnecting, close the connection and join every thread of this client."""
        self._link.close()

    # --- requests ------------------------------------------------------------------------

    @property
    def _timeout(self) -> float:
        return self._settings.request_timeout_seconds

    @property
    def _policy(self) -> RetryPolicy:
        return self._settings.retry_policy

    def _retrying(self, description: str, function: Callable[[], Result]) -> Result:
        result: Result = retry_transient(self._policy, description)(function)
        return result

    def _call(self, request_type: str, body: Any) -> protocol.Response:
        """Send a request that is safe to repeat; transient failures are retried.

        Raises RequestRejectedError (4xx other than 429), the last transient error when the
        retries run out, AuthenticationError when even a new identity is refused, and the
        configuration errors of connecting (TlsVerificationError, UnsafeRemoteError, ...).
        """

        def attempt() -> protocol.Response:
            return self._link.ensure_connected().request(request_type, body, self._timeout)

        return self._retrying(request_type, attempt)
