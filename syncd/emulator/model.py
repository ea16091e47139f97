"""Conversations, their MAIN dialogs and event logs: the emulator's pure domain model.

Choices where LivePerson is silent (protocol.md §12), made here:

* A consumer has at most one OPEN conversation it requested; asking for another is refused
  with 400. An agent may resume a closed one by sending into it, so a consumer can have two.
* An OPEN conversation is *waiting* until an agent accepts it (joins as ASSIGNED_AGENT), then
  *active*. ``last_consumer_activity_ms`` (creation or the consumer's last event) drives the
  emulator's auto-close.
* Every conversation has one MAIN dialog whose ``dialogId`` equals the ``conversationId``.
* Sequences: one counter per dialog starting at 0, consumed by every ContentEvent and
  AcceptStatusEvent; ChatStateEvents are distributed but neither stored nor numbered.
* ``metaDataLastUpdateTs`` moves on metadata changes (creation, agent assignment, close), not
  on messages. A closed conversation gets ``endTs`` and ``closeReason`` (CONSUMER or AGENT).

No aiohttp here: the book tells a ``BookListener`` (the hub) about every change, synchronously,
and the hub turns changes into notification frames.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.emulator.rejection import Rejection

CONSUMER = "CONSUMER"
ASSIGNED_AGENT = "ASSIGNED_AGENT"
OPEN = "OPEN"
CLOSE = "CLOSE"
DEFAULT_SKILL_ID = "-1"

_CLOSED_CAUSES = {
    CONSUMER: "Closed by consumer",
    "AGENT": "Closed by agent",
    "SYSTEM": "Auto closed after consumer inactivity",
}


@dataclass(frozen=True)
class StoredEvent:
    """One event of a dialog as LivePerson distributes it.

    ``sequence`` and ``server_timestamp_ms`` are None for events that are not numbered
    (chat states).
    """

    conversation_id: str
    sequence: int | None
    originator_id: str
    role: str
    server_timestamp_ms: int | None
    event: Mapping[str, Any]

    def as_change(self) -> dict[str, Any]:
        """Return the change object of an ``ms.MessagingEventNotification`` (protocol.md §5.3)."""
        change: dict[str, Any] = {}
        if self.sequence is not None:
            change["sequence"] = self.sequence
        change["originatorId"] = self.originator_id
        change["originatorMetadata"] = {"id": self.originator_id, "role": self.role}
        if self.server_timestamp_ms is not None:
            change["serverTimestamp"] = self.server_timestamp_ms
        change["event"] = dict(self.event)
        change["conversationId"] = self.conversation_id
        change["dialogId"] = self.conversation_id
        return change


@dataclass
class Conversation:
    """A conversation with its MAIN dialog, participants and event log (mutable)."""

    conversation_id: str
    consumer_id: str
    brand_id: str
    skill_id: str
    start_ms: int
    metadata_updated_ms: int
    state: str = OPEN
    stage: str = OPEN
    end_ms: int | None = None
    close_reason: str | None = None
    participants: list[tuple[str, str]] = field(default_factory=list)
    events: list[StoredEvent] = field(default_factory=list)
    next_sequence: int = 0
    last_consumer_activity_ms: int = 0

    @property
    def agent_state(self) -> str:
        """``waiting`` (open, no agent yet), ``active`` (open, accepted) or ``closed``."""
        if not self.is_open:
            return "closed"
        return "active" if self.has_role(ASSIGNED_AGENT) else "waiting"

    def last_content_event(self) -> StoredEvent | None:
        """The last stored ContentEvent, None when there is none."""
        for event in reversed(self.events):
            if event.event.get("type") == "ContentEvent":
                return event
        return None

    @property
    def is_open(self) -> bool:
        """True until the conversation is closed."""
        return self.state == OPEN

    def has_role(self, role: str) -> bool:
        """True when some participant has ``role``."""
        return any(participant_role == role for _, participant_role in self.participants)

    def details(self) -> dict[str, Any]:
        """Return ``conversationDetails`` in the v3 form of protocol.md §5.2."""
        participants = [{"id": pid, "role": role} for pid, role in self.participants]
        dialog: dict[str, Any] = {
            "dialogId": self.conversation_id,
            "participantsDetails": [dict(p, state="ACTIVE") for p in participants],
            "dialogType": "MAIN",
            "channelType": "MESSAGING",
            "state": self.state,
            "creationTs": self.start_ms,
            "metaDataLastUpdateTs": self.metadata_updated_ms,
        }
        details: dict[str, Any] = {
            "skillId": self.skill_id,
            "participants": participants,
            "dialogs": [dialog],
            "brandId": self.brand_id,
            "state": self.state,
            "stage": self.stage,
            "startTs": self.start_ms,
            "metaDataLastUpdateTs": self.metadata_updated_ms,
            "ttr": {"ttrType": "NORMAL", "value": 3600},
            "conversationHandlerDetails": {"accountId": self.brand_id, "skillId": self.skill_id},
        }
        if not self.is_open and self.close_reason is not None:
            dialog.update(
                endTs=self.end_ms,
                closedBy=self.close_reason,
                closedCause=_CLOSED_CAUSES.get(self.close_reason, "Closed"),
            )
            details.update(closeReason=self.close_reason, endTs=self.end_ms)
        return details

    def events_from(self, from_sequence: int) -> list[StoredEvent]:
        """Return the stored events whose sequence is ≥ ``from_sequence``, oldest first."""
        return [e for e in self.events if e.sequence is not None and e.sequence >= from_sequence]


class BookListener(Protocol):
    """Who hears about changes; called synchronously, in the order the changes happen."""

    def conversation_changed(self, conversation: Conversation) -> None:
        """Metadata changed: created, agent assigned or closed."""

    def event_published(self, conversation: Conversation, event: StoredEvent) -> None:
        """An event was added to (or, for chat states, passed through) the dialog."""


class ConversationBook:
    """Every conversation of one account, keyed by id."""

    def __init__(self, account: str, listener: BookListener) -> None:
        self._account = account
        self._listener = listener
        self._conversations: dict[str, Conversation] = {}

    def get(self, conversation_id: str) -> Conversation | None:
        """Return the conversation (or None when there is no such id)."""
        return self._conversations.get(conversation_id)

    def all(self) -> list[Conversation]:
        """Return every conversation in creation order."""
        return list(self._conversations.values())

    def of_consumer(self, consumer_id: str) -> list[Conversation]:
        """Return the conversations ``consumer_id`` started, in creation order."""
        return [c for c in self._conversations.values() if c.consumer_id == consumer_id]

    def open_conversation(
        self, consumer_id: str, skill_id: str, now_ms: int, participant_id: str | None = None
    ) -> Conversation:
        """Start a conversation for ``consumer_id`` targeting ``skill_id``; the consumer takes
        part as ``participant_id`` (default: the consumer id itself).

        Raises Rejection(400) when the consumer already has an OPEN conversation.
        """
        if any(c.is_open for c in self.of_consumer(consumer_id)):
            raise Rejection(400, "The consumer already has an open conversation")
        conversation = Conversation(
            conversation_id=str(uuid.uuid4()),
            consumer_id=consumer_id,
            brand_id=self._account,
            skill_id=skill_id,
            start_ms=now_ms,
            metadata_updated_ms=now_ms,
            participants=[(participant_id or consumer_id, CONSUMER)],
            last_consumer_activity_ms=now_ms,
        )
        self._conversations[conversation.conversation_id] = conversation
        self._listener.conversation_changed(conversation)
        return conversation

    def assign_agent(self, conversation: Conversation, agent_id: str, now_ms: int) -> bool:
        """Make ``agent_id`` the ASSIGNED_AGENT unless one is already; True when it joined."""
        if conversation.has_role(ASSIGNED_AGENT):
            return False
        conversation.participants.append((agent_id, ASSIGNED_AGENT))
        conversation.metadata_updated_ms = now_ms
        self._listener.conversation_changed(conversation)
        return True

    def join(self, conversation: Conversation, participant_id: str, role: str, now_ms: int) -> bool:
        """Add ``participant_id`` as ``role`` (an agent joining as MANAGER, say) unless it
        already is; True when it joined. ASSIGNED_AGENT goes through ``assign_agent``."""
        if (participant_id, role) in conversation.participants:
            return False
        conversation.participants.append((participant_id, role))
        conversation.metadata_updated_ms = now_ms
        self._listener.conversation_changed(conversation)
        return True

    def leave(
        self, conversation: Conversation, participant_id: str, role: str, now_ms: int
    ) -> bool:
        """Remove ``participant_id`` as ``role``; True when it was one."""
        if (participant_id, role) not in conversation.participants:
            return False
        conversation.participants.remove((participant_id, role))
        conversation.metadata_updated_ms = now_ms
        self._listener.conversation_changed(conversation)
        return True

    def publish(
        self,
        conversation: Conversation,
        originator_id: str,
        role: str,
        event: Mapping[str, Any],
        numbered: bool,
        now_ms: int,
    ) -> StoredEvent:
        """Add ``event`` by ``originator_id`` (as ``role``) to the conversation's dialog.

        A ``numbered`` event takes the dialog's next sequence and is stored for replay; any
        other is only distributed. Raises Rejection(400) when the conversation is closed.
        """
        if not conversation.is_open:
            raise Rejection(400, "The dialog is closed")
        if role == CONSUMER:
            conversation.last_consumer_activity_ms = now_ms
        if numbered:
            stored = StoredEvent(
                conversation.conversation_id,
                conversation.next_sequence,
                originator_id,
                role,
                now_ms,
                event,
            )
            conversation.next_sequence += 1
            conversation.events.append(stored)
        else:
            stored = StoredEvent(
                conversation.conversation_id, None, originator_id, role, None, event
            )
        self._listener.event_published(conversation, stored)
        return stored

    def reopen(self, conversation: Conversation, now_ms: int) -> None:
        """Make a closed conversation OPEN again (an agent resumed it); raises Rejection(400)
        when it is open."""
        if conversation.is_open:
            raise Rejection(400, "The conversation is open")
        conversation.state = OPEN
        conversation.stage = OPEN
        conversation.end_ms = None
        conversation.close_reason = None
        conversation.metadata_updated_ms = now_ms
        conversation.last_consumer_activity_ms = now_ms
        self._listener.conversation_changed(conversation)

    def close(self, conversation: Conversation, closed_by: str, now_ms: int) -> None:
        """Close the conversation (state and stage CLOSE) on behalf of ``closed_by``.

        ``closed_by`` becomes ``closeReason`` (CONSUMER or AGENT). Raises Rejection(400) when
        the conversation is already closed.
        """
        if not conversation.is_open:
            raise Rejection(400, "The conversation is already closed")
        conversation.state = CLOSE
        conversation.stage = CLOSE
        conversation.end_ms = now_ms
        conversation.close_reason = closed_by
        conversation.metadata_updated_ms = now_ms
        self._listener.conversation_changed(conversation)
