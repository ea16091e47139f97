"""The state store's inbound records and per-conversation cursors.

Part of ``StateStore`` (see ``state.py``). A hosted file an agent sends becomes one
``inbound`` row (``pending → done | failed``), unique per (conversation, sequence) so a
replayed event never becomes a second download. The cursor (``resume_sequence``) only moves
past a file once that file is durable in the inbox.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from syncd.state import decode, transitions
from syncd.state.base import RecordsBase, Transaction
from syncd.state.model import InboundRow, InboundState, UnknownRowError, path_text


class InboundRecords(RecordsBase):
    """Inbound files, their retries, and how far each conversation has been read."""

    def record_inbound(
        self,
        route: str,
        conversation_id: str,
        sequence: int,
        relative_path: str,
        file_type: str,
        caption: str,
        originator_id: str,
        now: float,
        *,
        seen_through: int | Literal["sequence"] | None = "sequence",
    ) -> int | None:
        """Records a hosted file event as ``pending`` (due at ``now``); returns its row id.

        Returns None when this (conversation, sequence) was recorded before, which is what
        a replay produces. The cursor is raised in the same transaction, to ``sequence``
        by default, or to ``seen_through`` (None: left as it is) when events may come out
        of order. Raises ``UnknownRowError`` when the conversation was never recorded.
        """
        with self._transaction(f"record event {sequence} of {conversation_id}") as transaction:
            cursor = sequence if seen_through == "sequence" else seen_through
            if cursor is not None:
                self._note_sequence(transaction, conversation_id, cursor)
            elif not transaction.rows(
                "SELECT 1 FROM conversations WHERE conversation_id = ?", [conversation_id]
            ):
                raise UnknownRowError(f"conversations has no row {conversation_id!r}")
            if transaction.rows(
                "SELECT id FROM inbound WHERE conversation_id = ? AND sequence = ?",
                [conversation_id, sequence],
            ):
                return None
            return transaction.insert(
                "inbound",
                {
                    "route": route,
                    "conversation_id": conversation_id,
                    "sequence": sequence,
                    "relative_path": relative_path,
                    "file_type": file_type,
                    "caption": caption,
                    "originator_id": originator_id,
                    "state": InboundState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                },
            )

    def mark_inbound_done(self, row_id: int, local_path: Path, size_bytes: int, now: float) -> None:
        """pending → done, once the file is durable at ``local_path``."""
        self._move(
            "inbound",
            row_id,
            transitions.COMPLETE_DOWNLOAD,
            now,
            local_path=path_text(local_path),
            size_bytes=size_bytes,
            last_error=None,
            done_at=now,
        )

    def mark_inbound_failed(self, row_id: int, reason: str, now: float) -> None:
        """pending → failed, for good; ``reason`` is kept as ``last_error``."""
        self._move("inbound", row_id, transitions.FAIL_DOWNLOAD, now, last_error=reason)

    def schedule_inbound_retry(
        self, row_id: int, error: str, next_attempt_at: float, now: float
    ) -> None:
        """Counts a failed download attempt; the row is due again at ``next_attempt_at``."""
        self._count_failed_attempt(
            "inbound", row_id, transitions.SCHEDULE_DOWNLOAD_RETRY, error, next_attempt_at, now
        )

    def get_inbound(self, row_id: int) -> InboundRow:
        """The row ``row_id``; raises ``UnknownRowError`` when there is none."""
        with self._reading(f"read inbound row {row_id}") as transaction:
            return decode.inbound_from_record(transaction.get("inbound", row_id))

    def due_inbound(self, route: str, now: float) -> list[InboundRow]:
        """Pending rows of ``route`` due at ``now``, oldest first."""
        with self._reading(f"list due inbound rows of route {route}") as transaction:
            records = transaction.rows(
                "SELECT * FROM inbound WHERE route = ? AND state = ? AND next_attempt_at <= ?"
                " ORDER BY id",
                [route, InboundState.PENDING, now],
            )
        return [decode.inbound_from_record(record) for record in records]

    def failed_inbound(self, route: str, limit: int = 5) -> list[InboundRow]:
        """The last ``limit`` refused inbound rows of ``route`` (with their reasons), newest
        first: what ``syncd status`` shows."""
        with self._reading(f"list refused inbound rows of route {route}") as transaction:
            records = transaction.rows(
                "SELECT * FROM inbound WHERE route = ? AND state = ? ORDER BY id DESC LIMIT ?",
                [route, InboundState.FAILED, limit],
            )
        return [decode.inbound_from_record(record) for record in records]

    def inbound_counts_by_state(self, route: str | None = None) -> dict[str, int]:
        """How many inbound rows are in each state (every state listed, zeros included)."""
        return self._count_states("inbound", InboundState, route)

    def note_sequence_seen(self, conversation_id: str, sequence: int) -> None:
        """Raises the cursor of ``conversation_id`` to ``sequence``; it never moves back.

        For a file event, call ``record_inbound`` instead (it notes the sequence itself):
        noting first and crashing before recording would skip the file. Raises
        ``UnknownRowError`` when the conversation was never recorded.
        """
        with self._transaction(f"advance the cursor of {conversation_id}") as transaction:
            self._note_sequence(transaction, conversation_id, sequence)

    @staticmethod
    def _note_sequence(transaction: Transaction, conversation_id: str, sequence: int) -> None:
        changed = transaction.run(
            "UPDATE conversations SET last_seen_sequence = max(last_seen_sequence, ?)"
            " WHERE conversation_id = ?",
            [sequence, conversation_id],
        )
        if changed != 1:
            raise UnknownRowError(f"conversations has no row {conversation_id!r}")

    def resume_sequence(self, conversation_id: str) -> int:
        """The ``fromSeq`` to subscribe to ``conversation_id`` from.

        That is the first sequence whose file is still pending, else the one after the last
        sequence seen, else 0. Replaying from a pending file is harmless: ``record_inbound``
        ignores sequences it already has.
        """
        with self._reading(f"read the cursor of {conversation_id}") as transaction:
            first_pending = transaction.value(
                "SELECT min(sequence) FROM inbound WHERE conversation_id = ? AND state = ?",
                [conversation_id, InboundState.PENDING],
            )
            last_seen = transaction.value(
                "SELECT last_seen_sequence FROM conversations WHERE conversation_id = ?",
                [conversation_id],
            )
        if first_pending is not None:
            return int(first_pending)
        return 0 if last_seen is None else int(last_seen) + 1
