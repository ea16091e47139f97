"""The agent hub: turns model changes into notifications for the connected brand sockets.

It listens to the conversation book beside the consumer hub (``BookListeners`` calls both),
keeps the routing rings in step (``routing.RingBook``) and fans changes out:

* a ring's change → ``.ams.routing.RoutingTaskNotification`` to every socket subscribed to
  routing tasks while the agent is ONLINE (``.ams.routing.SetAgentState``; an agent starts
  AWAY, as LivePerson's getting-started page sets it online before any task comes): a new
  ring, one accepted, rejected (``UpdateRingState``), expired or removed. ``tick()``, which
  the runner calls a few times a second, expires rings and rings again after a pause
  (``routing.py``; the ``ring_timeout_seconds`` and ``ring_pause_seconds`` knobs);
* a conversation's change → ``.ams.aam.ExConversationChangeNotification`` to each matching
  subscription (UPSERT; DELETE once it stops matching);
* an event → ``.ams.ms.OnlineEventDistribution`` to sockets whose agent takes part in the
  conversation or that queried its messages.

Like the consumer hub it can hold notifications back (``held()``) while a request is handled,
so a request's response goes out before the notifications it caused. No aiohttp here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.emulator import agent_frames
from syncd.emulator.agent_frames import AgentIds
from syncd.emulator.held_sends import HeldSends
from syncd.emulator.model import BookListener, Conversation, StoredEvent
from syncd.emulator.rejection import Rejection
from syncd.emulator.routing import REJECTED, Ring, RingBook, RingTimes
from syncd.liveperson.protocol import as_list

ONLINE = "ONLINE"
AVAILABILITIES = frozenset({ONLINE, "OCCUPIED", "AWAY"})


@dataclass
class ConversationFilter:
    """One ``SubscribeExConversations`` of an agent: states, agents, and what it has shown."""

    states: frozenset[str] | None
    agent_ids: frozenset[str] | None
    subscription_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    shown: set[str] = field(default_factory=set)

    @classmethod
    def from_body(cls, body: Any) -> ConversationFilter:
        """Build from a request body; raises Rejection(400) when malformed."""
        body = body if body is not None else {}
        if not isinstance(body, Mapping):
            raise Rejection(400, "The body must be an object")
        states = body.get("convState")
        agents = body.get("agentIds")
        if states is not None and not all(s in ("OPEN", "CLOSE") for s in as_list(states)):
            raise Rejection(400, "'convState' must list OPEN and/or CLOSE")
        if agents is not None and not all(isinstance(a, str) for a in as_list(agents)):
            raise Rejection(400, "'agentIds' must list agent ids")
        return cls(
            states=None if states is None else frozenset(as_list(states)),
            agent_ids=None if agents is None else frozenset(as_list(agents)),
        )

    def matches(self, ids: AgentIds, conversation: Conversation) -> bool:
        """True when the filter selects ``conversation``."""
        if self.states is not None and conversation.state not in self.states:
            return False
        if self.agent_ids is None:
            return True
        taking_part = {ids.old(pid) for pid, _ in conversation.participants}
        taking_part |= {pid for pid, _ in conversation.participants}
        return bool(self.agent_ids & taking_part)

    def change_for(self, ids: AgentIds, conversation: Conversation) -> dict[str, Any] | None:
        """The change to notify after ``conversation`` changed, or None."""
        if self.matches(ids, conversation):
            self.shown.add(conversation.conversation_id)
            return agent_frames.conversation_change(ids, conversation)
        if conversation.conversation_id in self.shown:
            self.shown.discard(conversation.conversation_id)
            return agent_frames.conversation_change(ids, conversation, deleted=True)
        return None


class AgentSubscriber(Protocol):
    """What the hub needs of a brand socket."""

    routing_subscriptions: set[str]
    conversation_filters: dict[str, ConversationFilter]
    dialog_ids: set[str]

    def send(self, text: str) -> None:
        """Queue a text frame."""

    def close(self, code: int) -> None:
        """Queue a close with ``code`` after the frames already queued."""


class AgentHub:
    """The live brand sockets, the agent's availability and the rings."""

    def __init__(
        self, ids: AgentIds, clock_ms: Callable[[], int], ring_times: Callable[[], RingTimes]
    ) -> None:
        self.ids = ids
        self.rings = RingBook()
        self.availability = "AWAY"
        self._clock_ms = clock_ms
        self._ring_times = ring_times
        self._sockets: list[AgentSubscriber] = []
        self._sends = HeldSends()

    def add(self, socket: AgentSubscriber) -> None:
        """Start delivering to ``socket``."""
        self._sockets.append(socket)

    def remove(self, socket: AgentSubscriber) -> None:
        """Stop delivering to ``socket`` (no error if it was never added)."""
        if socket in self._sockets:
            self._sockets.remove(socket)

    def sockets(self) -> list[AgentSubscriber]:
        """The live brand sockets."""
        return list(self._sockets)

    def held(self) -> AbstractContextManager[None]:
        """Hold notifications back until the block ends (nested holds join the outer one)."""
        return self._sends.held()

    def _deliver(self, socket: AgentSubscriber, text: str) -> None:
        self._sends.deliver(socket, text)

    def set_availability(self, availability: Any) -> None:
        """Set the agent's state; going ONLINE rings every routing subscriber with the
        waiting rings. Raises Rejection(400) for an unknown state."""
        if availability not in AVAILABILITIES:
            raise Rejection(400, "'availability' must be ONLINE, OCCUPIED or AWAY")
        was_online, self.availability = self.availability == ONLINE, availability
        changes = self.routing_changes()
        if was_online or not changes:
            return
        for socket in self.sockets():
            for subscription_id in sorted(socket.routing_subscriptions):
                self._deliver(socket, agent_frames.routing_frame(subscription_id, changes))

    def routing_changes(self) -> list[dict[str, Any]]:
        """UPSERTs of every waiting ring (a new routing subscription's first notification)."""
        if self.availability != ONLINE:
            return []
        return [ring.change(self.ids.account, self.ids.agent_pid) for ring in self.rings.waiting()]

    def _notify_rings(self, changes: list[dict[str, Any]]) -> None:
        """Send each ring change, one per notification, to every routing subscription
        (only while the agent is ONLINE)."""
        if self.availability != ONLINE:
            return
        for socket in self.sockets():
            for change in changes:
                for subscription_id in sorted(socket.routing_subscriptions):
                    self._deliver(socket, agent_frames.routing_frame(subscription_id, [change]))

    def update_ring(self, ring_id: Any, ring_state: Any) -> Ring:
        """Apply an ``UpdateRingState``: a REJECTED ring is notified at once, an ACCEPTED
        one is left to the caller (``agent.accept``). Raises Rejection (``RingBook.update``)."""
        ring = self.rings.update(ring_id, ring_state, self._clock_ms())
        if ring.state == REJECTED:
            self._notify_rings([ring.change(self.ids.account, self.ids.agent_pid)])
        return ring

    def tick(self) -> int:
        """Expire overdue rings and ring again the conversations whose pause is over,
        notifying each change; return how many rings changed."""
        times = self._ring_times()
        changed = self.rings.tick(self._clock_ms(), times.pause_ms, times.lifetime_ms)
        self._notify_rings([ring.change(self.ids.account, self.ids.agent_pid) for ring in changed])
        return len(changed)

    def conversation_changed(self, conversation: Conversation) -> None:
        """Follow the rings, then notify routing and conversation subscribers."""
        lifetime_ms = self._ring_times().lifetime_ms
        followed = self.rings.follow(conversation, self._clock_ms(), lifetime_ms)
        if followed is not None:
            ring, removed = followed
            self._notify_rings([ring.change(self.ids.account, self.ids.agent_pid, removed)])
        for socket in self.sockets():
            for conversation_filter in list(socket.conversation_filters.values()):
                changed = conversation_filter.change_for(self.ids, conversation)
                if changed is not None:
                    frame = agent_frames.conversation_frame(
                        conversation_filter.subscription_id, [changed]
                    )
                    self._deliver(socket, frame)

    def event_published(self, conversation: Conversation, event: StoredEvent) -> None:
        """Distribute ``event`` to the sockets following the conversation."""
        taking_part = any(pid == self.ids.agent_pid for pid, _ in conversation.participants)
        frame = agent_frames.online_event_frame(self.ids, event)
        for socket in self.sockets():
            if taking_part or conversation.conversation_id in socket.dialog_ids:
                self._deliver(socket, frame)


class BookListeners:
    """Tells several listeners (the consumer hub, the agent hub) about every change."""

    def __init__(self, *listeners: BookListener) -> None:
        self._listeners = listeners

    def conversation_changed(self, conversation: Conversation) -> None:
        """Pass a metadata change on to each listener, in order."""
        for listener in self._listeners:
            listener.conversation_changed(conversation)

    def event_published(self, conversation: Conversation, event: StoredEvent) -> None:
        """Pass an event on to each listener, in order."""
        for listener in self._listeners:
            listener.event_published(conversation, event)
