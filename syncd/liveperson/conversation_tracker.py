"""What one consumer session knows about its conversations, fed by notifications.

Pure state with a lock and a condition, no I/O: the reader thread of the messaging
connection applies notifications here, and the threads calling ``ConsumerClient`` read and
wait on it. It knows

* the consumer's OPEN conversations, as the ``cqm.SubscribeExConversations`` stream reports
  them (usually one, but an agent may resume a closed one), newest first by start time;
* which conversations are *tracked*, i.e. re-subscribed for messaging events after every
  reconnect; a conversation reported closed stops being tracked (and is remembered as
  *former*, so its late events are no anomaly);
* how many ExConversation notifications arrived, so that a subscriber can wait for the
  snapshot that follows its subscription;
* the ExConversation notifications of short-lived metadata *probes*, by subscription id;
* the replays in progress, which collect the events of one conversation.

Nothing here depends on the order in which notifications and responses arrive: waits are
for facts (a notification carrying a subscription id, a contiguous run of sequences).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.liveperson.protocol import CONSUMER_ROLE

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

    def covers(self, last_sequence: int) -> bool:
        """True when every sequence from ``from_sequence`` to ``last_sequence`` was seen."""
        return all(
            sequence in self._by_sequence
            for sequence in range(self.from_sequence, last_sequence + 1)
        )

    def events(self) -> list[MessagingEvent]:
        """Return the collected events in sequence order."""
        return [self._by_sequence[sequence] for sequence in sorted(self._by_sequence)]


class ConversationTracker:
    """Thread-safe conversation state of one consumer session."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        # OPEN conversation id → its start time in ms (or a rank above every known one
        # for a conversation just created, whose start time is not reported yet).
        self._open: dict[str, int] = {}
        self._tracked: dict[str, None] = {}  # insertion-ordered set
        self._former: dict[str, None] = {}  # once tracked, oldest first
        self._snapshot_count = 0
        self._replays: list[Replay] = []
        self._probes = 0
        self._probed: dict[str, list[ConversationChange]] = {}

    @property
    def open_conversation_id(self) -> str | None:
        """The newest OPEN conversation (by start time), None when there is none."""
        with self._condition:
            if not self._open:
                return None
            return max(self._open, key=lambda conversation_id: self._open[conversation_id])

    def open_conversation_ids(self) -> list[str]:
        """Every OPEN conversation, oldest first."""
        with self._condition:
            return sorted(self._open, key=lambda conversation_id: self._open[conversation_id])

    def set_open(self, conversation_id: str) -> None:
        """Record ``conversation_id`` as OPEN and the newest (it was just created)."""
        with self._condition:
            self._open[conversation_id] = max(self._open.values(), default=0) + 1

    def forget(self, conversation_id: str) -> None:
        """Forget that ``conversation_id`` is OPEN (this session just closed it)."""
        with self._condition:
            self._open.pop(conversation_id, None)

    def forget_open(self) -> None:
        """Forget the OPEN conversations until a snapshot reports them again (reconnecting)."""
        with self._condition:
            self._open.clear()

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
        self, changes: Iterable[ConversationChange], subscription_id: str | None = None
    ) -> list[ConversationChange]:
        """Apply one ExConversation notification's changes; return those about conversations
        this session knows (the others are left out, and changed nothing here).

        An open conversation joins the OPEN ones (its start time ranks it) when it is ours:
        already known, or with a CONSUMER among its participants (the consumer's
        subscription reports its own conversations, and an agent may resume one; a change
        naming no consumer at all is no conversation of ours). A closed or deleted one
        (DELETE means "no longer matches the OPEN filter") is known when it was OPEN or
        tracked here; it is then forgotten and untracked. While a probe runs, every change
        is also kept under ``subscription_id``.
        """
        changes = list(changes)
        known: list[ConversationChange] = []
        with self._condition:
            for change in changes:
                conversation_id = change.conversation_id
                if change.is_open:
                    if not self._is_ours(change):
                        continue
                    if change.start_ms is not None:
                        self._open[conversation_id] = change.start_ms
                    elif conversation_id not in self._open:
                        self._open[conversation_id] = max(self._open.values(), default=0) + 1
                    known.append(change)
                    continue
                if conversation_id not in self._open and conversation_id not in self._tracked:
                    continue
                known.append(change)
                self._open.pop(conversation_id, None)
                self._stop_tracking(conversation_id)
            if self._probes and subscription_id is not None:
                self._probed.setdefault(subscription_id, []).extend(changes)
            self._snapshot_count += 1
            self._condition.notify_all()
        return known

    def _is_ours(self, change: ConversationChange) -> bool:
        if change.conversation_id in self._open or change.conversation_id in self._tracked:
            return True
        return CONSUMER_ROLE in change.participants.values()

    def start_probe(self) -> None:
        """Keep ExConversation changes by subscription id until ``finish_probe``."""
        with self._condition:
            self._probes += 1

    def probing(self) -> bool:
        """True while a metadata probe runs."""
        with self._condition:
            return self._probes > 0

    def wait_for_probe(
        self, subscription_id: str, timeout_seconds: float
    ) -> list[ConversationChange] | None:
        """Return the changes notified for ``subscription_id`` (arrived before or after this
        call), or None when none arrived within ``timeout_seconds``."""
        with self._condition:
            if not self._condition.wait_for(
                lambda: subscription_id in self._probed, timeout_seconds
            ):
                return None
            return list(self._probed[subscription_id])

    def finish_probe(self) -> None:
        """End one probe; the kept changes are dropped when no probe runs any more."""
        with self._condition:
            self._probes -= 1
            if not self._probes:
                self._probed.clear()

    def start_replay(self, conversation_id: str, from_sequence: int) -> Replay:
        """Begin collecting events of ``conversation_id``; end with ``finish_replay``."""
        replay = Replay(conversation_id, from_sequence)
        with self._condition:
            self._replays.append(replay)
        return replay

    def wait_for_replay(self, replay: Replay, last_sequence: int, timeout_seconds: float) -> bool:
        """Wait until ``replay`` holds every sequence up to ``last_sequence``; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: replay.covers(last_sequence), timeout_seconds)

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
            self._condition.notify_all()
