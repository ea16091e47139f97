"""The SQLite adapter of the state store: the only module that imports ``sqlite3`` and
``sqlite_utils``.

``SqliteConnection`` opens the database file on one connection every thread may use,
configures it (WAL, ``synchronous=FULL``, foreign keys, a size cap), runs one transaction at
a time and checkpoints the WAL. Inside a transaction the record-keeping parts get a
``SqliteTransaction``, ``state.base.Transaction`` in plain SQL. Every ``sqlite3`` error
leaves this module as ``StateError`` (``StateCorruptError`` for a damaged file) naming the
database and the cause.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from syncd.errors import StateCorruptError, StateError
from syncd.state.base import Transaction
from syncd.state.model import UnknownRowError

StatementObserver = Callable[[str], None]


class SqliteConnection:
    """The state database's one connection, shared by every thread, one at a time.

    Build it with ``SqliteConnection.open``. ``lock`` is held around every use of the
    connection; it is re-entrant, so a transaction opened inside another joins it.
    """

    def __init__(self, path: Path, database: sqlite_utils.Database) -> None:
        self._path = path
        self._database = database
        self._handle = SqliteTransaction(database)
        # One connection for every thread, one thread at a time: SQLite serialises writers
        # anyway, and one connection keeps "one transaction per transition" easy to follow.
        self.lock = threading.RLock()

    @classmethod
    def open(
        cls, path: Path, busy_timeout_seconds: float, observer: StatementObserver | None
    ) -> SqliteConnection:
        """Connects to the database file at ``path`` (which must exist); raises StateError."""
        return cls(path, _connect(path, busy_timeout_seconds, observer))

    def close(self) -> None:
        """Closes the connection."""
        with self.lock:
            self._database.conn.close()

    def checkpoint(self) -> bool:
        """Copies the WAL into the database and truncates it; False when readers held it back."""
        with self.lock, self.translated("checkpoint the WAL"):
            busy = self._database.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return bool(busy == 0)

    @contextlib.contextmanager
    def translated(self, action: str) -> Iterator[None]:
        """Turns a ``sqlite3`` error in the block into StateError (or StateCorruptError)
        saying the database could not ``action``."""
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
    def transaction(self, action: str, begin: str = "BEGIN IMMEDIATE") -> Iterator[Transaction]:
        """One transaction, committed when the block ends and rolled back when it raises.

        IMMEDIATE takes the write lock up front, so another process writing cannot make a
        transition fail halfway after it read the row's state. A call made inside an open
        transaction (one part using another) joins it rather than nesting.
        """
        with self.lock, self.translated(action):
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

    def configure(self, max_size_bytes: int | None) -> None:
        """WAL, ``synchronous=FULL``, foreign keys and (when given) the size cap; raises
        StateError when the file cannot use WAL."""
        with self.lock, self.translated("configure the connection"):
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


class SqliteTransaction:
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
        """Run a query and return every row as a column → value dict (empty list for none).

        sqlite3's errors pass through; the store turns them into StateError.
        """
        cursor = self._database.execute(sql, list(parameters))
        columns = [column[0] for column in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    def value(self, sql: str, parameters: Sequence[object] = ()) -> Any:
        """Run a query and return the first column of its first row, or None without rows."""
        row = self._database.execute(sql, list(parameters)).fetchone()
        return None if row is None else row[0]

    def run(self, sql: str, parameters: Sequence[object] = ()) -> int:
        """Run a statement and return how many rows it changed."""
        return int(self._database.execute(sql, list(parameters)).rowcount)

    def insert(self, table: str, record: Mapping[str, object]) -> int:
        """Insert ``record`` (column → value) into ``table`` and return the new row id.

        Raises StateError when SQLite reports no row id.
        """
        columns = ", ".join(_identifier(name) for name in record)
        marks = ", ".join("?" for _ in record)
        sql = f"INSERT INTO {_identifier(table)} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor = self._database.execute(sql, list(record.values()))
        if cursor.lastrowid is None:
            raise StateError(f"inserting into {table} reported no row id")
        return int(cursor.lastrowid)

    def update(self, table: str, key: int | str, changes: Mapping[str, object]) -> None:
        """Set ``changes`` (column → value) on the row of ``table`` whose primary key is ``key``.

        Raises UnknownRowError when no such row exists, StateError when ``table`` has no
        single-column primary key.
        """
        assignments = ", ".join(f"{_identifier(name)} = ?" for name in changes)
        sql = (
            f"UPDATE {_identifier(table)} SET {assignments}"  # noqa: S608 (names are ours)
            f" WHERE {_identifier(self._primary_key(table))} = ?"
        )
        if self._database.execute(sql, [*changes.values(), key]).rowcount == 0:
            raise UnknownRowError(f"{table} has no row {key!r}")

    def upsert(self, table: str, record: Mapping[str, object], key_column: str) -> None:
        """Insert ``record``, or update the other columns of the row sharing its ``key_column``."""
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
        """Return the row of ``table`` whose primary key is ``key`` (column → value).

        Raises UnknownRowError when no such row exists, StateError when ``table`` has no
        single-column primary key.
        """
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


def _identifier(name: str) -> str:
    """``name`` quoted as an SQL identifier (table and column names come from syncd's code)."""
    return '"' + name.replace('"', '""') + '"'


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
