"""The state database of syncd: the only module that talks to SQLite.

One SQLite file (WAL, ``synchronous=FULL``) records every step of every file, so a kill -9
or a power cut anywhere resumes exactly where it stopped. Every public method of
``StateStore`` is one transaction (``BEGIN IMMEDIATE``), and a transition re-reads the row's
state inside it. Every time is a float of unix seconds passed in by the caller (``now``): the
store never reads a clock, so the daemon can run on a fake one in tests.

``StateStore`` is assembled from parts that each keep one kind of record
(``state.routes``, ``state.outbound``, ``state.inbound``) and reach the database only
through the ``Transaction`` this module hands them. The pure parts (state names, transitions,
row types) are in ``state.model`` and the schema in ``state.schema``. Every ``sqlite3`` error
leaves this module as ``StateError`` naming the database and the cause.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlite_utils

from syncd.errors import StateConfigError, StateCorruptError, StateError
from syncd.state.base import Transaction
from syncd.state.files import create_private_file, take_lock
from syncd.state.inbound import InboundRecords
from syncd.state.model import DatabaseMissingError, RouteSummary, UnknownRowError
from syncd.state.outbound import OutboundRecords
from syncd.state.pages import PageRecords
from syncd.state.routes import RouteRecords
from syncd.state.schema import APPLICATION_ID, MIGRATIONS, Migration

StatementObserver = Callable[[str], None]


class _SqliteTransaction:
    """``state.base.Transaction`` in plain SQL, used inside an open transaction.

    Plain statements rather than sqlite-utils' table helpers: those re-read the schema on
    every call (a dozen statements per state transition, measured in ``bench/``), and every
    file takes several transitions on the one connection all threads share.
    """

    def __init__(self, database: sqlite_utils.Database) -> None:
        self._database = database
        # Table → primary key column, read once per table from the schema.
        self._primary_keys: dict[str, str] = {}

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[dict[str, Any]]:
        cursor = self._database.execute(sql, list(parameters))
        columns = [column[0] for column in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, parameters: Sequence[object] = ()) -> Any:
        row = self._database.execute(sql, list(parameters)).fetchone()
        return None if row is None else row[0]

    def run(self, sql: str, parameters: Sequence[object] = ()) -> int:
        return int(self._database.execute(sql, list(parameters)).rowcount)

    def insert(self, table: str, record: Mapping[str, object]) -> int:
        columns = ", ".join(_identifier(name) for name in record)
        marks = ", ".join("?" for _ in record)
        sql = f"INSERT INTO {_identifier(table)} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor = self._database.execute(sql, list(record.values()))
        if cursor.lastrowid is None:
            raise StateError(f"inserting into {table} reported no row id")
        return int(cursor.lastrowid)

    def update(self, table: str, key: int | str, changes: Mapping[str, object]) -> None:
        assignments = ", ".join(f"{_identifier(name)} = ?" for name in changes)
        sql = (
            f"UPDATE {_identifier(table)} SET {assignments}"  # noqa: S608 (names are ours)
            f" WHERE {_identifier(self._primary_key(table))} = ?"
        )
        if self._database.execute(sql, [*changes.values(), key]).rowcount == 0:
            raise UnknownRowError(f"{table} has no row {key!r}")

    def upsert(self, table: str, record: Mapping[str, object], key_column: str) -> None:
        columns = ", ".join(_identifier(name) for name in record)
        marks = ", ".join("?" for _ in record)
        updates = [
            f"{_identifier(n)} = excluded.{_identifier(n)}" for n in record if n != key_column
        ]
        action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
        sql = (
            f"INSERT INTO {_identifier(table)} ({columns}) VALUES ({marks})"  # noqa: S608
            f" ON CONFLICT ({_identifier(key_column)}) {action}"
        )
        self._database.execute(sql, list(record.values()))

    def get(self, table: str, key: int | str) -> dict[str, Any]:
        sql = (
            f"SELECT * FROM {_identifier(table)}"  # noqa: S608 (names are ours)
            f" WHERE {_identifier(self._primary_key(table))} = ?"
        )
        found = self.rows(sql, [key])
        if not found:
            raise UnknownRowError(f"{table} has no row {key!r}")
        return found[0]

    def _primary_key(self, table: str) -> str:
        key = self._primary_keys.get(table)
        if key is None:
            columns = self.rows(f"PRAGMA table_info({_identifier(table)})")
            keys = [column["name"] for column in columns if column["pk"]]
            if len(keys) != 1:
                raise StateError(f"table {table} has no single-column primary key")
            key = self._primary_keys[table] = str(keys[0])
        return key


@contextlib.contextmanager
def _without_handle(transaction: contextlib.AbstractContextManager[Transaction]) -> Iterator[None]:
    with transaction:
        yield


def _identifier(name: str) -> str:
    """``name`` quoted as an SQL identifier (table and column names come from syncd's code)."""
    return '"' + name.replace('"', '""') + '"'


class StateStore(RouteRecords, OutboundRecords, PageRecords, InboundRecords):
    """A handle on the state database, safe to share between the daemon's threads.

    Build it with ``StateStore.open``; use it as a context manager or call ``close()``.
    """

    def __init__(self, path: Path, database: sqlite_utils.Database, lock_fd: int | None) -> None:
        self._path = path
        self._database = database
        self._handle = _SqliteTransaction(database)
        self._lock_fd = lock_fd
        # One connection for every thread, one thread at a time: SQLite serialises writers
        # anyway, and one connection keeps "one transaction per transition" easy to follow.
        self._lock = threading.RLock()

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
            store = cls(path, _connect(path, busy_timeout_seconds, statement_observer), lock_fd)
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
        with self._lock:
            self._database.conn.close()
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
        with self._lock, self._translated("checkpoint the WAL"):
            busy = self._database.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return bool(busy == 0)

    # --- plumbing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            name = getattr(error, "sqlite_errorname", type(error).__name__)
            if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                raise StateCorruptError(
                    f"state database {self._path} is damaged: cannot {action}: {error} "
                    f"({name}); stop syncd, move it aside and restore a backup"
                ) from error
            raise StateError(
                f"state database {self._path}: cannot {action}: {error} ({name})"
            ) from error

    @contextlib.contextmanager
    def _transaction(self, action: str, begin: str = "BEGIN IMMEDIATE") -> Iterator[Transaction]:
        """One transaction, committed when the block ends and rolled back when it raises.

        IMMEDIATE takes the write lock up front, so another process writing cannot make a
        transition fail halfway after it read the row's state. A call made inside an open
        transaction (one part using another) joins it rather than nesting.
        """
        with self._lock, self._translated(action):
            if self._in_transaction():
                yield self._handle
                return
            self._database.execute(begin)
            try:
                yield self._handle
                self._database.execute("COMMIT")
            except BaseException:
                if self._in_transaction():
                    # The first error is the one worth reporting; a failing ROLLBACK (I/O
                    # error, closed file) would hide it, and SQLite rolls back on reopen.
                    with contextlib.suppress(sqlite3.Error):
                        self._database.conn.execute("ROLLBACK")
                raise

    def _in_transaction(self) -> bool:
        return self._database.conn.in_transaction

    def _reading(self, action: str) -> contextlib.AbstractContextManager[Transaction]:
        return self._transaction(action, begin="BEGIN DEFERRED")

    def _configure(self, max_size_bytes: int | None) -> None:
        self._refuse_foreign_database()
        with self._lock, self._translated("configure the connection"):
            mode = self._database.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StateError(f"state database {self._path} cannot use WAL (mode {mode})")
            # FULL: a committed "published" must survive a power cut, or a restart re-posts.
            self._database.execute("PRAGMA synchronous = FULL")
            self._database.execute("PRAGMA foreign_keys = ON")
            if max_size_bytes is not None:
                page_bytes = int(self._database.execute("PRAGMA page_size").fetchone()[0])
                pages = max(1, max_size_bytes // page_bytes)
                self._database.execute(f"PRAGMA max_page_count = {pages}")

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


def _connect(
    path: Path, busy_timeout_seconds: float, observer: StatementObserver | None
) -> sqlite_utils.Database:
    """A sqlite-utils database on a connection any thread may use (the store serialises)."""
    try:
        connection = sqlite3.connect(
            path, timeout=busy_timeout_seconds, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as error:
        raise StateError(f"cannot open the state database {path}: {error}") from error
    try:
        return sqlite_utils.Database(
            connection,
            tracer=None if observer is None else (lambda sql, parameters: observer(sql)),
            execute_plugins=False,
        )
    except sqlite3.Error as error:
        connection.close()
        raise StateError(f"cannot open the state database {path}: {error}") from error
