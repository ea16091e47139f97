"""``cqm.SubscribeExConversations`` subscriptions: which conversations a subscriber sees.

A subscription filters the consumer's conversations by ``convState`` (absent: every state),
optional ``stage`` and ``minLastUpdatedTime``. It remembers which conversations it has shown,
so that a conversation that stops matching (an OPEN-only subscriber's conversation closes)
produces one ``DELETE`` change — ``{"type": "DELETE", "result": {"convId": ...}}``, without
details, an emulator choice — and a matching one produces ``UPSERT`` with full details.

Pure: no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.emulator.model import CLOSE, OPEN, Conversation
from syncd.emulator.rejection import Rejection
from syncd.liveperson.protocol import as_list

_STATES = frozenset({OPEN, CLOSE})


def _state_filter(value: Any, name: str) -> frozenset[str] | None:
    if value is None:
        return None
    states = as_list(value)
    if not all(isinstance(state, str) and state in _STATES for state in states):
        raise Rejection(400, f"'{name}' must list OPEN and/or CLOSE")
    return frozenset(states)


def upsert_change(conversation: Conversation) -> dict[str, Any]:
    """Return the UPSERT change describing ``conversation`` as it is now, with
    ``lastContentEventNotification`` (the last content event) once there is one."""
    result: dict[str, Any] = {
        "convId": conversation.conversation_id,
        "effectiveTTR": -1,
        "conversationDetails": conversation.details(),
    }
    last = conversation.last_content_event()
    if last is not None:
        result["lastContentEventNotification"] = last.as_change()
    return {"type": "UPSERT", "result": result}


def delete_change(conversation: Conversation) -> dict[str, Any]:
    """Return the DELETE change telling a subscriber ``conversation`` left its view."""
    return {"type": "DELETE", "result": {"convId": conversation.conversation_id}}


@dataclass
class ConversationSubscription:
    """One subscriber's filter and the conversation ids it currently shows."""

    consumer_id: str
    states: frozenset[str] | None
    stages: frozenset[str] | None
    min_last_updated_ms: int
    subscription_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    shown: set[str] = field(default_factory=set)

    @classmethod
    def from_body(cls, consumer_id: str, body: Any) -> ConversationSubscription:
        """Build a subscription from a request body; raises Rejection(400) when malformed."""
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise Rejection(400, "The body must be an object")
        min_last_updated = body.get("minLastUpdatedTime", 0)
        if not isinstance(min_last_updated, int) or isinstance(min_last_updated, bool):
            raise Rejection(400, "'minLastUpdatedTime' must be an integer")
        return cls(
            consumer_id=consumer_id,
            states=_state_filter(body.get("convState"), "convState"),
            stages=_state_filter(body.get("stage"), "stage"),
            min_last_updated_ms=min_last_updated,
        )

    def matches(self, conversation: Conversation) -> bool:
        """True when the filter selects ``conversation``."""
        return (
            conversation.consumer_id == self.consumer_id
            and (self.states is None or conversation.state in self.states)
            and (self.stages is None or conversation.stage in self.stages)
            and conversation.metadata_updated_ms >= self.min_last_updated_ms
        )

    def initial_changes(self, conversations: Iterable[Conversation]) -> list[dict[str, Any]]:
        """Return UPSERTs for the matching conversations and remember them as shown."""
        changes = []
        for conversation in conversations:
            if self.matches(conversation):
                self.shown.add(conversation.conversation_id)
                changes.append(upsert_change(conversation))
        return changes

    def change_for(self, conversation: Conversation) -> dict[str, Any] | None:
        """Return the change to notify after ``conversation`` changed, or None."""
        if conversation.consumer_id != self.consumer_id:
            return None
        if self.matches(conversation):
            self.shown.add(conversation.conversation_id)
            return upsert_change(conversation)
        if conversation.conversation_id in self.shown:
            self.shown.discard(conversation.conversation_id)
            return delete_change(conversation)
        return None
