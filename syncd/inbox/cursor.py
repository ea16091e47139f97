"""How far a conversation's events were seen without a gap, whatever order they came in.

LivePerson promises no order between a subscription's history and live events, and may
split or repeat history. The stored cursor (``last_seen_sequence``) says where to resume
after a restart, so it must never move past a sequence that has not arrived yet: a live
event 12 arriving before history event 9 must not let a crash skip event 9. ``GaplessCursor``
remembers, per conversation, the first sequence not yet seen and the ones seen above it,
and only ever reports a cursor below the first gap. It starts each conversation at the
sequence the session subscribed it from (``start``). Pure and thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class GaplessCursor:
    """Per conversation: the highest sequence up to which every event has been seen."""

    def __init__(self, start: Callable[[str], int]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}
        self._above: dict[str, set[int]] = {}

    def _first_unseen(self, conversation_id: str) -> int:
        if conversation_id not in self._next:
            self._next[conversation_id] = self._start(conversation_id)
            self._above[conversation_id] = set()
        return self._next[conversation_id]

    def through_if_seen(self, conversation_id: str, sequence: int) -> int | None:
        """The cursor once ``sequence`` is also seen, or None when it would not move."""
        with self._lock:
            first_unseen = self._first_unseen(conversation_id)
            if sequence != first_unseen:
                return None
            above = self._above[conversation_id]
            through = sequence
            while through + 1 in above:
                through += 1
            return through

    def mark_seen(self, conversation_id: str, sequence: int) -> None:
        """Remember ``sequence`` as seen (call once its event is recorded)."""
        with self._lock:
            first_unseen = self._first_unseen(conversation_id)
            if sequence < first_unseen:
                return
            above = self._above[conversation_id]
            above.add(sequence)
            while first_unseen in above:
                above.discard(first_unseen)
                first_unseen += 1
            self._next[conversation_id] = first_unseen
