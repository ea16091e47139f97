"""The hub: turns model changes into notification frames for the connected consumer sockets.

It is the model's ``BookListener``. Everything runs on the emulator's event loop thread, so a
change is fanned out synchronously, in order, into each socket's outgoing queue. While a
request is being handled the hub holds its notifications back (``held()``) and releases them
after the handler has queued its response, so a client always sees a request's response
before the notifications that request caused. No aiohttp here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from syncd.emulator.held_sends import HeldSends
from syncd.emulator.model import Conversation, StoredEvent
from syncd.emulator.subscriptions import ConversationSubscription
from syncd.liveperson.protocol import (
    EX_CONVERSATION_CHANGE,
    MESSAGING_EVENT,
    build_notification,
)


class Subscriber(Protocol):
    """What the hub needs of a consumer socket."""

    consumer_id: str | None
    conversation_subscriptions: dict[str, ConversationSubscription]
    dialog_ids: set[str]

    def send(self, text: str) -> None:
        """Queue a text frame."""

    def close(self, code: int) -> None:
        """Queue a close with ``code`` after the frames already queued (1006: drop)."""


def messaging_event_frame(changes: list[StoredEvent]) -> str:
    """Return one ``ms.MessagingEventNotification`` frame carrying ``changes``."""
    return build_notification(MESSAGING_EVENT, {"changes": [e.as_change() for e in changes]})


def conversation_change_frame(subscription_id: str, changes: list[dict[str, object]]) -> str:
    """Return one ``cqm.ExConversationChangeNotification`` frame for a subscription."""
    body = {"subscriptionId": subscription_id, "changes": changes}
    return build_notification(EX_CONVERSATION_CHANGE, body)


class Hub:
    """The set of live consumer sockets and the fan-out of changes to them."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._sends = HeldSends()

    def add(self, subscriber: Subscriber) -> None:
        """Start delivering to ``subscriber``."""
        self._subscribers.append(subscriber)

    def remove(self, subscriber: Subscriber) -> None:
        """Stop delivering to ``subscriber`` (no error if it was never added)."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def subscribers(self) -> list[Subscriber]:
        """Return the live sockets."""
        return list(self._subscribers)

    def close_all(self, code: int) -> int:
        """Close every socket with ``code`` (1006 drops them); return how many."""
        subscribers = self.subscribers()
        for subscriber in subscribers:
            subscriber.close(code)
        return len(subscribers)

    def held(self) -> AbstractContextManager[None]:
        """Hold notifications back until the block ends (nested holds join the outer one)."""
        return self._sends.held()

    def _deliver(self, subscriber: Subscriber, text: str) -> None:
        self._sends.deliver(subscriber, text)

    def conversation_changed(self, conversation: Conversation) -> None:
        """Notify each of the owner's ExConversation subscriptions that sees a change."""
        for subscriber in self.subscribers():
            if subscriber.consumer_id != conversation.consumer_id:
                continue
            for subscription in list(subscriber.conversation_subscriptions.values()):
                change = subscription.change_for(conversation)
                if change is not None:
                    frame = conversation_change_frame(subscription.subscription_id, [change])
                    self._deliver(subscriber, frame)

    def event_published(self, conversation: Conversation, event: StoredEvent) -> None:
        """Notify every socket subscribed to the conversation's dialog."""
        frame = messaging_event_frame([event])
        for subscriber in self.subscribers():
            if conversation.conversation_id in subscriber.dialog_ids:
                self._deliver(subscriber, frame)
