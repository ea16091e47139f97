"""What the record-keeping parts of the state store are written against.

``state.connection`` owns the SQLite connection and ``state.store`` hands each unit of work
a ``Transaction`` from it; the parts that keep outbound, inbound and route records
(``state.outbound``, ``state.inbound``, ``state.routes``) only see this protocol. That keeps
the SQLite libraries in one module while letting each part stay small. Nothing here does I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Any, Protocol

from syncd.state.transitions import Transition


class Transaction(Protocol):
    """One open database transaction. Every method raises ``StateError`` on failure."""

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[dict[str, Any]]:
        """The rows ``sql`` selects, each as a column → value dict."""

    def value(self, sql: str, parameters: Sequence[object] = ()) -> Any:
        """The first column of the first row ``sql`` selects, or None when it selects none."""

    def run(self, sql: str, parameters: Sequence[object] = ()) -> int:
        """Executes a write; returns how many rows it changed."""

    def insert(self, table: str, record: Mapping[str, object]) -> int:
        """Inserts ``record``; returns its rowid."""

    def update(self, table: str, key: int | str, changes: Mapping[str, object]) -> None:
        """Writes ``changes`` into the row whose primary key is ``key``."""

    def upsert(self, table: str, record: Mapping[str, object], key_column: str) -> None:
        """Inserts ``record``, or updates the given columns of the row with the same key."""

    def get(self, table: str, key: int | str) -> dict[str, Any]:
        """The row whose primary key is ``key``; raises ``UnknownRowError`` when absent."""


class RecordsBase(ABC):
    """The two ways into the database that ``StateStore`` provides to its parts."""

    @abstractmethod
    def _transaction(self, action: str) -> AbstractContextManager[Transaction]:
        """A write transaction; ``action`` completes the message "cannot …" of errors."""

    @abstractmethod
    def _reading(self, action: str) -> AbstractContextManager[Transaction]:
        """A read-only snapshot, so the queries of one report agree with each other."""

    def _count_states(
        self, table: str, states: Iterable[StrEnum], route: str | None
    ) -> dict[str, int]:
        """How many rows of ``table`` are in each of ``states`` (zeros included), for one
        ``route`` or all of them.
        """
        counts = {str(state): 0 for state in states}
        sql = f"SELECT state, count(*) AS total FROM {table}"  # noqa: S608 (table is ours)
        parameters: list[object] = []
        if route is not None:
            sql += " WHERE route = ?"
            parameters.append(route)
        with self._reading(f"count {table} rows") as transaction:
            for record in transaction.rows(sql + " GROUP BY state", parameters):
                counts[str(record["state"])] = record["total"]
        return counts

    def _move(
        self, table: str, row_id: int, transition: Transition, now: float, **changes: object
    ) -> None:
        """Moves one row along ``transition`` and writes ``changes``, in one transaction.

        The state is re-read inside the transaction, so two threads (or the daemon and
        ``syncd retry``) cannot both move the same row. Raises ``IllegalTransitionError``
        when the row's state does not allow the move and ``UnknownRowError`` when no row
        has ``row_id``.
        """
        with self._transaction(f"{transition.name} {table} row {row_id}") as transaction:
            transition.check(table, row_id, transaction.get(table, row_id)["state"])
            if transition.target is not None:
                changes["state"] = transition.target
            transaction.update(table, row_id, {**changes, "updated_at": now})

    def _count_failed_attempt(
        self,
        table: str,
        row_id: int,
        transition: Transition,
        error: str,
        next_attempt_at: float,
        now: float,
    ) -> None:
        """Counts a failed attempt of a row's current step along ``transition`` (which keeps
        the state): ``attempts`` + 1, ``error`` as ``last_error``, due at ``next_attempt_at``.

        One transaction, so two concurrent retries cannot lose a count. Raises as ``_move``.
        """
        with self._transaction(f"schedule a retry of {table} row {row_id}") as transaction:
            attempts = transaction.get(table, row_id)["attempts"]
            self._move(
                table,
                row_id,
                transition,
                now,
                attempts=attempts + 1,
                last_error=error,
                next_attempt_at=next_attempt_at,
            )
