"""What a consumer session does with each notification: filter it, then hand it on.

``NotificationHandler.handle`` runs on the connection's reader thread. It parses a
notification, applies its conversation changes to the ``ConversationTracker``, leaves out
what concerns conversations the session does not follow (logged once per conversation) and
events whose sequence is not sane, and passes the rest to the daemon's callbacks. Raises
PeerLimitError after handing on the good part of a frame that carried insane sequences.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from syncd.errors import SyncdError
from syncd.liveperson import notifications, protocol, response_bodies
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.limits import MAX_SEQUENCE_JUMP, PeerLimitError

# The consumer client's logger: these lines were always the client's, and the journal
# shows the logger name.
logger = logging.getLogger("syncd.liveperson.consumer")

# Conversations whose stray events were logged; past this many, each is logged every time.
MAX_IGNORED_CONVERSATIONS_REMEMBERED = 1000


class NotificationHandler:
    """Filters one consumer session's notifications and hands them to the daemon.

    ``peer`` names the other end for log lines (empty when unknown); ``resume_sequence``
    is the daemon's stored cursor of a conversation, the reference for sequence jumps.
    """

    def __init__(
        self,
        *,
        tracker: ConversationTracker,
        resume_sequence: Callable[[str], int],
        on_messaging_event: Callable[[notifications.MessagingEvent], None],
        on_conversation_change: Callable[[notifications.ConversationChange], None],
        peer: Callable[[], str],
    ) -> None:
        self._tracker = tracker
        self._resume_sequence = resume_sequence
        self._on_messaging_event = on_messaging_event
        self._on_conversation_change = on_conversation_change
        self._peer = peer
        self._ignored_conversations: set[str] = set()

    def report_lost_conversations(self, conversation_ids: list[str]) -> None:
        """A new consumer cannot see the old one's conversations: to the route they are
        gone, as if LivePerson had deleted them (a DELETE change); the next file ready to
        send opens a new one."""
        for conversation_id in conversation_ids:
            self._on_conversation_change(
                notifications.ConversationChange("DELETE", conversation_id, None, None, None)
            )

    def handle(self, notification: protocol.Notification) -> None:
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
            self._peer() or "LivePerson",
        )
