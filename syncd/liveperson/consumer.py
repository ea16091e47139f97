"""One route's LivePerson consumer session: the requests the daemon makes.

``ConsumerClient`` connects lazily and stays connected through ``ConsumerLink``
(``consumer_link.py``): reconnect with backoff, re-signup when the token is refused,
resubscribe from the daemon's stored sequence after every reconnect.

Requests that are safe to repeat are retried in the call (``retrying.py``). Publishing a
hosted file is not: see ``publish_hosted_file``.

Callbacks run on the connection's reader thread. They must return quickly and must not call
this client's request methods (the response they would wait for is read by that thread).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from syncd.errors import ProtocolError, RequestTimeoutError, SyncdError
from syncd.liveperson import notifications, protocol, request_bodies, response_bodies
from syncd.liveperson.consumer_link import ConsumerLink, ConsumerSettings
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import IdentityFlow
from syncd.liveperson.identity_keeper import IdentityStore
from syncd.liveperson.limits import MAX_SEQUENCE_JUMP, PeerLimitError
from syncd.liveperson.link_health import LinkHealth, LinkWaiter
from syncd.liveperson.retrying import RetryPolicy, is_rate_limited, retry_transient

__all__ = ["ConsumerClient", "ConsumerSettings"]

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
# Conversations whose stray events were logged; past this many, each is logged every time.
MAX_IGNORED_CONVERSATIONS_REMEMBERED = 1000


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
        self._on_messaging_event = on_messaging_event
        self._on_conversation_change = on_conversation_change
        self._resume_sequence = resume_sequence
        self._skill_id = skill_id
        self._settings = settings or ConsumerSettings()
        self._tracker = ConversationTracker()
        self._ignored_conversations: set[str] = set()
        self._conversation_lock = threading.Lock()
        self._link = ConsumerLink(
            resolver=resolver,
            http=http,
            account=account,
            identity_store=IdentityStore(load_identity, save_identity, on_identity_replaced),
            resume_sequence=resume_sequence,
            tracker=self._tracker,
            on_notification=self._handle_notification,
            settings=self._settings,
            on_conversations_lost=self._report_lost_conversations,
            on_connected=on_connected,
            identity_flow=identity_flow,
        )

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
            "conversation metadata", lambda: self._probe_last_sequence(conversation_id)
        )

    def _probe_last_sequence(self, conversation_id: str) -> int | None:
        """One try of ``last_content_sequence`` (not retried here)."""
        connection = self._link.ensure_connected()
        self._tracker.start_probe()
        try:
            body = request_bodies.subscribe_ex_conversations_body(("OPEN", "CLOSE"))
            response = connection.request(protocol.SUBSCRIBE_EX_CONVERSATIONS, body, self._timeout)
            subscription_id = response_bodies.subscription_id_of(response.body)
            if subscription_id is None:
                raise ProtocolError("the conversations subscription has no subscriptionId")
            changes = self._tracker.wait_for_probe(subscription_id, self._timeout)
            with contextlib.suppress(SyncdError):
                # Only a courtesy to the server; a failure here changes no answer.
                connection.request(
                    protocol.UNSUBSCRIBE_EX_CONVERSATIONS,
                    request_bodies.unsubscribe_ex_conversations_body(subscription_id),
                    self._timeout,
                )
        finally:
            self._tracker.finish_probe()
        if changes is None:
            raise RequestTimeoutError("no conversation metadata for the probe subscription")
        sequences = [
            change.last_content_sequence
            for change in changes
            if change.conversation_id == conversation_id
            and change.last_content_sequence is not None
        ]
        return max(sequences, default=None)

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

        def attempt() -> list[notifications.MessagingEvent]:
            last_sequence = self._probe_last_sequence(conversation_id)
            connection = self._link.ensure_connected()
            replay = self._tracker.start_replay(conversation_id, from_sequence)
            try:
                body = request_bodies.subscribe_messaging_events_body(
                    conversation_id, from_sequence
                )
                connection.request(protocol.SUBSCRIBE_MESSAGING_EVENTS, body, self._timeout)
                if last_sequence is not None and not self._tracker.wait_for_replay(
                    replay, last_sequence, self._timeout
                ):
                    raise RequestTimeoutError(
                        f"the history of conversation {conversation_id} did not reach "
                        f"sequence {last_sequence}"
                    )
            finally:
                events = self._tracker.finish_replay(replay)
            return events

        return self._retrying("replay", attempt)

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

    def _report_lost_conversations(self, conversation_ids: list[str]) -> None:
        """A new consumer cannot see the old one's conversations: to the route they are
        gone, as if LivePerson had deleted them (a DELETE change); the next file ready to
        send opens a new one."""
        for conversation_id in conversation_ids:
            self._on_conversation_change(
                notifications.ConversationChange("DELETE", conversation_id, None, None, None)
            )

    def _handle_notification(self, notification: protocol.Notification) -> None:
        """Hand the notification's changes and events on (on the reader thread).

        What concerns conversations this session does not know is left out and logged once
        per conversation. Events whose sequence is not sane are left out too, and the rest
        of the frame handed on; then PeerLimitError ends the connection (``session.py``).
        """
        if notification.type == protocol.EX_CONVERSATION_CHANGE:
            changes = notifications.parse_conversation_changes(notification.body)
            subscription_id = response_bodies.subscription_id_of(notification.body)
            known = self._tracker.apply_conversation_changes(changes, subscription_id)
            probing = self._tracker.probing()
            for change in changes:
                # A metadata probe lists old closed conversations too: no anomaly.
                if change not in known and not probing:
                    self._ignore_unknown(change.conversation_id, "a conversation change")
            for change in known:
                self._on_conversation_change(change)
        elif notification.type == protocol.MESSAGING_EVENT:
            parsed, refused = notifications.parse_messaging_events_checked(notification.body)
            events = []
            for event in parsed:
                if not self._tracker.is_following(event.dialog_id):
                    self._ignore_unknown(event.dialog_id, "a messaging event")
                elif (jump := self._sequence_jump(event)) is not None:
                    refused.append(jump)
                else:
                    events.append(event)
            self._tracker.offer_events(events)
            for event in events:
                self._on_messaging_event(event)
            if refused:
                raise PeerLimitError(f"{len(refused)} event(s) refused: {'; '.join(refused[:3])}")

    def _sequence_jump(self, event: notifications.MessagingEvent) -> str | None:
        """Why ``event``'s sequence is too far beyond the conversation's cursor, or None.

        A peer could otherwise move the cursor past every event still to come."""
        if event.sequence is None:
            return None
        try:
            cursor = self._resume_sequence(event.dialog_id)
        except SyncdError:
            return None  # the state cannot be read: the receiver reports that itself
        if event.sequence - cursor <= MAX_SEQUENCE_JUMP:
            return None
        return (
            f"conversation {event.dialog_id}: sequence {event.sequence} jumps more than "
            f"{MAX_SEQUENCE_JUMP} past the cursor {cursor}"
        )

    def _ignore_unknown(self, conversation_id: str, what: str) -> None:
        if self._tracker.was_following(conversation_id):
            # Closed or lost while events were on their way: nothing odd about the peer.
            logger.debug(
                "ignoring %s for conversation %s, no longer followed", what, conversation_id
            )
            return
        if conversation_id in self._ignored_conversations:
            return
        if len(self._ignored_conversations) < MAX_IGNORED_CONVERSATIONS_REMEMBERED:
            self._ignored_conversations.add(conversation_id)
        logger.warning(
            "ignoring %s for conversation %r, which this route does not follow (from %s)",
            what,
            conversation_id[:80],
            self._link.peer or "LivePerson",
        )
