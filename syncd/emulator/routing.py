"""Routing tasks: how a waiting conversation rings the emulated agent (pure, no I/O).

LivePerson's agent Messaging API (developer-center, ``agent-int-getting-started.html``) rings
an ONLINE agent subscribed with ``.ams.routing.SubscribeRoutingTasks``: a
``.ams.routing.RoutingTaskNotification`` carries ``ringsDetails`` with a ``ringId`` and
``ringState`` WAITING, and ``.ams.routing.UpdateRingState`` with ACCEPTED takes it.

Choices where LivePerson is silent, made here:

* One ring per waiting spell of a conversation: it is WAITING while the conversation is open
  without an ASSIGNED_AGENT, and ACCEPTED (``taskCompleted``) once one joins — by this ring,
  the console's Accept, the control API or ``agent_accept = "auto"``. An agent leaving the
  conversation puts it back in the queue: a new ring.
* A ring of a conversation closed while it waited is removed (a DELETE change).
* REJECTED leaves the conversation waiting (there is no other agent to ring); rings do not
  expire (``ringExpiration`` is informative only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncd.emulator.model import ASSIGNED_AGENT, Conversation
from syncd.emulator.rejection import Rejection

WAITING = "WAITING"
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"
RING_EXPIRATION_MS = 72_000  # as in LivePerson's example notification
RING_STATES = frozenset({ACCEPTED, REJECTED})


@dataclass
class Ring:
    """One ring of a conversation; ``state`` is WAITING, ACCEPTED or REJECTED."""

    ring_id: str
    conversation_id: str
    consumer_id: str
    skill_id: str
    created_ms: int
    state: str = WAITING

    def change(self, account: str, agent_id: str, deleted: bool = False) -> dict[str, Any]:
        """The change of a RoutingTaskNotification describing this ring (wire form, with
        the fields the SDK strips: ``routingTaskId``, ``brandId``, ``convId``…)."""
        result: dict[str, Any] = {
            "routingTaskId": self.ring_id,
            "brandId": account,
            "conversationId": self.conversation_id,
            "consumerId": self.consumer_id,
            "skillId": self.skill_id,
            "taskCompleted": self.state == ACCEPTED,
            "ringsDetails": [
                {
                    "ringId": self.ring_id,
                    "ringState": self.state,
                    "ringExpiration": RING_EXPIRATION_MS,
                    "ringExpirationTs": self.created_ms + RING_EXPIRATION_MS,
                    "weight": self.created_ms,
                    "brandId": account,
                    "convId": self.conversation_id,
                    "consumerId": self.consumer_id,
                    "skillId": self.skill_id,
                }
            ],
        }
        if self.state == ACCEPTED:
            result["assignedAgentId"] = agent_id
        return {"type": "DELETE" if deleted else "UPSERT", "result": result}


class RingBook:
    """The rings of every conversation, kept in step with the conversations."""

    def __init__(self) -> None:
        self._rings: dict[str, Ring] = {}  # by ring id
        self._current: dict[str, str] = {}  # conversation id → its latest ring id

    def waiting(self) -> list[Ring]:
        """Rings still WAITING, oldest first."""
        return [ring for ring in self._rings.values() if ring.state == WAITING]

    def get(self, ring_id: Any) -> Ring:
        """The ring ``ring_id``; raises Rejection(400) for an unknown one."""
        ring = self._rings.get(ring_id) if isinstance(ring_id, str) else None
        if ring is None:
            raise Rejection(400, "Unknown ringId")
        return ring

    def follow(self, conversation: Conversation, now_ms: int) -> tuple[Ring, bool] | None:
        """Update the rings after ``conversation`` changed; return (the ring that changed,
        whether it was removed), or None when nothing changed."""
        current_id = self._current.get(conversation.conversation_id)
        current = self._rings.get(current_id) if current_id is not None else None
        waits = conversation.is_open and not conversation.has_role(ASSIGNED_AGENT)
        if waits and (current is None or current.state == ACCEPTED):
            ring = Ring(
                ring_id=f"{conversation.conversation_id}_{conversation.brand_id}_{now_ms}",
                conversation_id=conversation.conversation_id,
                consumer_id=conversation.consumer_id,
                skill_id=conversation.skill_id,
                created_ms=now_ms,
            )
            self._rings[ring.ring_id] = ring
            self._current[conversation.conversation_id] = ring.ring_id
            return ring, False
        if current is None or current.state == ACCEPTED:
            return None
        if conversation.has_role(ASSIGNED_AGENT):
            current.state = ACCEPTED
            return current, False
        if not conversation.is_open:
            del self._rings[current.ring_id]
            del self._current[conversation.conversation_id]
            return current, True
        return None

    def update(self, ring_id: Any, ring_state: Any) -> Ring:
        """Check an UpdateRingState request; REJECTED is applied here, ACCEPTED is left to
        the caller (it accepts the conversation, which marks the ring through ``follow``).

        Raises Rejection(400) for an unknown ring or state, and 409 for a ring not WAITING.
        """
        ring = self.get(ring_id)
        if ring_state not in RING_STATES:
            raise Rejection(400, "'ringState' must be ACCEPTED or REJECTED")
        if ring.state != WAITING:
            raise Rejection(409, f"The ring is {ring.state}")
        if ring_state == REJECTED:
            ring.state = REJECTED
        return ring
