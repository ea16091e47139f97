"""The state database of syncd: opening, upgrading and closing it, and its whole-file reports.

One SQLite file (WAL, ``synchronous=FULL``) records every step of every file, so a kill -9
or a power cut anywhere resumes exactly where it stopped. Every public method of
``StateStore`` is one transaction (``BEGIN IMMEDIATE``), and a transition re-reads the row's
state inside it. Every time is a float of unix seconds passed in by the caller (``now``): the
store never reads a clock, so the daemon can run on a fake one in tests.

``StateStore`` is assembled from parts that each keep one kind of record
(``state.routes``, ``state.outbound``, ``state.outbound_queries``, ``state.inbound``,
``state.pages``) and reach the database only through the ``Transaction`` this module hands
them. The SQLite connection and its transactions are ``state.connection`` (the only module
that imports the SQLite libraries; every ``sqlite3`` error leaves it as ``StateError`` naming
the database and the cause). The pure parts are ``state.model`` (state names, row types),
``state.transitions`` (the legal moves) and ``state.decode`` (records to rows); the schema is
``state.schema``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from syncd.errors import StateConfigError, StateCorruptError, StateError
from syncd.rules.error_kinds import parse_error_kind
from syncd.state.base import Transaction
from syncd.state.connection import SqliteConnection, StatementObserver
from syncd.state.files import create_private_file, take_lock
from syncd.state.inbound import InboundRecords
from syncd.state.model import DatabaseMissingError, RouteSummary
from syncd.state.outbound import OutboundRecords
from syncd.state.outbound_queries import OutboundQueries
from syncd.state.pages import PageRecords
from syncd.state.routes import RouteRecords
from syncd.state.schema import APPLICATION_ID, MIGRATIONS, Migration


@contextlib.contextmanager
def _without_handle(transaction: contextlib.AbstractContextManager[Transaction]) -> Iterator[None]:
    with transaction:
        yield


class StateStore(RouteRecords, OutboundRecords, OutboundQueries, PageRecords, InboundRecords):
    """A handle on the state database, safe to share between the daemon's threads.

    Build it with ``StateStore.open``; use it as a context manager or call ``close()``.
    """

    def __init__(self, path: Path, connection: SqliteConnection, lock_fd: int | None) -> None:
        self._path = path
        self._connection = connection
        self._lock_fd = lock_fd

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        exclusive: bool = True,
        busy_timeout_seconds: float = 5.0,
        max_size_bytes: int | None = None,
        statement_observer: StatementObserver | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> StateStore:
        """Opens the database at ``path``; with ``exclusive``, creates and upgrades it first.

        ``exclusive=True`` is the daemon's mode: it creates the parent folder (0700) and the
        file (0600), holds an ``flock`` on ``<path>.lock`` until ``close()`` and applies the
        pending ``migrations``, each in its own transaction. ``exclusive=False`` is for
        commands that run beside the daemon (``syncd status``): it never creates, upgrades
        or locks anything. ``max_size_bytes`` caps the file; writes beyond it fail like on a
        full disk. ``statement_observer`` receives the text of every SQL statement, never its
        parameters (they can hold the consumer JWT).

        Raises ``AlreadyRunningError`` when another process holds the lock,
        ``DatabaseMissingError`` when a non-exclusive open finds no file, and ``StateError``
        when the database is unusable, another program's, older than ``migrations``
        (non-exclusive) or newer.
        """
        path = Path(path)
        lock_fd = take_lock(path) if exclusive else None
        try:
            if exclusive:
                create_private_file(path)
            elif not path.is_file():
                raise DatabaseMissingError(
                    f"state database {path} does not exist; syncd has not run yet"
                )
            store = cls(
                path,
                SqliteConnection.open(path, busy_timeout_seconds, statement_observer),
                lock_fd,
            )
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        try:
            store._configure(max_size_bytes)
            store._upgrade(migrations, apply=exclusive)
        except BaseException:
            store.close()
            raise
        return store

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def close(self) -> None:
        """Closes the connection and releases the lock; calling it again is harmless."""
        with self._connection.lock:
            self._connection.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def batch(self, action: str) -> contextlib.AbstractContextManager[None]:
        """One transaction around several calls: they join it and commit together.

        For steps that record many rows at once (the intake claiming a batch of pages), so
        a batch costs one commit, one fsync of the log, instead of one per row. ``action``
        completes the message "cannot …" of errors. Raises StateError.
        """
        return _without_handle(self._transaction(action))

    def route_summary(self, route: str) -> RouteSummary:
        """Everything ``syncd status`` shows for ``route``, read from one snapshot."""
        with self._reading(f"summarise route {route}") as transaction:
            status = transaction.rows("SELECT * FROM route_status WHERE route = ?", [route])
            outcome = status[0] if status else {}
            return RouteSummary(
                route=route,
                conversation_id=self.open_conversation(route),
                outbound_counts=self.counts_by_state(route),
                inbound_counts=self.inbound_counts_by_state(route),
                oldest_pending_created_at=self.oldest_pending_created_at(route),
                last_success_at=outcome.get("last_success_at"),
                last_error=outcome.get("last_error"),
                last_error_at=outcome.get("last_error_at"),
                last_error_kind=parse_error_kind(outcome.get("last_error_kind")),
            )

    def integrity_problems(self) -> list[str]:
        """What ``PRAGMA quick_check`` finds wrong with the file; empty when it is sound.

        A file too damaged for the check itself to run is one finding, not an exception.
        """
        try:
            with self._reading("check the database") as transaction:
                findings = [
                    str(next(iter(row.values()))) for row in transaction.rows("PRAGMA quick_check")
                ]
        except StateCorruptError as error:
            return [str(error)]
        return [] if findings == ["ok"] else findings

    def checkpoint(self) -> bool:
        """Copies the WAL into the database and truncates it; False when readers held it back.

        Worth calling now and then: a WAL that is never checkpointed only grows.
        """
        return self._connection.checkpoint()

    # --- plumbing ---------------------------------------------------------------------------

    def _transaction(
        self, action: str, begin: str = "BEGIN IMMEDIATE"
    ) -> contextlib.AbstractContextManager[Transaction]:
        """One transaction (see ``SqliteConnection.transaction``)."""
        return self._connection.transaction(action, begin)

    def _reading(self, action: str) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(action, begin="BEGIN DEFERRED")

    def _configure(self, max_size_bytes: int | None) -> None:
        self._refuse_foreign_database()
        self._connection.configure(max_size_bytes)

    def _upgrade(self, migrations: Sequence[Migration], *, apply: bool) -> None:
        """Applies the pending migrations one transaction each, or (read-only) checks none is."""
        expected = len(migrations)
        if [migration.version for migration in migrations] != list(range(1, expected + 1)):
            raise ValueError("migrations must be numbered 1, 2, 3, … without gaps")
        # A read-only open only looks, so it must not queue behind the daemon's writes.
        begin = "BEGIN IMMEDIATE" if apply else "BEGIN DEFERRED"
        while True:
            with self._transaction("upgrade the schema", begin=begin) as transaction:
                version = self._schema_version(transaction)
                if version == expected:
                    return
                if version > expected:
                    raise StateConfigError(
                        f"state database {self._path} has schema version {version}, newer "
                        f"than this syncd knows ({expected}); install a newer syncd"
                    )
                if not apply:
                    raise StateError(
                        f"state database {self._path} has schema version {version}, older "
                        f"than this syncd expects ({expected}); start the daemon to upgrade it"
                    )
                migration = migrations[version]
                transaction.run(
                    "CREATE TABLE IF NOT EXISTS schema_version"
                    " (version INTEGER PRIMARY KEY, summary TEXT NOT NULL) STRICT"
                )
                for statement in migration.statements:
                    transaction.run(statement)
                transaction.insert(
                    "schema_version", {"version": migration.version, "summary": migration.summary}
                )

    def _refuse_foreign_database(self) -> None:
        """Raises ``StateError`` unless the file is empty or carries syncd's application id.

        Runs before anything is changed (even the journal mode) in a file that may belong
        to another program after a configuration typo.
        """
        with self._reading("read the database header") as transaction:
            application_id = transaction.value("PRAGMA application_id")
            has_tables = transaction.value("SELECT count(*) FROM sqlite_master") > 0
        if application_id != APPLICATION_ID and (application_id != 0 or has_tables):
            raise StateConfigError(
                f"{self._path} is not a syncd state database; refusing to use it"
            )

    @staticmethod
    def _schema_version(transaction: Transaction) -> int:
        if transaction.value("SELECT count(*) FROM sqlite_master WHERE name = 'schema_version'"):
            return int(transaction.value("SELECT max(version) FROM schema_version") or 0)
        return 0
