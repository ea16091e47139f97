"""The read-only questions the intake, the sender and the reports ask of the outbound journal.

Part of ``StateStore`` (see ``state.store``), beside ``state.outbound``, which moves the rows:
nothing here writes. Each method reads in one snapshot and returns ``OutboundRow`` values (or
counts and sums built from them).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from syncd.state import decode, model
from syncd.state.base import RecordsBase
from syncd.state.model import OutboundRow, OutboundState, path_text


def _marks(count: int) -> str:
    return ", ".join("?" * count)


class OutboundQueries(RecordsBase):
    """The questions the intake and the sender ask of the outbound journal."""

    def get_outbound(self, row_id: int) -> OutboundRow:
        """The row ``row_id``; raises ``UnknownRowError`` when there is none."""
        with self._reading(f"read outbound row {row_id}") as transaction:
            return decode.outbound_from_record(transaction.get("outbound", row_id))

    def outbound_in_states(
        self, states: Iterable[OutboundState], route: str | None = None, limit: int | None = None
    ) -> list[OutboundRow]:
        """Rows in any of ``states`` (of ``route``, or of every route), oldest first.

        ``limit`` keeps only the oldest rows: the sender looks at the head of a long queue
        without loading (and building rows for) the whole of it on every step.
        """
        wanted = sorted(set(states))
        sql = f"SELECT * FROM outbound WHERE state IN ({_marks(len(wanted))})"  # noqa: S608
        parameters: list[object] = list(wanted)
        if route is not None:
            sql += " AND route = ?"
            parameters.append(route)
        with self._reading("list outbound rows") as transaction:
            if limit is not None:
                sql += " ORDER BY id LIMIT ?"
                parameters.append(limit)
            else:
                sql += " ORDER BY id"
            records = transaction.rows(sql, parameters)
        return [decode.outbound_from_record(record) for record in records]

    def recent_problems(self, route: str, limit: int = 10) -> list[OutboundRow]:
        """The newest finished rows of ``route`` that carry a reason: failed ones, and done
        ones whose original could not be archived; newest first, at most ``limit``."""
        sql = (
            "SELECT * FROM outbound WHERE route = ? AND state IN (?, ?)"
            " AND last_error IS NOT NULL ORDER BY updated_at DESC, id DESC LIMIT ?"
        )
        parameters = [route, OutboundState.FAILED, OutboundState.DONE, limit]
        with self._reading(f"list the problems of route {route}") as transaction:
            records = transaction.rows(sql, parameters)
        return [decode.outbound_from_record(record) for record in records]

    def due_outbound(
        self, route: str, states: Iterable[OutboundState], now: float
    ) -> list[OutboundRow]:
        """Rows of ``route`` in ``states`` that are due at ``now``, oldest first.

        Oldest first because publishing is FIFO per route (pages of a scan keep their order).
        """
        wanted = sorted(set(states))
        sql = (
            "SELECT * FROM outbound WHERE route = ?"  # noqa: S608 (only placeholders are added)
            f" AND state IN ({_marks(len(wanted))}) AND next_attempt_at <= ? ORDER BY id"
        )
        with self._reading(f"list due outbound rows of route {route}") as transaction:
            records = transaction.rows(sql, [route, *wanted, now])
        return [decode.outbound_from_record(record) for record in records]

    def find_outbound_by_source(
        self, route: str, source_path: Path, inode: int, size_bytes: int, mtime_ns: int
    ) -> OutboundRow | None:
        """The ``detected`` row journaled for this very outbox file, or None.

        Only ``detected`` rows are searched: later rows' files have left the outbox, and a
        finished row must never hide a new scan that reuses a name (and perhaps an inode).
        """
        with self._reading(f"look up {source_path}") as transaction:
            records = transaction.rows(
                "SELECT * FROM outbound WHERE route = ? AND state = ? AND source_path = ?"
                " AND inode = ? AND size_bytes = ? AND mtime_ns = ? ORDER BY id DESC LIMIT 1",
                [
                    route,
                    OutboundState.DETECTED,
                    path_text(source_path),
                    inode,
                    size_bytes,
                    mtime_ns,
                ],
            )
        return decode.outbound_from_record(records[0]) if records else None

    def taken_sources(self, route: str) -> set[tuple[str, int, int, int]]:
        """(source path, inode, size, mtime_ns) of every row of ``route`` that is on its way
        or finished with a reason.

        A file still in the outbox with one of these versions is one syncd could not move
        (sent as a copy, or failed and left in place): the intake must not journal it again.
        Unfinished rows are included because a copy's original stays while it is sent.
        """
        # A failed row's file usually went to failed/: only one whose reason says it stayed
        # in the outbox is taken (a file put back by `syncd retry`, or by hand, is new work).
        sql = (
            "SELECT source_path, inode, size_bytes, mtime_ns FROM outbound WHERE route = ?"
            " AND (state NOT IN (?, ?, ?) OR (state = ? AND last_error IS NOT NULL)"
            " OR (state = ? AND instr(last_error, ?) > 0))"
        )
        parameters = [
            route,
            OutboundState.DETECTED,
            OutboundState.DONE,
            OutboundState.FAILED,
            OutboundState.DONE,
            OutboundState.FAILED,
            model.LEFT_IN_OUTBOX,
        ]
        with self._reading(f"list the taken files of route {route}") as transaction:
            records = transaction.rows(sql, parameters)
        return {
            (str(r["source_path"]), int(r["inode"]), int(r["size_bytes"]), int(r["mtime_ns"]))
            for r in records
        }

    def find_outbound_by_work_path(self, work_path: Path) -> OutboundRow | None:
        """The row that claimed ``work_path`` (in any state), or None."""
        with self._reading(f"look up {work_path}") as transaction:
            records = transaction.rows(
                "SELECT * FROM outbound WHERE work_path = ? ORDER BY id DESC LIMIT 1",
                [path_text(work_path)],
            )
        return decode.outbound_from_record(records[0]) if records else None

    def counts_by_state(self, route: str | None = None) -> dict[str, int]:
        """How many outbound rows are in each state (every state listed, zeros included)."""
        return self._count_states("outbound", OutboundState, route)

    def sent_byte_totals(self, route: str) -> tuple[int, int]:
        """Bytes of the originals, and bytes uploaded, of every file of ``route`` sent so far."""
        with self._reading(f"sum the bytes sent by route {route}") as transaction:
            records = transaction.rows(
                "SELECT coalesce(sum(size_bytes), 0) AS original,"
                " coalesce(sum(upload_bytes), 0) AS uploaded"
                " FROM outbound WHERE route = ? AND state = ?",
                [route, OutboundState.DONE],
            )
        return int(records[0]["original"]), int(records[0]["uploaded"])

    def oldest_pending_created_at(self, route: str) -> float | None:
        """When the oldest unfinished outbound file of ``route`` was journaled, or None."""
        pending = sorted(model.PENDING_OUTBOUND_STATES)
        with self._reading(f"find the oldest pending file of route {route}") as transaction:
            oldest = transaction.value(
                "SELECT min(created_at) FROM outbound WHERE route = ?"  # noqa: S608
                f" AND state IN ({_marks(len(pending))})",
                [route, *pending],
            )
        return None if oldest is None else float(oldest)
