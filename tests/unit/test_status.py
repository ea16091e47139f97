"""Connection states in the state database, and telling whether a daemon runs, with real
SQLite files and real ``flock`` locks under tmp_path.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.errors import StateError
from syncd.rules.error_kinds import ErrorKind
from syncd.service.status import daemon_running, status_line
from syncd.state.routes import RouteConnection
from syncd.state.schema import MIGRATIONS
from syncd.state.store import StateStore

NOW = 1_700_000_000.0
ROUTE = "front-desk"


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncd.sqlite3"


@pytest.fixture
def store(database: Path) -> Iterator[StateStore]:
    with StateStore.open(database) as opened:
        yield opened


def _write_statements(database: Path, action: object) -> list[str]:
    """The SQL writes (not reads) a fresh store connection issues while running ``action``."""
    seen: list[str] = []
    with StateStore.open(database, statement_observer=seen.append) as observed:
        seen.clear()
        action(observed)  # type: ignore[operator]
    return [
        sql
        for sql in seen
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE"))
    ]


# --- the recorded connection state -----------------------------------------------------------


def test_a_route_never_seen_by_a_daemon_has_no_connection_state(store: StateStore) -> None:
    assert store.connection_of(ROUTE) == RouteConnection(None, None)


def test_a_change_is_recorded_with_its_time_and_a_repeat_keeps_the_first_time(
    store: StateStore,
) -> None:
    assert store.note_connection_state(ROUTE, "connecting", NOW) is True
    assert store.note_connection_state(ROUTE, "connected", NOW + 2) is True
    assert store.connection_of(ROUTE) == RouteConnection("connected", NOW + 2)
    # The same state again is not a change: nothing written, "since" stays the same.
    assert store.note_connection_state(ROUTE, "connected", NOW + 9) is False
    assert store.connection_of(ROUTE) == RouteConnection("connected", NOW + 2)
    assert store.note_connection_state(ROUTE, "disconnected", NOW + 10) is True
    assert store.connection_of(ROUTE) == RouteConnection("disconnected", NOW + 10)


def test_a_repeated_state_writes_nothing_to_the_database(database: Path) -> None:
    with StateStore.open(database) as first:
        first.note_connection_state(ROUTE, "connected", NOW)
    writes = _write_statements(
        database, lambda other: other.note_connection_state(ROUTE, "connected", NOW + 1)
    )
    assert writes == []
    writes = _write_statements(
        database, lambda other: other.note_connection_state(ROUTE, "connecting", NOW + 2)
    )
    assert writes  # a real change is written


def test_connection_states_and_transfer_results_do_not_overwrite_each_other(
    store: StateStore,
) -> None:
    store.note_success(ROUTE, NOW)
    store.note_connection_state(ROUTE, "connected", NOW + 1)
    store.note_error(ROUTE, "LivePerson refused it", NOW + 2, kind=ErrorKind.LIVEPERSON)
    store.note_connection_state(ROUTE, "connecting", NOW + 3)
    summary = store.route_summary(ROUTE)
    assert summary.last_success_at == NOW
    assert (summary.last_error, summary.last_error_at) == ("LivePerson refused it", NOW + 2)
    assert summary.last_error_kind == ErrorKind.LIVEPERSON
    assert store.connection_of(ROUTE) == RouteConnection("connecting", NOW + 3)


def test_routes_keep_their_own_states(store: StateStore) -> None:
    store.note_connection_state("a", "connected", NOW)
    store.note_connection_state("b", "auth-failed", NOW + 1)
    assert store.connection_of("a") == RouteConnection("connected", NOW)
    assert store.connection_of("b") == RouteConnection("auth-failed", NOW + 1)


def test_a_reader_beside_the_daemon_sees_the_recorded_state(
    database: Path, store: StateStore
) -> None:
    store.note_connection_state(ROUTE, "connected", NOW)
    with StateStore.open(database, exclusive=False) as reader:
        assert reader.connection_of(ROUTE) == RouteConnection("connected", NOW)


def test_a_reader_of_a_not_yet_upgraded_database_is_told_to_start_the_daemon(
    database: Path,
) -> None:
    StateStore.open(database, migrations=MIGRATIONS[:3]).close()
    with pytest.raises(StateError, match="start the daemon to upgrade it"):
        StateStore.open(database, exclusive=False)


def test_migration_4_adds_the_columns_to_a_database_with_rows(database: Path) -> None:
    with StateStore.open(database, migrations=MIGRATIONS[:3]) as old:
        old.note_success(ROUTE, NOW)
    # The error as a syncd of schema 3 wrote it (today's note_error writes a later column).
    with sqlite3.connect(database) as plain:
        plain.execute(
            "UPDATE route_status SET last_error = ?, last_error_at = ? WHERE route = ?",
            ["timed out", NOW + 1, ROUTE],
        )
    plain.close()
    with StateStore.open(database) as upgraded:
        assert upgraded.connection_of(ROUTE) == RouteConnection(None, None)
        summary = upgraded.route_summary(ROUTE)
        assert (summary.last_success_at, summary.last_error) == (NOW, "timed out")
        upgraded.note_connection_state(ROUTE, "connected", NOW + 5)
    with sqlite3.connect(database) as plain:
        columns = [row[1] for row in plain.execute("PRAGMA table_info(route_status)")]
        versions = [row[0] for row in plain.execute("SELECT version FROM schema_version")]
    plain.close()
    assert columns[-3:-1] == ["connection_state", "connection_changed_at"]
    # Migration 5 (identity flows), 6 (document pages) and 7 (last error kind) follow it.
    assert versions == [1, 2, 3, 4, 5, 6, 7]
    assert versions == [migration.version for migration in MIGRATIONS]


def test_migration_5_keeps_a_signup_identity_and_records_the_flow_and_a_replacement(
    database: Path,
) -> None:
    with (
        StateStore.open(database, migrations=MIGRATIONS[:4]) as old,
        old._transaction("seed") as transaction,
    ):
        transaction.run(
            "INSERT INTO identities (route, consumer_id, jwt, created_at) VALUES (?,?,?,?)",
            [ROUTE, "consumer-1", "eyJ.old.sig", NOW],
        )
    with StateStore.open(database) as upgraded:
        identity = upgraded.get_identity(ROUTE)
        assert identity is not None
        assert (identity.consumer_id, identity.flow, identity.replaced_reason) == (
            "consumer-1",
            "signup",
            None,
        )
        upgraded.save_identity(
            ROUTE,
            "consumer-2",
            "eyJ.new.sig",
            NOW + 1,
            flow="unauthenticated",
            external_token="eyJ.ext.sig",
            refresh_deadline=NOW + 3600,
        )
        upgraded.note_identity_replaced(ROUTE, "the refresh window has passed", NOW + 1)
        # A later renewal of the same consumer keeps the record of the replacement.
        upgraded.save_identity(
            ROUTE, "consumer-2", "eyJ.newer.sig", NOW + 2, flow="unauthenticated"
        )
        identity = upgraded.get_identity(ROUTE)
    assert identity is not None
    assert (identity.flow, identity.jwt, identity.replaced_reason, identity.replaced_at) == (
        "unauthenticated",
        "eyJ.newer.sig",
        "the refresh window has passed",
        NOW + 1,
    )
    assert "eyJ" not in repr(identity)


# --- is a daemon running? ------------------------------------------------------------------


def test_no_lock_file_means_not_running_and_none_is_created(database: Path) -> None:
    database.parent.mkdir()
    assert daemon_running(database) is False
    assert not database.with_name(database.name + ".lock").exists()


def test_a_held_lock_means_running_and_a_released_one_not(database: Path) -> None:
    with StateStore.open(database):
        assert daemon_running(database) is True
    assert daemon_running(database) is False  # the lock file stays, unlocked


def test_the_probe_never_takes_the_lock_from_a_daemon_starting_after_it(database: Path) -> None:
    StateStore.open(database).close()
    assert daemon_running(database) is False
    with StateStore.open(database):  # the probe left nothing held
        assert daemon_running(database) is True


def test_a_lock_held_by_another_process_means_running(database: Path) -> None:
    StateStore.open(database).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "\n".join(
                [
                    "import sys",
                    "from pathlib import Path",
                    "from syncd.state.store import StateStore",
                    f"store = StateStore.open(Path({str(database)!r}))",
                    "print('locked', flush=True)",
                    "sys.stdin.read()",
                    "store.close()",
                ]
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert daemon_running(database) is True
    finally:
        holder.communicate("", timeout=60)
    assert holder.returncode == 0
    assert daemon_running(database) is False


# --- the STATUS= line ----------------------------------------------------------------------


def test_the_status_line_counts_files_and_lists_each_route_connection(store: StateStore) -> None:
    line = status_line(store, {"invoices": "connected", "claims": "connecting"})
    assert line == "queued 0, sent 0, failed 0, inbound 0; invoices: connected, claims: connecting"
