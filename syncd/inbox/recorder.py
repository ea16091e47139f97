"""Recording what arrives from a route's conversations, on the session's reader thread.

Each messaging event becomes, in one transaction, its conversation row, an ``inbound`` row
when it carries an agent's file (or, with ``save_agent_text``, an agent's text) and the
conversation's cursor, so replays never save twice. An event that cannot be recorded (disk
full) is not lost: its conversation is queued and replayed later by the receiver thread
(``replay_unrecorded``). Conversation changes keep the conversations table current. Nothing
here downloads or writes files (``receiver.py`` does).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import AuthenticationError, StateError, TransientError
from syncd.inbox.agent_text import AGENT_TEXT_TYPE, cap_text
from syncd.inbox.conversations import ConversationKeeper
from syncd.inbox.cursor import GaplessCursor
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.rules.error_kinds import log_kind
from syncd.state.store import StateStore

# The receiver's logger: these lines were always the receiver's, and the journal shows the
# logger name.
log = logging.getLogger("syncd.receiver")

# How often a conversation whose events could not be recorded (disk full) is replayed.
REPLAY_RETRY_SECONDS = 5.0


class EventRecorder:
    """Records one route's messaging events and conversation changes as they arrive.

    ``wake`` tells the receiver thread there is work (a row to save, a conversation to
    follow or to replay); it must only signal.
    """

    def __init__(
        self,
        route: RouteConfig,
        store: StateStore,
        client: ConsumerClient,
        keeper: ConversationKeeper,
        clock: Callable[[], float],
        wake: Callable[[], None],
    ) -> None:
        self.route = route
        self._store = store
        self._client = client
        self._keeper = keeper
        self._clock = clock
        self._wake = wake
        # The stored cursor never passes a sequence that has not arrived (no order promised).
        self._cursor = GaplessCursor(store.resume_sequence)
        # Conversation → first sequence that could not be recorded, to be replayed later
        # (the cursor may move past it meanwhile, with later events that were recorded).
        self._unrecorded: dict[str, int] = {}
        self._replay_due_at = 0.0
        self._replay_lock = threading.Lock()

    def handle_event(self, event: MessagingEvent) -> None:
        """Record one messaging event (called on the session's reader thread).

        When the state cannot be written (disk full) the event is not lost: the cursor did
        not move, and the receiver thread replays the conversation from it later.
        """
        try:
            self._record_event(event)
        except StateError as error:
            log.error(
                "route=%s: cannot record event %s of conversation %s, will read it again: %s",
                self.route.name,
                event.sequence,
                event.dialog_id,
                error,
                extra=log_kind(kind_of(error)),
            )
            sequence = event.sequence or 0
            with self._replay_lock:
                first = self._unrecorded.get(event.dialog_id, sequence)
                self._unrecorded[event.dialog_id] = min(first, sequence)
            self._wake()

    def _record_event(self, event: MessagingEvent) -> None:
        if event.sequence is None:
            return  # chat states ("agent is typing") carry no sequence and no content
        now = self._clock()
        self._keeper.note_activity(event.dialog_id)
        ours = event.is_from_consumer(self._client.consumer_id)
        file = event.hosted_file if not ours else None
        text = event.text if not ours and self.route.save_agent_text else None
        through = self._cursor.through_if_seen(event.dialog_id, event.sequence)
        # One transaction per event (every page we publish comes back as an event): the
        # conversation, the inbound row and the cursor are committed together.
        with self._store.batch(f"record event {event.sequence} of {event.dialog_id}"):
            # Known conversations are left as they are; an unknown one (a replay that raced
            # the conversation notification) is recorded so its cursor and files have a
            # parent row.
            self._store.record_conversation(
                self.route.name, event.dialog_id, self.route.skill_id, now, close_others=False
            )
            row_id = None
            saved: tuple[str, str, str] | None = None  # relative path, file type, caption
            if file is not None:
                saved = (file.relative_path, file.file_type, file.caption)
            elif text is not None:
                # The text rides in the caption column: it has no storage path.
                saved = ("", AGENT_TEXT_TYPE, cap_text(text))
            if saved is not None:
                row_id = self._store.record_inbound(
                    self.route.name,
                    event.dialog_id,
                    event.sequence,
                    *saved,
                    event.originator_id,
                    now,
                    seen_through=through,
                )
            elif through is not None:
                self._store.note_sequence_seen(event.dialog_id, through)
        self._cursor.mark_seen(event.dialog_id, event.sequence)
        if row_id is not None:
            crash_point("inbound-recorded")
            log.info(
                "route=%s: agent sent %s (conversation %s, sequence %d)",
                self.route.name,
                "a file" if file is not None else "a message",
                event.dialog_id,
                event.sequence,
            )
            self._wake()
        elif event.text is not None and not ours:
            # Customer conversation content stays out of the journal: its length only.
            log.info(
                "route=%s: agent message in conversation %s (sequence %d, %d characters)",
                self.route.name,
                event.dialog_id,
                event.sequence,
                len(event.text),
            )

    def handle_conversation_change(self, change: ConversationChange) -> None:
        """Keep the conversations table current (called on the session's reader thread)."""
        if change.is_open:
            self._keeper.conversation_opened(change.conversation_id, change.skill_id)
            self._wake()  # a new or resumed conversation is followed by the next round
        else:
            # No new conversation is requested here: the next file to send opens one.
            self._keeper.conversation_closed(change.conversation_id)

    def replay_unrecorded(self, now: float) -> float:
        """Replay the conversations whose events could not be recorded, at most every
        ``REPLAY_RETRY_SECONDS``; returns the seconds until the next replay is due.

        The replayed events come back through ``handle_event``. Raises the client's errors;
        after a transient one the conversations stay queued.
        """
        with self._replay_lock:
            if not self._unrecorded:
                return 60.0
            if now < self._replay_due_at:
                return self._replay_due_at - now
            conversations = sorted(self._unrecorded.items())
            self._unrecorded.clear()
            self._replay_due_at = now + REPLAY_RETRY_SECONDS
        for index, (conversation_id, first) in enumerate(conversations):
            try:
                # Replaying what was recorded already is harmless: rows are unique.
                from_sequence = min(first, self._store.resume_sequence(conversation_id))
                self._client.replay_events(conversation_id, from_sequence)
            except (TransientError, AuthenticationError, StateError):
                with self._replay_lock:
                    for key, value in conversations[index:]:
                        self._unrecorded[key] = min(value, self._unrecorded.get(key, value))
                raise
        return REPLAY_RETRY_SECONDS
