"""Routing tasks: how a waiting conversation rings the emulated agent (pure, no I/O).

What LivePerson documents (developer-center, ``LivePersonInc/developer-center``):

* ``pages/documents/agent-interactions/Messaging Agent API/getting-started.md``
  (``agent-int-getting-started.html``): an ONLINE agent subscribed with
  ``.ams.routing.SubscribeRoutingTasks`` gets a ``.ams.routing.RoutingTaskNotification``
  whose ``ringsDetails`` carry a ``ringId``, ``ringState`` WAITING and ``"ringExpiration":
  72000``; ``.ams.routing.UpdateRingState`` with ACCEPTED takes the task.
* ``pages/Documents/ConversationalAI/MessagingAgentSDK/events.md``
  (``messaging-agent-sdk-events.html``): its example ring has ``ringExpiration`` 72000 and a
  ``ringExpirationTs`` exactly 72,000 ms after the time in its ``ringId``: a ring is offered
  for 72 seconds.
* ``assets/schema/routing/routingTaskNotification.json``: ``ringState`` is one of ACCEPTED,
  AUTO_ACCEPT, CANCELLED, EXPIRED, REJECTED, WAITING; ``assets/schema/routing/
  updateRingState.json``: the agent may set only ACCEPTED or REJECTED.
* ``assets/schema/OAI/agent-messaging.yaml``: "The agent can accept or reject rings"; while
  the agent is online "the routing service will send him rings"; an agent leaving a
  conversation sends it "back to the queue".

So a ring that nobody answers ends EXPIRED once its ``ringExpiration`` has passed, and the
emulator notifies that state (an UPSERT with ``taskCompleted`` false) like any other.

Choices where LivePerson is silent, made here:

* One ring at a time per conversation: WAITING while the conversation is open without an
  ASSIGNED_AGENT, ACCEPTED (``taskCompleted``) once one joins — by this ring, the console's
  Accept, the control API or ``agent_accept = "auto"``. An agent leaving the conversation
  puts it back in the queue: a new ring.
* A ring lives ``lifetime_ms`` (``ring_timeout_seconds``; 72 s by default, as in the
  examples), then turns EXPIRED. With no lifetime (never) ``ringExpiration`` still says 72000
  but the ring waits until it is answered.
* An EXPIRED or REJECTED ring leaves the conversation waiting, and after ``pause_ms``
  (``ring_pause_seconds``) it rings again with a new ``ringId``: there is no other agent to
  route it to, and LivePerson does not say when a routed conversation is offered again.
* A ring of a conversation closed while it waited is removed (a DELETE change).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncd.emulator.model import ASSIGNED_AGENT, Conversation
from syncd.emulator.rejection import Rejection

WAITING = "WAITING"
ACCEPTED = "ACCEPTED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
RING_EXPIRATION_MS = 72_000  # as in LivePerson's example notifications
RING_STATES = frozenset({ACCEPTED, REJECTED})
ENDED_UNANSWERED = frozenset({REJECTED, EXPIRED})


@dataclass(frozen=True)
class RingTimes:
    """How long a ring waits (``lifetime_ms``, None: until answered) and how long a
    conversation waits after an unanswered ring before it rings again (``pause_ms``)."""

    lifetime_ms: int | None
    pause_ms: int


@dataclass
class Ring:
    """One ring of a conversation; ``state`` is WAITING, ACCEPTED, REJECTED or EXPIRED."""

    ring_id: str
    conversation_id: str
    consumer_id: str
    skill_id: str
    brand_id: str
    created_ms: int
    lifetime_ms: int | None = RING_EXPIRATION_MS
    state: str = WAITING
    ended_ms: int | None = None

    @property
    def expiration_ms(self) -> int:
        """The ``ringExpiration`` it announces (72000 when it never expires)."""
        return self.lifetime_ms if self.lifetime_ms is not None else RING_EXPIRATION_MS

    def end(self, state: str, now_ms: int) -> None:
        """Mark the ring REJECTED or EXPIRED at ``now_ms``."""
        self.state = state
        self.ended_ms = now_ms

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
                    "ringExpiration": self.expiration_ms,
                    "ringExpirationTs": self.created_ms + self.expiration_ms,
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

    def _ring(self, template: Conversation | Ring, now_ms: int, lifetime_ms: int | None) -> Ring:
        """A new WAITING ring of ``template``'s conversation (a unique ``ringId`` of
        LivePerson's form ``{conversation}_{account}_{time}``), made current."""
        conversation_id = template.conversation_id
        brand_id = template.brand_id
        stamp_ms = now_ms
        while f"{conversation_id}_{brand_id}_{stamp_ms}" in self._rings:
            stamp_ms += 1  # two rings of one conversation within a millisecond
        ring = Ring(
            ring_id=f"{conversation_id}_{brand_id}_{stamp_ms}",
            conversation_id=conversation_id,
            consumer_id=template.consumer_id,
            skill_id=template.skill_id,
            brand_id=brand_id,
            created_ms=now_ms,
            lifetime_ms=lifetime_ms,
        )
        self._rings[ring.ring_id] = ring
        self._current[conversation_id] = ring.ring_id
        return ring

    def follow(
        self, conversation: Conversation, now_ms: int, lifetime_ms: int | None
    ) -> tuple[Ring, bool] | None:
        """Update the rings after ``conversation`` changed; return (the ring that changed,
        whether it was removed), or None when nothing changed. A new ring lives
        ``lifetime_ms`` (None: until answered)."""
        current_id = self._current.get(conversation.conversation_id)
        current = self._rings.get(current_id) if current_id is not None else None
        waits = conversation.is_open and not conversation.has_role(ASSIGNED_AGENT)
        if waits and (current is None or current.state == ACCEPTED):
            return self._ring(conversation, now_ms, lifetime_ms), False
        if current is None or current.state == ACCEPTED:
            return None
        if current.state in ENDED_UNANSWERED:
            if not waits:  # taken or closed during the pause: its ring has already ended
                del self._current[conversation.conversation_id]
            return None
        if conversation.has_role(ASSIGNED_AGENT):
            current.state = ACCEPTED
            return current, False
        if not conversation.is_open:
            del self._rings[current.ring_id]
            del self._current[conversation.conversation_id]
            return current, True
        return None

    def tick(self, now_ms: int, pause_ms: int, lifetime_ms: int | None) -> list[Ring]:
        """Expire the WAITING rings past their lifetime, and ring again every conversation
        whose unanswered ring ended ``pause_ms`` ago; return the rings that changed, in
        order. A new ring lives ``lifetime_ms``."""
        changed: list[Ring] = []
        for ring_id in list(self._current.values()):
            ring = self._rings[ring_id]
            lifetime = ring.lifetime_ms
            if (
                ring.state == WAITING
                and lifetime is not None
                and now_ms >= ring.created_ms + lifetime
            ):
                ring.end(EXPIRED, now_ms)
                changed.append(ring)
            ended = ring.ended_ms
            if ring.state in ENDED_UNANSWERED and ended is not None and now_ms >= ended + pause_ms:
                changed.append(self._ring(ring, now_ms, lifetime_ms))
        return changed

    def update(self, ring_id: Any, ring_state: Any, now_ms: int) -> Ring:
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
            ring.end(REJECTED, now_ms)
        return ring
