"""The state store's records of who each route speaks as, and in which conversation.

Part of ``StateStore`` (see ``state.py``): consumer identities (one LivePerson consumer per
route) and the conversations those consumers opened. It reaches the database only through
``state.base.Transaction``.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.errors import StateError
from syncd.rules.error_kinds import ErrorKind
from syncd.state import decode
from syncd.state.base import RecordsBase
from syncd.state.model import ConversationRow, ConversationState, Identity


@dataclass(frozen=True)
class RouteConnection:
    """A route's LivePerson connection as the daemon last recorded it.

    ``state`` is ``connected``, ``connecting``, ``disconnected`` or ``auth-failed`` (None when
    no daemon ever recorded one); ``changed_at`` is when the daemon saw it change (unix s).
    """

    state: str | None
    changed_at: float | None


class RouteRecords(RecordsBase):
    """Identities and conversations, keyed by route name."""

    def get_identity(self, route: str) -> Identity | None:
        """The consumer identity of ``route``, or None before its first signup."""
        with self._reading(f"read the identity of route {route}") as transaction:
            records = transaction.rows("SELECT * FROM identities WHERE route = ?", [route])
        return decode.identity_from_record(records[0]) if records else None

    def save_identity(
        self,
        route: str,
        consumer_id: str,
        jwt: str,
        now: float,
        *,
        flow: str = "signup",
        external_token: str | None = None,
        refresh_deadline: float | None = None,
    ) -> None:
        """Stores the identity of ``route`` (a renewed token, or a new consumer), keeping the
        record of the last replacement."""
        record = {
            "route": route,
            "consumer_id": consumer_id,
            "jwt": jwt,
            "created_at": now,
            "flow": flow,
            "external_token": external_token,
            "refresh_deadline": refresh_deadline,
        }
        with self._transaction(f"save the identity of route {route}") as transaction:
            transaction.upsert("identities", record, "route")

    def note_identity_replaced(self, route: str, reason: str, now: float) -> None:
        """Records why ``route`` had to take a new consumer (``syncd status`` shows it).

        Called after the new identity was saved; ``reason`` is free of tokens.
        """
        with self._transaction(f"note the new identity of route {route}") as transaction:
            transaction.run(
                "UPDATE identities SET replaced_reason = ?, replaced_at = ? WHERE route = ?",
                [reason, now, route],
            )

    def record_conversation(
        self,
        route: str,
        conversation_id: str,
        skill_id: str | None,
        now: float,
        *,
        close_others: bool = True,
    ) -> None:
        """Records ``conversation_id`` as the open conversation of ``route``.

        With ``close_others`` any other conversation still open for the route is marked
        closed at ``now`` (a consumer requests one at a time; the others closed while syncd
        was not listening); without it they are left as they are (an agent may have resumed
        one). Recording a known conversation again changes nothing. Raises ``StateError``
        when the conversation is already known under another route.
        """
        with self._transaction(f"record conversation {conversation_id}") as transaction:
            known = transaction.rows(
                "SELECT route FROM conversations WHERE conversation_id = ?", [conversation_id]
            )
            if known and known[0]["route"] != route:
                raise StateError(
                    f"conversation {conversation_id} belongs to route {known[0]['route']!r}, "
                    f"not to {route!r}"
                )
            if known:
                return
            if close_others:
                transaction.run(
                    "UPDATE conversations SET state = ?, closed_at = ?"
                    " WHERE route = ? AND state = ?",
                    [ConversationState.CLOSE, now, route, ConversationState.OPEN],
                )
            transaction.insert(
                "conversations",
                {
                    "conversation_id": conversation_id,
                    "route": route,
                    "skill_id": skill_id,
                    "state": ConversationState.OPEN,
                    "opened_at": now,
                    "last_seen_sequence": -1,
                },
            )

    def note_conversation_open(
        self, route: str, conversation_id: str, skill_id: str | None, now: float
    ) -> None:
        """Records that LivePerson reports ``conversation_id`` OPEN for ``route``.

        Unlike ``record_conversation`` other open conversations stay open (an agent may
        resume a closed one next to syncd's own). A known closed conversation becomes open
        again (resumed); an unknown one is inserted. Raises ``StateError`` when the
        conversation is known under another route.
        """
        with self._transaction(f"note open conversation {conversation_id}") as transaction:
            known = transaction.rows(
                "SELECT route, state FROM conversations WHERE conversation_id = ?",
                [conversation_id],
            )
            if known and known[0]["route"] != route:
                raise StateError(
                    f"conversation {conversation_id} belongs to route {known[0]['route']!r}, "
                    f"not to {route!r}"
                )
            if known:
                transaction.run(
                    "UPDATE conversations SET state = ?, closed_at = NULL"
                    " WHERE conversation_id = ? AND state = ?",
                    [ConversationState.OPEN, conversation_id, ConversationState.CLOSE],
                )
                return
            transaction.insert(
                "conversations",
                {
                    "conversation_id": conversation_id,
                    "route": route,
                    "skill_id": skill_id,
                    "state": ConversationState.OPEN,
                    "opened_at": now,
                    "last_seen_sequence": -1,
                },
            )

    def open_conversations(self, route: str) -> list[str]:
        """The ids of every conversation of ``route`` recorded as open, oldest first."""
        with self._reading(f"list the open conversations of route {route}") as transaction:
            records = transaction.rows(
                "SELECT conversation_id FROM conversations WHERE route = ? AND state = ?"
                " ORDER BY opened_at, rowid",
                [route, ConversationState.OPEN],
            )
        return [str(record["conversation_id"]) for record in records]

    def mark_conversation_closed(self, conversation_id: str, now: float) -> None:
        """Marks a conversation closed at ``now``; closing it again changes nothing.

        Raises ``UnknownRowError`` for a conversation that was never recorded.
        """
        with self._transaction(f"close conversation {conversation_id}") as transaction:
            transaction.get("conversations", conversation_id)
            transaction.run(
                "UPDATE conversations SET state = ?, closed_at = ?"
                " WHERE conversation_id = ? AND state = ?",
                [ConversationState.CLOSE, now, conversation_id, ConversationState.OPEN],
            )

    def open_conversation(self, route: str) -> str | None:
        """The id of the open conversation of ``route``, or None when it has none."""
        with self._reading(f"find the open conversation of route {route}") as transaction:
            conversation_id = transaction.value(
                "SELECT conversation_id FROM conversations WHERE route = ? AND state = ?"
                " ORDER BY opened_at DESC, rowid DESC LIMIT 1",
                [route, ConversationState.OPEN],
            )
        return None if conversation_id is None else str(conversation_id)

    def conversations_for(self, route: str) -> list[ConversationRow]:
        """Every conversation ``route`` ever recorded, oldest first."""
        with self._reading(f"list the conversations of route {route}") as transaction:
            records = transaction.rows(
                "SELECT * FROM conversations WHERE route = ? ORDER BY opened_at, rowid", [route]
            )
        return [decode.conversation_from_record(record) for record in records]

    def note_success(self, route: str, now: float) -> None:
        """Records that ``route`` just completed a transfer (shown by ``syncd status``)."""
        with self._transaction(f"note a success of route {route}") as transaction:
            transaction.upsert("route_status", {"route": route, "last_success_at": now}, "route")

    def note_error(self, route: str, message: str, now: float, *, kind: ErrorKind | None) -> None:
        """Records the latest error of ``route`` and its ``kind``.

        ``message`` is shown to operators as is, so callers pass text already free of tokens
        and URL signatures. ``kind`` is what the error is about, decided by the caller (from
        the exception's class with ``liveperson.error_kinds.kind_of``, or stated where only
        a message exists); None only where nobody can tell (a logged line that named no
        kind): the metrics then guess from the words. Raises StateError.
        """
        record = {
            "route": route,
            "last_error": message,
            "last_error_at": now,
            "last_error_kind": None if kind is None else str(kind),
        }
        with self._transaction(f"note an error of route {route}") as transaction:
            transaction.upsert("route_status", record, "route")

    def note_connection_state(self, route: str, state: str, now: float) -> bool:
        """Records that ``route``'s connection is in ``state`` since ``now``.

        Meant to be called when the daemon sees the state change; recording the state the
        route already has writes nothing and keeps the older time. Returns True when it wrote.
        """
        with self._transaction(f"note the connection state of route {route}") as transaction:
            current = transaction.value(
                "SELECT connection_state FROM route_status WHERE route = ?", [route]
            )
            if current == state:
                return False
            record = {"route": route, "connection_state": state, "connection_changed_at": now}
            transaction.upsert("route_status", record, "route")
        return True

    def connection_of(self, route: str) -> RouteConnection:
        """The connection state last recorded for ``route`` (both fields None when none was)."""
        with self._reading(f"read the connection state of route {route}") as transaction:
            records = transaction.rows(
                "SELECT connection_state, connection_changed_at FROM route_status WHERE route = ?",
                [route],
            )
        if not records:
            return RouteConnection(None, None)
        return RouteConnection(records[0]["connection_state"], records[0]["connection_changed_at"])
