"""A route's conversations as agents live them: followed when open, never opened idly.

A ``cm.ConsumerRequestConversation`` rings an agent, so the receiver never asks for one: the
sender does, when a file is ready to publish and the route has no OPEN conversation. The
``ConversationKeeper`` only follows what exists:

* every OPEN conversation of the route's consumer is subscribed (from the stored cursor),
  including one an agent resumed and a second one next to syncd's own;
* a conversation recorded open that LivePerson no longer lists (closed while syncd was
  down) is read to its end once, so no file sent before the close is lost, then marked
  closed;
* with ``close_after_idle_minutes`` a conversation in which nothing moved in either
  direction for that long, while no file waits to be sent, is closed with
  ``cm.UpdateConversationField`` so it leaves the agents' queue.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncd.config import RouteConfig
from syncd.errors import RequestRejectedError
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.rules.error_kinds import log_kind
from syncd.state.model import UnknownRowError
from syncd.state.store import StateStore

log = logging.getLogger("syncd.receiver")

# How often the keeper looks again when nothing wakes it.
FOLLOW_INTERVAL_SECONDS = 30.0


class ConversationKeeper:
    """Keeps one route's followed conversations and the state's view of them in line."""

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        client: ConsumerClient,
        clock: Callable[[], float],
        has_pending_files: Callable[[], bool],
    ) -> None:
        self.route = route
        self._store = store
        self._client = client
        self._clock = clock
        self._has_pending_files = has_pending_files
        self._lock = threading.Lock()
        self._last_activity: dict[str, float] = {}
        self._reconciled = False

    def note_activity(self, conversation_id: str) -> None:
        """Something moved in ``conversation_id`` (an event either way) just now."""
        with self._lock:
            self._last_activity[conversation_id] = self._clock()

    def conversation_opened(self, conversation_id: str, skill_id: str | None) -> None:
        """LivePerson reports ``conversation_id`` OPEN (reader thread): record it."""
        self._store.note_conversation_open(
            self.route.name, conversation_id, skill_id, self._clock()
        )
        with self._lock:
            self._last_activity.setdefault(conversation_id, self._clock())

    def conversation_closed(self, conversation_id: str) -> None:
        """LivePerson reports ``conversation_id`` closed (reader thread): record it; a
        conversation this route never recorded, or recorded closed, is left alone (the
        metadata probes of exactly-once report old closed conversations again)."""
        if conversation_id not in self._store.open_conversations(self.route.name):
            return
        try:
            self._store.mark_conversation_closed(conversation_id, self._clock())
        except UnknownRowError:
            return
        with self._lock:
            self._last_activity.pop(conversation_id, None)
        log.info("route=%s: conversation %s was closed", self.route.name, conversation_id)

    def step(self, now: float) -> float:
        """Follow every OPEN conversation, settle those closed while away, close idle
        ones; return the seconds until the next step is due.

        Raises the client's errors (TransientError, AuthenticationError, ...) and
        StateError.
        """
        open_ids = self._client.follow_open_conversations()
        for conversation_id in open_ids:
            self.conversation_opened(conversation_id, self.route.skill_id)
        if not self._reconciled:
            self._settle_closed_while_away(set(open_ids))
            self._reconciled = True
        return self._close_idle(open_ids, now)

    def _settle_closed_while_away(self, open_ids: set[str]) -> None:
        for conversation_id in self._store.open_conversations(self.route.name):
            if conversation_id in open_ids:
                continue
            try:
                # Its events reach the receiver through the session's usual callback.
                self._client.replay_events(
                    conversation_id, self._store.resume_sequence(conversation_id)
                )
            except RequestRejectedError as error:
                if error.is_transient:
                    raise
                # Another consumer's (before a re-signup): nothing more can be read.
                log.warning(
                    "route=%s: conversation %s can no longer be read: %s",
                    self.route.name,
                    conversation_id,
                    error,
                    extra=log_kind(kind_of(error)),
                )
            self._store.mark_conversation_closed(conversation_id, self._clock())
            log.info(
                "route=%s: conversation %s was closed while syncd was away",
                self.route.name,
                conversation_id,
            )

    def _close_idle(self, open_ids: list[str], now: float) -> float:
        idle_minutes = self.route.close_after_idle_minutes
        if idle_minutes is None:
            return FOLLOW_INTERVAL_SECONDS
        idle_seconds = idle_minutes * 60.0
        wait_seconds = FOLLOW_INTERVAL_SECONDS
        for conversation_id in open_ids:
            with self._lock:
                last = self._last_activity.setdefault(conversation_id, now)
            due_in = last + idle_seconds - now
            if due_in > 0 or self._has_pending_files():
                wait_seconds = min(wait_seconds, max(due_in, 1.0))
                continue
            self._client.close_conversation(conversation_id)
            self._store.mark_conversation_closed(conversation_id, now)
            with self._lock:
                self._last_activity.pop(conversation_id, None)
            log.info(
                "route=%s: closed conversation %s after %g idle minutes",
                self.route.name,
                conversation_id,
                idle_minutes,
            )
        return wait_seconds
