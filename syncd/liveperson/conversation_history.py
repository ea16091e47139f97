"""Reading a conversation's history to its end: one try, the consumer client retries.

``last_content_sequence`` asks LivePerson's conversation metadata for the sequence of the
last content event; ``replay_events`` re-subscribes a conversation and waits until every
sequence up to that one has arrived. Both work on the ``ConsumerLink``'s connection and the
``ConversationTracker`` the reader thread feeds; neither retries (``ConsumerClient`` does).
"""

from __future__ import annotations

import contextlib

from syncd.errors import ProtocolError, RequestTimeoutError, SyncdError
from syncd.liveperson import notifications, protocol, request_bodies, response_bodies
from syncd.liveperson.consumer_link import ConsumerLink
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.link_sockets import ConsumerSettings


class ConversationHistory:
    """One consumer session's reads of conversation history (see the module docstring)."""

    def __init__(
        self, link: ConsumerLink, tracker: ConversationTracker, settings: ConsumerSettings
    ) -> None:
        self._link = link
        self._tracker = tracker
        self._settings = settings

    @property
    def _timeout(self) -> float:
        return self._settings.request_timeout_seconds

    def last_content_sequence(self, conversation_id: str) -> int | None:
        """One try of ``ConsumerClient.last_content_sequence`` (not retried here).

        Returns None when the metadata carries no last content event. Raises
        RequestTimeoutError when no notification for the probe subscription arrives,
        ProtocolError when the subscription has no id, and the connection's errors.
        """
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
        self, conversation_id: str, from_sequence: int
    ) -> list[notifications.MessagingEvent]:
        """One try of ``ConsumerClient.replay_events`` (not retried here).

        Raises RequestTimeoutError when the history does not reach the last content
        sequence in time, and the errors of ``last_content_sequence``.
        """
        last_sequence = self.last_content_sequence(conversation_id)
        connection = self._link.ensure_connected()
        replay = self._tracker.start_replay(conversation_id, from_sequence)
        try:
            body = request_bodies.subscribe_messaging_events_body(conversation_id, from_sequence)
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
