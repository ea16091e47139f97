"""What one consumer session knows about its conversations, fed by notifications.

Pure state with a lock and a condition, no I/O: the reader thread of the messaging
connection applies notifications here, and the threads calling ``ConsumerClient`` read and
wait on it. It knows

* the consumer's OPEN conversation, as the ``cqm.SubscribeExConversations`` stream reports
  it (a consumer holds at most one);
* which conversations are *tracked*, i.e. re-subscribed for messaging events after every
  reconnect; a conversation reported closed stops being tracked;
* how many ExConversation notifications arrived, so that a subscriber can wait for the
  snapshot that follows its subscription;
* the replays in progress, which collect the events of one conversation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from syncd.liveperson.protocol import ConversationChange, MessagingEvent

# How many conversations that stopped being tracked are remembered (their late events are
# then ignored quietly, not reported as a peer's anomaly).
MAX_FORMER_CONVERSATIONS = 100


class Replay:
    """Events of ``conversation_id`` with sequence ≥ ``from_sequence``, collected once each."""

    def __init__(self, conversation_id: str, from_sequence: int) -> None:
        self.conversation_id = conversation_id
        self.from_sequence = from_sequence
        self._by_sequence: dict[int, MessagingEvent] = {}

    def offer(self, event: MessagingEvent) -> None:
        """Keep ``event`` if it belongs to this replay (a repeat of a sequence is dropped)."""
        if event.dialog_id != self.conversation_id or event.sequence is None:
            return
        if event.sequence >= self.from_sequence:
            self._by_sequence.setdefault(event.sequence, event)

    def events(self) -> list[MessagingEvent]:
        """Return the collected events in sequence order."""
        return [self._by_sequence[sequence] for sequence in sorted(self._by_sequence)]


class ConversationTracker:
    """Thread-safe conversation state of one consumer session."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._open_conversation_id: str | None = None
        self._tracked: dict[str, None] = {}  # insertion-ordered set
        self._former: dict[str, None] = {}  # once tracked, oldest first
        self._snapshot_count = 0
        self._replays: list[Replay] = []

    @property
    def open_conversation_id(self) -> str | None:
        """The OPEN conversation last reported (or created), None when there is none."""
        with self._condition:
            return self._open_conversation_id

    def set_open(self, conversation_id: str) -> None:
        """Record ``conversation_id`` as the consumer's OPEN conversation (just created)."""
        with self._condition:
            self._open_conversation_id = conversation_id

    def forget_open(self) -> None:
        """Forget the OPEN conversation until a snapshot reports one again (reconnecting)."""
        with self._condition:
            self._open_conversation_id = None

    def track(self, conversation_id: str) -> None:
        """Re-subscribe ``conversation_id`` for messaging events after every reconnect."""
        with self._condition:
            self._tracked[conversation_id] = None

    def untrack(self, conversation_id: str) -> None:
        """Stop re-subscribing ``conversation_id``."""
        with self._condition:
            self._stop_tracking(conversation_id)

    def _stop_tracking(self, conversation_id: str) -> None:
        if conversation_id in self._tracked:
            del self._tracked[conversation_id]
            self._former[conversation_id] = None
            while len(self._former) > MAX_FORMER_CONVERSATIONS:
                del self._former[next(iter(self._former))]

    def was_following(self, conversation_id: str) -> bool:
        """True when ``conversation_id`` was tracked once: its late events are no anomaly."""
        with self._condition:
            return conversation_id in self._former

    def tracked(self) -> list[str]:
        """Return the tracked conversation ids, oldest first."""
        with self._condition:
            return list(self._tracked)

    def snapshot_count(self) -> int:
        """Return how many ExConversation notifications have been applied so far."""
        with self._condition:
            return self._snapshot_count

    def wait_for_snapshot(self, after_count: int, timeout_seconds: float) -> bool:
        """Wait until more than ``after_count`` ExConversation notifications were applied.

        Returns False when ``timeout_seconds`` passed first.
        """
        with self._condition:
            return self._condition.wait_for(
                lambda: self._snapshot_count > after_count, timeout_seconds
            )

    def is_following(self, conversation_id: str) -> bool:
        """True when ``conversation_id`` is tracked or being replayed: its messaging events
        are expected. Events of any other conversation did not come from our subscriptions."""
        with self._condition:
            return conversation_id in self._tracked or any(
                replay.conversation_id == conversation_id for replay in self._replays
            )

    def apply_conversation_changes(
        self, changes: Iterable[ConversationChange]
    ) -> list[ConversationChange]:
        """Apply one ExConversation notification's changes; return those about conversations
        this session knows (the others are left out, and changed nothing here).

        An open conversation becomes the OPEN one when none is known; a closed or deleted
        one (DELETE means "no longer matches the OPEN filter") is forgotten and untracked.
        Known: the OPEN conversation (also one just adopted as such) and tracked ones. Any
        other one, open while we have ours or closed, was never the route's.
        """
        known: list[ConversationChange] = []
        with self._condition:
            for change in changes:
                conversation_id = change.conversation_id
                if change.is_open:
                    if self._open_conversation_id is None:
                        self._open_conversation_id = conversation_id
                    if conversation_id in (self._open_conversation_id, *self._tracked):
                        known.append(change)
                    continue
                if conversation_id != self._open_conversation_id and (
                    conversation_id not in self._tracked
                ):
                    continue
                known.append(change)
                if self._open_conversation_id == conversation_id:
                    self._open_conversation_id = None
                self._stop_tracking(conversation_id)
            self._snapshot_count += 1
            self._condition.notify_all()
        return known

    def start_replay(self, conversation_id: str, from_sequence: int) -> Replay:
        """Begin collecting events of ``conversation_id``; end with ``finish_replay``."""
        replay = Replay(conversation_id, from_sequence)
        with self._condition:
            self._replays.append(replay)
        return replay

    def finish_replay(self, replay: Replay) -> list[MessagingEvent]:
        """Stop collecting for ``replay`` and return its events in sequence order."""
        with self._condition:
            if replay in self._replays:
                self._replays.remove(replay)
            return replay.events()

    def offer_events(self, events: Iterable[MessagingEvent]) -> None:
        """Hand messaging events to the replays in progress."""
        with self._condition:
            for event in events:
                for replay in self._replays:
                    replay.offer(event)
