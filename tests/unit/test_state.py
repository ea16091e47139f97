"""The state store against real SQLite files under tmp_path (and real second processes)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncd.errors import AlreadyRunningError, StateError, UnsafeFileError
from syncd.rules.error_kinds import ErrorKind
from syncd.state.model import (
    MAX_PREVIEW_CHARS,
    DatabaseMissingError,
    IllegalTransitionError,
    InboundState,
    OutboundState,
    UnknownRowError,
)
from syncd.state.schema import MIGRATIONS, Migration
from syncd.state.store import StateStore

NOW = 1_700_000_000.0
ROUTE = "front-desk"
SHA = "ab" * 32

# The path a file takes, written out here on purpose (not read from state_model) so that
# the store's transition table is checked against an independent statement of the design.
HAPPY_PATH = ["detected", "claimed", "prepared", "uploaded", "publishing", "published", "done"]
LEGAL_SOURCES = {
    "mark_claimed": {"detected"},
    "mark_prepared": {"claimed", "prepared"},  # prepared again when its upload was lost
    "mark_uploaded": {"prepared"},
    "mark_publishing": {"uploaded"},
    "mark_published": {"publishing"},
    "revert_publishing": {"publishing"},
    "mark_done": {"published"},
    "mark_failed": {"detected", "claimed", "prepared", "uploaded", "publishing", "published"},
    "schedule_retry": {"detected", "claimed", "prepared", "uploaded", "publishing", "published"},
    "reset_for_retry": {"failed"},
}
ALL_STATES = [*HAPPY_PATH, "failed"]


def call_transition(store: StateStore, name: str, row_id: int, now: float) -> None:
    """Calls transition ``name`` on ``row_id`` with plausible arguments."""
    calls: dict[str, Callable[[], None]] = {
        "mark_claimed": lambda: store.mark_claimed(row_id, Path(f"/work/{row_id}__s.jpg"), now),
        "mark_prepared": lambda: store.mark_prepared(
            row_id, "Scan 1", "JPG", 123_456, "data:image/jpeg;base64,AAAA", 1240, 1754, now
        ),
        "mark_uploaded": lambda: store.mark_uploaded(row_id, f"/v1/AUTH/files/{row_id}.jpg", now),
        "mark_publishing": lambda: store.mark_publishing(row_id, "conversation-1", now),
        "mark_published": lambda: store.mark_published(row_id, 7, now),
        "revert_publishing": lambda: store.revert_publishing(row_id, now),
        "mark_done": lambda: store.mark_done(row_id, Path(f"/sent/{row_id}.jpg"), now),
        "mark_failed": lambda: store.mark_failed(row_id, "not an image", now),
        "schedule_retry": lambda: store.schedule_retry(row_id, "HTTP 503", now + 30, now),
        "reset_for_retry": lambda: store.reset_for_retry(row_id, Path("/outbox/again.jpg"), now),
    }
    calls[name]()


def journal(
    store: StateStore, name: str = "scan_0001.jpg", route: str = ROUTE, now: float = NOW
) -> int:
    return store.journal_detected(route, Path("/outbox") / name, 2048, 111, 222, SHA, now)


def row_in_state(store: StateStore, state: str) -> int:
    """A fresh row driven along legal transitions until it is in ``state``."""
    row_id = journal(store)
    if state == "failed":
        store.mark_failed(row_id, "not an image", NOW)
        return row_id
    transitions = ["mark_claimed", "mark_prepared", "mark_uploaded", "mark_publishing"]
    for name in [*transitions, "mark_published", "mark_done"][: HAPPY_PATH.index(state)]:
        call_transition(store, name, row_id, NOW)
    return row_id


@pytest.fixture
def database_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "syncd.db"


@pytest.fixture
def store(database_path: Path) -> Iterator[StateStore]:
    with StateStore.open(database_path) as opened:
        opened.record_conversation(ROUTE, "conversation-1", "-1", NOW)
        yield opened


def run_python(code: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a separate Python process (the venv's interpreter)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def plain_connection(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A connection of the test's own, to look at the file without going through the store."""
    return contextlib.closing(sqlite3.connect(path, isolation_level=None))


# --- opening, files and locking -------------------------------------------------------------


def test_open_creates_a_private_folder_and_private_database_files(database_path: Path) -> None:
    with StateStore.open(database_path) as store:
        journal(store)
        wal_path = database_path.with_name(database_path.name + "-wal")
        lock_path = database_path.with_name(database_path.name + ".lock")
        assert stat.S_IMODE(database_path.parent.stat().st_mode) == 0o700
        for path in (database_path, wal_path, lock_path):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_open_tightens_a_database_file_left_readable_by_others(database_path: Path) -> None:
    database_path.parent.mkdir(mode=0o700)
    database_path.touch(mode=0o644)
    os.chmod(database_path, 0o644)
    with StateStore.open(database_path):
        assert stat.S_IMODE(database_path.stat().st_mode) == 0o600


def test_open_sets_up_write_ahead_logging_with_full_sync(database_path: Path) -> None:
    statements: list[str] = []
    with (
        StateStore.open(database_path, statement_observer=statements.append),
        plain_connection(database_path) as connection,
    ):
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert "PRAGMA synchronous = FULL" in statements
    assert "PRAGMA foreign_keys = ON" in statements


def test_rows_survive_closing_and_reopening(database_path: Path) -> None:
    with StateStore.open(database_path) as store:
        row_id = journal(store)
    with StateStore.open(database_path) as store:
        assert store.get_outbound(row_id).source_path == Path("/outbox/scan_0001.jpg")


def test_a_second_daemon_process_is_refused_while_the_first_holds_the_database(
    database_path: Path,
) -> None:
    second_daemon = """
        import sys
        from pathlib import Path
        from syncd.errors import AlreadyRunningError
        from syncd.state.store import StateStore
        try:
            StateStore.open(Path(sys.argv[1])).close()
        except AlreadyRunningError as error:
            print(error)
            sys.exit(3)
        print("opened")
    """
    with StateStore.open(database_path):
        refused = run_python(second_daemon, str(database_path))
    assert refused.returncode == 3, refused.stderr
    assert str(database_path) in refused.stdout
    assert "another syncd process" in refused.stdout

    allowed = run_python(second_daemon, str(database_path))
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "opened"


def test_a_read_only_command_can_open_the_database_while_the_daemon_runs(
    database_path: Path,
) -> None:
    status_command = """
        import sys
        from pathlib import Path
        from syncd.state.store import StateStore
        with StateStore.open(Path(sys.argv[1]), exclusive=False) as store:
            print(store.counts_by_state("front-desk")["detected"])
    """
    with StateStore.open(database_path) as daemon_store:
        journal(daemon_store)
        journal(daemon_store, "scan_0002.jpg")
        status = run_python(status_command, str(database_path))
        journal(daemon_store, "scan_0003.jpg")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip() == "2"


def test_a_second_exclusive_open_in_the_same_process_is_refused_too(database_path: Path) -> None:
    with StateStore.open(database_path), pytest.raises(AlreadyRunningError):
        StateStore.open(database_path)


def test_a_read_only_open_never_creates_a_missing_database(database_path: Path) -> None:
    with pytest.raises(DatabaseMissingError, match="does not exist"):
        StateStore.open(database_path, exclusive=False)
    assert not database_path.parent.exists()


def test_a_file_that_is_not_a_database_is_reported_as_state_error(database_path: Path) -> None:
    database_path.parent.mkdir()
    database_path.write_bytes(b"this is a scanner log, not SQLite\n" * 200)
    with pytest.raises(StateError, match=str(database_path)):
        StateStore.open(database_path)
    # The lock was released along the way, so a later attempt is not told "already running".
    database_path.unlink()
    StateStore.open(database_path).close()


def test_another_programs_database_is_left_untouched(database_path: Path) -> None:
    database_path.parent.mkdir()
    with plain_connection(database_path) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(StateError, match="not a syncd state database"):
        StateStore.open(database_path)
    with plain_connection(database_path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert tables == [("notes",)]
    assert mode == "delete"


# --- migrations -----------------------------------------------------------------------------


def schema_versions(database_path: Path) -> list[int]:
    with plain_connection(database_path) as connection:
        rows = connection.execute("SELECT version FROM schema_version ORDER BY version")
        return [version for (version,) in rows]


def test_an_old_version_database_is_upgraded_and_keeps_its_rows(database_path: Path) -> None:
    with StateStore.open(database_path, migrations=MIGRATIONS[:2]) as old_store:
        row_id = journal(old_store)
    assert schema_versions(database_path) == [1, 2]

    with StateStore.open(database_path) as store:
        assert store.get_outbound(row_id).state == OutboundState.DETECTED
        store.record_conversation(ROUTE, "conversation-9", None, NOW)
        assert store.record_inbound(ROUTE, "conversation-9", 0, "/f", "PNG", "", "agent", NOW)
    assert schema_versions(database_path) == [m.version for m in MIGRATIONS]


def test_a_failing_migration_leaves_the_database_at_the_previous_version(
    database_path: Path,
) -> None:
    with StateStore.open(database_path, migrations=MIGRATIONS[:2]) as old_store:
        row_id = journal(old_store)
    broken = Migration(3, "a migration with a typo", ("CREATE TABLE inbound (id INTEGER",))
    with pytest.raises(StateError, match="upgrade the schema"):
        StateStore.open(database_path, migrations=(*MIGRATIONS[:2], broken))
    assert schema_versions(database_path) == [1, 2]

    with StateStore.open(database_path) as store:
        assert store.get_outbound(row_id).state == OutboundState.DETECTED
    assert schema_versions(database_path) == [m.version for m in MIGRATIONS]


def test_a_read_only_open_does_not_upgrade_an_old_database(database_path: Path) -> None:
    StateStore.open(database_path, migrations=MIGRATIONS[:1]).close()
    with pytest.raises(StateError, match="start the daemon to upgrade it"):
        StateStore.open(database_path, exclusive=False)
    assert schema_versions(database_path) == [1]


def test_a_database_from_a_newer_syncd_is_refused(database_path: Path) -> None:
    StateStore.open(database_path).close()
    with pytest.raises(StateError, match="newer than this syncd knows"):
        StateStore.open(database_path, migrations=MIGRATIONS[:2])


# --- the outbound state machine -------------------------------------------------------------


def test_a_file_walks_every_step_to_done_and_each_step_is_recorded(store: StateStore) -> None:
    row_id = journal(store, now=NOW)
    detected = store.get_outbound(row_id)
    assert (detected.state, detected.source_name, detected.sha256) == (
        "detected",
        "scan_0001.jpg",
        SHA,
    )
    assert (detected.size_bytes, detected.mtime_ns, detected.inode) == (2048, 111, 222)
    assert detected.next_attempt_at == NOW

    store.mark_claimed(row_id, Path("/work/1__scan_0001.jpg"), NOW + 1)
    claimed = store.get_outbound(row_id)
    assert (claimed.state, claimed.work_path, claimed.claimed_at) == (
        "claimed",
        Path("/work/1__scan_0001.jpg"),
        NOW + 1,
    )

    preview = "data:image/jpeg;base64," + "A" * (MAX_PREVIEW_CHARS - 23)
    store.mark_prepared(row_id, "Scan 1", "JPG", 654_321, preview, 1240, 1754, NOW + 2)
    prepared = store.get_outbound(row_id)
    assert prepared.state == "prepared"
    assert (prepared.caption, prepared.file_type, prepared.upload_bytes) == (
        "Scan 1",
        "JPG",
        654_321,
    )
    assert (prepared.preview, prepared.width, prepared.height) == (preview, 1240, 1754)
    assert "AAAA" not in repr(prepared)

    store.mark_uploaded(row_id, "/v1/AUTH_x/files/0b7e.jpg", NOW + 3)
    assert store.get_outbound(row_id).relative_path == "/v1/AUTH_x/files/0b7e.jpg"

    store.mark_publishing(row_id, "conversation-1", NOW + 4)
    publishing = store.get_outbound(row_id)
    assert (publishing.state, publishing.conversation_id) == ("publishing", "conversation-1")

    store.mark_published(row_id, 12, NOW + 5)
    published = store.get_outbound(row_id)
    assert (published.state, published.sequence, published.published_at) == (
        "published",
        12,
        NOW + 5,
    )

    store.mark_done(row_id, Path("/outbox/sent/scan_0001.jpg"), NOW + 6)
    done = store.get_outbound(row_id)
    assert (done.state, done.final_path, done.done_at) == (
        "done",
        Path("/outbox/sent/scan_0001.jpg"),
        NOW + 6,
    )
    assert (done.created_at, done.updated_at) == (NOW, NOW + 6)


def test_a_deleted_original_is_recorded_as_done_without_a_final_path(store: StateStore) -> None:
    row_id = row_in_state(store, "published")
    store.mark_done(row_id, None, NOW + 1)
    assert store.get_outbound(row_id).final_path is None


@pytest.mark.parametrize(
    ("transition", "state"),
    [
        (transition, state)
        for transition, sources in LEGAL_SOURCES.items()
        for state in ALL_STATES
        if state not in sources
    ],
)
def test_a_transition_from_a_state_that_does_not_allow_it_is_refused_and_changes_nothing(
    store: StateStore, transition: str, state: str
) -> None:
    row_id = row_in_state(store, state)
    before = store.get_outbound(row_id)
    with pytest.raises(IllegalTransitionError, match=f"it is {state}"):
        call_transition(store, transition, row_id, NOW + 100)
    assert store.get_outbound(row_id) == before


@pytest.mark.parametrize(
    ("transition", "state"),
    [(transition, state) for transition, sources in LEGAL_SOURCES.items() for state in sources],
)
def test_every_legal_transition_is_accepted(store: StateStore, transition: str, state: str) -> None:
    row_id = row_in_state(store, state)
    call_transition(store, transition, row_id, NOW + 100)
    assert store.get_outbound(row_id).updated_at == NOW + 100


def test_a_scheduled_retry_counts_attempts_and_keeps_the_state(store: StateStore) -> None:
    row_id = row_in_state(store, "prepared")
    store.schedule_retry(row_id, "HTTP 503 from storage", NOW + 15, NOW + 5)
    store.schedule_retry(row_id, "HTTP 503 from storage again", NOW + 45, NOW + 15)
    row = store.get_outbound(row_id)
    assert (row.state, row.attempts, row.next_attempt_at) == ("prepared", 2, NOW + 45)
    assert row.last_error == "HTTP 503 from storage again"
    assert store.due_outbound(ROUTE, [OutboundState.PREPARED], NOW + 44) == []
    assert [due.id for due in store.due_outbound(ROUTE, [OutboundState.PREPARED], NOW + 45)] == [
        row_id
    ]


def test_the_next_step_starts_with_a_clean_retry_budget(store: StateStore) -> None:
    row_id = row_in_state(store, "prepared")
    store.schedule_retry(row_id, "HTTP 503 from storage", NOW + 15, NOW + 5)
    store.mark_uploaded(row_id, "/v1/AUTH_x/files/a.jpg", NOW + 20)
    row = store.get_outbound(row_id)
    assert (row.attempts, row.last_error, row.next_attempt_at) == (0, None, NOW + 20)


def test_a_failed_file_keeps_its_reason(store: StateStore) -> None:
    row_id = row_in_state(store, "claimed")
    store.mark_failed(row_id, "content is not a JPEG, PNG or GIF", NOW + 1)
    row = store.get_outbound(row_id)
    assert (row.state, row.last_error) == ("failed", "content is not a JPEG, PNG or GIF")


def test_reverting_a_publish_that_never_happened_forgets_its_conversation(
    store: StateStore,
) -> None:
    row_id = row_in_state(store, "publishing")
    store.revert_publishing(row_id, NOW + 1)
    row = store.get_outbound(row_id)
    assert (row.state, row.conversation_id) == ("uploaded", None)
    assert row.relative_path == "/v1/AUTH/files/1.jpg"


def test_a_retried_failure_comes_back_as_a_fresh_detected_file(store: StateStore) -> None:
    row_id = row_in_state(store, "publishing")
    store.schedule_retry(row_id, "HTTP 500", NOW + 10, NOW + 1)
    store.mark_failed(row_id, "gave up", NOW + 2)
    store.reset_for_retry(row_id, Path("/outbox/scan_0001 (retry).jpg"), NOW + 3)

    row = store.get_outbound(row_id)
    assert (row.state, row.attempts, row.last_error, row.next_attempt_at) == (
        "detected",
        0,
        None,
        NOW + 3,
    )
    assert (row.source_path, row.source_name) == (
        Path("/outbox/scan_0001 (retry).jpg"),
        "scan_0001 (retry).jpg",
    )
    assert (row.sha256, row.size_bytes, row.inode, row.mtime_ns) == (SHA, 2048, 222, 111)
    forgotten = (row.work_path, row.caption, row.preview, row.relative_path, row.conversation_id)
    assert forgotten == (None, None, None, None, None)
    found = store.find_outbound_by_source(
        ROUTE, Path("/outbox/scan_0001 (retry).jpg"), 222, 2048, 111
    )
    assert found is not None
    assert found.id == row_id


def test_a_preview_longer_than_liveperson_accepts_is_refused(store: StateStore) -> None:
    row_id = row_in_state(store, "claimed")
    with pytest.raises(StateError, match="preview"):
        store.mark_prepared(row_id, "c", "JPG", 1, "A" * (MAX_PREVIEW_CHARS + 1), 1, 1, NOW)
    assert store.get_outbound(row_id).state == "claimed"


def test_publishing_into_a_conversation_never_recorded_is_refused(store: StateStore) -> None:
    row_id = row_in_state(store, "uploaded")
    with pytest.raises(StateError, match="FOREIGN KEY"):
        store.mark_publishing(row_id, "conversation-nobody-opened", NOW)
    assert store.get_outbound(row_id).state == "uploaded"


def test_an_unknown_row_is_reported_as_such(store: StateStore) -> None:
    with pytest.raises(UnknownRowError):
        store.get_outbound(4242)
    with pytest.raises(UnknownRowError):
        store.mark_claimed(4242, Path("/work/x"), NOW)
    with pytest.raises(UnknownRowError):
        store.get_inbound(4242)


def test_a_file_name_that_is_not_utf8_is_refused_as_unsafe(store: StateStore) -> None:
    name = os.fsdecode(b"scan_\xe9t\xe9.jpg")
    with pytest.raises(UnsafeFileError, match="UTF-8"):
        journal(store, name)
    assert store.counts_by_state()["detected"] == 0


def test_a_scanner_reusing_a_file_name_gets_a_new_row(store: StateStore) -> None:
    first = row_in_state(store, "done")
    second = journal(store, "scan_0001.jpg")
    assert first != second
    assert store.get_outbound(first).state == "done"
    assert store.get_outbound(second).state == "detected"


# --- outbound queries -----------------------------------------------------------------------


def test_due_rows_are_listed_oldest_first_for_their_route_only(store: StateStore) -> None:
    first = journal(store, "a.jpg", now=NOW)
    journal(store, "b.jpg", route="back-office", now=NOW)
    later = journal(store, "c.jpg", now=NOW + 60)
    third = journal(store, "d.jpg", now=NOW)
    detected = [OutboundState.DETECTED]
    assert [row.id for row in store.due_outbound(ROUTE, detected, NOW)] == [first, third]
    assert [row.id for row in store.due_outbound(ROUTE, detected, NOW + 60)] == [
        first,
        later,
        third,
    ]
    assert store.due_outbound(ROUTE, [OutboundState.CLAIMED], NOW + 60) == []


def test_rows_in_states_are_listed_oldest_first_for_one_or_all_routes(store: StateStore) -> None:
    uploaded = row_in_state(store, "uploaded")
    detected = journal(store, "b.jpg")
    elsewhere = journal(store, "c.jpg", route="back-office")
    states = [OutboundState.DETECTED, OutboundState.UPLOADED]
    assert [row.id for row in store.outbound_in_states(states, ROUTE)] == [uploaded, detected]
    assert [row.id for row in store.outbound_in_states(states)] == [uploaded, detected, elsewhere]
    assert store.outbound_in_states([OutboundState.FAILED]) == []


def test_an_outbox_file_is_found_only_while_its_row_waits_to_be_claimed(store: StateStore) -> None:
    row_id = journal(store, "scan_0001.jpg")
    source = Path("/outbox/scan_0001.jpg")
    found = store.find_outbound_by_source(ROUTE, source, 222, 2048, 111)
    assert found is not None
    assert found.id == row_id
    assert store.find_outbound_by_source(ROUTE, source, 222, 2049, 111) is None
    assert store.find_outbound_by_source("back-office", source, 222, 2048, 111) is None

    store.mark_claimed(row_id, Path("/work/1__scan_0001.jpg"), NOW)
    assert store.find_outbound_by_source(ROUTE, source, 222, 2048, 111) is None


def test_a_work_file_is_traced_back_to_its_row_in_any_state(store: StateStore) -> None:
    row_id = row_in_state(store, "done")
    found = store.find_outbound_by_work_path(Path(f"/work/{row_id}__s.jpg"))
    assert found is not None
    assert found.id == row_id
    assert store.find_outbound_by_work_path(Path("/work/unknown.jpg")) is None


# --- conversations, identities and cursors --------------------------------------------------


def test_a_new_conversation_closes_the_one_the_route_had_open(store: StateStore) -> None:
    store.record_conversation(ROUTE, "conversation-2", "17", NOW + 10)
    assert store.open_conversation(ROUTE) == "conversation-2"
    first, second = store.conversations_for(ROUTE)
    assert (first.conversation_id, first.state, first.closed_at) == (
        "conversation-1",
        "CLOSE",
        NOW + 10,
    )
    assert (second.conversation_id, second.state, second.skill_id) == (
        "conversation-2",
        "OPEN",
        "17",
    )
    assert second.last_seen_sequence == -1


def test_recording_a_known_conversation_again_changes_nothing(store: StateStore) -> None:
    before = store.conversations_for(ROUTE)
    store.record_conversation(ROUTE, "conversation-1", "-1", NOW + 99)
    assert store.conversations_for(ROUTE) == before
    with pytest.raises(StateError, match="belongs to route"):
        store.record_conversation("back-office", "conversation-1", "-1", NOW)


def test_closing_a_conversation_twice_keeps_the_first_close(store: StateStore) -> None:
    store.mark_conversation_closed("conversation-1", NOW + 5)
    store.mark_conversation_closed("conversation-1", NOW + 9)
    assert store.open_conversation(ROUTE) is None
    assert store.conversations_for(ROUTE)[0].closed_at == NOW + 5
    with pytest.raises(UnknownRowError):
        store.mark_conversation_closed("conversation-unknown", NOW)


def test_an_identity_is_saved_replaced_and_never_shows_its_token(store: StateStore) -> None:
    assert store.get_identity(ROUTE) is None
    store.save_identity(ROUTE, "consumer-1", "eyJ.first-secret.sig", NOW)
    store.save_identity(ROUTE, "consumer-2", "eyJ.second-secret.sig", NOW + 1)
    identity = store.get_identity(ROUTE)
    assert identity is not None
    assert (identity.consumer_id, identity.jwt, identity.created_at) == (
        "consumer-2",
        "eyJ.second-secret.sig",
        NOW + 1,
    )
    assert "secret" not in repr(identity)


def test_the_statement_observer_never_sees_the_token(database_path: Path) -> None:
    statements: list[str] = []
    with StateStore.open(database_path, statement_observer=statements.append) as store:
        store.save_identity(ROUTE, "consumer-1", "eyJ.very-secret.sig", NOW)
        assert store.get_identity(ROUTE) is not None
    assert any("identities" in statement for statement in statements)
    assert not any("very-secret" in statement for statement in statements)


def test_a_conversation_never_read_resumes_from_sequence_zero(store: StateStore) -> None:
    assert store.resume_sequence("conversation-1") == 0
    assert store.resume_sequence("conversation-unknown") == 0


def test_the_cursor_only_moves_forward(store: StateStore) -> None:
    store.note_sequence_seen("conversation-1", 5)
    store.note_sequence_seen("conversation-1", 3)
    assert store.resume_sequence("conversation-1") == 6
    with pytest.raises(UnknownRowError):
        store.note_sequence_seen("conversation-unknown", 1)


def test_the_cursor_waits_at_the_first_file_not_yet_in_the_inbox(store: StateStore) -> None:
    first = store.record_inbound(ROUTE, "conversation-1", 4, "/f/a.png", "PNG", "", "agent", NOW)
    second = store.record_inbound(ROUTE, "conversation-1", 7, "/f/b.png", "PNG", "", "agent", NOW)
    store.note_sequence_seen("conversation-1", 9)
    assert first is not None
    assert second is not None
    assert store.resume_sequence("conversation-1") == 4

    store.mark_inbound_done(first, Path("/inbox/a.png"), 100, NOW + 1)
    assert store.resume_sequence("conversation-1") == 7
    store.mark_inbound_failed(second, "HTTP 404 from storage", NOW + 2)
    assert store.resume_sequence("conversation-1") == 10


# --- inbound files --------------------------------------------------------------------------


def test_a_replayed_file_event_is_recorded_only_once(store: StateStore) -> None:
    first = store.record_inbound(ROUTE, "conversation-1", 3, "/f/a.png", "PNG", "hi", "agent", NOW)
    replay = store.record_inbound(ROUTE, "conversation-1", 3, "/f/a.png", "PNG", "hi", "agent", NOW)
    assert first is not None
    assert replay is None
    assert store.inbound_counts_by_state(ROUTE) == {"pending": 1, "done": 0, "failed": 0}
    row = store.get_inbound(first)
    assert (row.sequence, row.relative_path, row.caption, row.originator_id) == (
        3,
        "/f/a.png",
        "hi",
        "agent",
    )
    assert store.resume_sequence("conversation-1") == 3


def test_a_file_event_of_a_conversation_never_recorded_is_refused(store: StateStore) -> None:
    with pytest.raises(UnknownRowError):
        store.record_inbound(ROUTE, "conversation-unknown", 1, "/f", "PNG", "", "agent", NOW)
    assert store.inbound_counts_by_state() == {"pending": 0, "done": 0, "failed": 0}


def test_a_download_is_retried_then_completed(store: StateStore) -> None:
    row_id = store.record_inbound(ROUTE, "conversation-1", 1, "/f/a.png", "PNG", "", "agent", NOW)
    assert row_id is not None
    assert [row.id for row in store.due_inbound(ROUTE, NOW)] == [row_id]

    store.schedule_inbound_retry(row_id, "HTTP 503", NOW + 10, NOW + 1)
    assert store.due_inbound(ROUTE, NOW + 9) == []
    assert store.get_inbound(row_id).attempts == 1

    store.mark_inbound_done(row_id, Path("/inbox/a.png"), 4096, NOW + 10)
    row = store.get_inbound(row_id)
    assert (row.state, row.local_path, row.size_bytes, row.done_at) == (
        "done",
        Path("/inbox/a.png"),
        4096,
        NOW + 10,
    )
    assert store.due_inbound(ROUTE, NOW + 99) == []


@pytest.mark.parametrize("finished", [InboundState.DONE, InboundState.FAILED])
def test_a_finished_download_cannot_move_again(store: StateStore, finished: InboundState) -> None:
    row_id = store.record_inbound(ROUTE, "conversation-1", 1, "/f/a.png", "PNG", "", "agent", NOW)
    assert row_id is not None
    if finished == InboundState.DONE:
        store.mark_inbound_done(row_id, Path("/inbox/a.png"), 1, NOW)
    else:
        store.mark_inbound_failed(row_id, "HTTP 404", NOW)
    moves: list[Callable[[], None]] = [
        lambda: store.mark_inbound_done(row_id, Path("/inbox/b.png"), 1, NOW + 1),
        lambda: store.mark_inbound_failed(row_id, "again", NOW + 1),
        lambda: store.schedule_inbound_retry(row_id, "again", NOW + 2, NOW + 1),
    ]
    for move in moves:
        with pytest.raises(IllegalTransitionError):
            move()
    assert store.get_inbound(row_id).state == finished


# --- atomicity, failures and concurrency ----------------------------------------------------


class SimulatedCrash(Exception):
    pass


def test_a_transition_interrupted_midway_leaves_everything_as_before(database_path: Path) -> None:
    def crash_on_insert(statement: str) -> None:
        if statement.upper().startswith("INSERT") and "conversations" in statement:
            raise SimulatedCrash(statement)

    with StateStore.open(database_path) as store:
        store.record_conversation(ROUTE, "conversation-1", None, NOW)
    with StateStore.open(database_path, statement_observer=crash_on_insert) as store:
        # record_conversation first closes conversation-1, then inserts conversation-2.
        with pytest.raises(SimulatedCrash):
            store.record_conversation(ROUTE, "conversation-2", None, NOW + 1)
        assert store.open_conversation(ROUTE) == "conversation-1"
        assert [row.conversation_id for row in store.conversations_for(ROUTE)] == ["conversation-1"]


@pytest.mark.parametrize("table", ["inbound", "conversations"])
def test_kill_9_just_before_a_commit_leaves_the_old_state(database_path: Path, table: str) -> None:
    with StateStore.open(database_path) as store:
        store.record_conversation(ROUTE, "conversation-1", None, NOW)
        store.note_sequence_seen("conversation-1", 2)
    victim = """
        import os, signal, sys
        from pathlib import Path
        from syncd.state.store import StateStore
        table = sys.argv[2]
        wrote = False
        def kill_before_commit(statement):
            global wrote
            if statement.upper().startswith("INSERT") and table in statement:
                wrote = True
            if wrote and statement == "COMMIT":
                os.kill(os.getpid(), signal.SIGKILL)
        store = StateStore.open(Path(sys.argv[1]), statement_observer=kill_before_commit)
        if table == "inbound":
            store.record_inbound("front-desk", "conversation-1", 5, "/f", "PNG", "", "a", 1.0)
        else:
            store.record_conversation("front-desk", "conversation-2", None, 1.0)
        print("survived")
    """
    result = run_python(victim, str(database_path), table)
    assert result.returncode == -9, result.stdout + result.stderr

    with StateStore.open(database_path) as store:
        assert store.integrity_problems() == []
        assert store.open_conversation(ROUTE) == "conversation-1"
        assert store.resume_sequence("conversation-1") == 3
        assert store.inbound_counts_by_state()["pending"] == 0


def test_a_full_disk_is_reported_as_state_error_and_committed_rows_survive(
    database_path: Path,
) -> None:
    long_name = "scan_" + "x" * 3000 + ".jpg"
    journaled: list[int] = []
    with StateStore.open(database_path, max_size_bytes=256 * 1024) as store:
        with pytest.raises(StateError, match="full") as raised:
            for index in range(10_000):
                journaled.append(journal(store, f"{index}_{long_name}"))
        assert str(database_path) in str(raised.value)
        assert len(journaled) > 0
        assert store.counts_by_state()["detected"] == len(journaled)
        assert store.integrity_problems() == []
    with StateStore.open(database_path) as store:
        assert store.get_outbound(journaled[-1]).state == "detected"
        journal(store, "one more once there is room.jpg")


def test_a_database_locked_by_another_writer_is_reported_as_state_error(
    database_path: Path,
) -> None:
    with StateStore.open(database_path, busy_timeout_seconds=0.05) as store:
        with plain_connection(database_path) as other_writer:
            other_writer.execute("BEGIN IMMEDIATE")
            with pytest.raises(StateError, match="locked"):
                journal(store)
            other_writer.execute("ROLLBACK")
        journal(store)
        assert store.counts_by_state()["detected"] == 1


def test_a_checkpoint_empties_the_write_ahead_log(database_path: Path) -> None:
    wal_path = database_path.with_name(database_path.name + "-wal")
    with StateStore.open(database_path) as store:
        for index in range(20):
            journal(store, f"scan_{index}.jpg")
        assert wal_path.stat().st_size > 0
        assert store.checkpoint() is True
        assert wal_path.stat().st_size == 0
        assert store.counts_by_state()["detected"] == 20


def test_a_closed_store_raises_state_error(database_path: Path) -> None:
    store = StateStore.open(database_path)
    store.close()
    store.close()
    with pytest.raises(StateError):
        store.counts_by_state()


def test_threads_sharing_one_store_each_get_their_own_rows(store: StateStore) -> None:
    ids: list[int] = []
    ids_lock = threading.Lock()

    def journal_many(thread_index: int) -> None:
        for file_index in range(25):
            row_id = journal(store, f"t{thread_index}_{file_index}.jpg")
            with ids_lock:
                ids.append(row_id)

    threads = [threading.Thread(target=journal_many, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert len(set(ids)) == 200
    assert store.counts_by_state(ROUTE)["detected"] == 200


# --- reporting ------------------------------------------------------------------------------


def test_route_summary_shows_counts_ages_and_outcomes(store: StateStore) -> None:
    row_in_state(store, "done")
    journal(store, "waiting.jpg", now=NOW + 30)
    store.record_inbound(ROUTE, "conversation-1", 2, "/f/a.png", "PNG", "", "agent", NOW)
    store.note_success(ROUTE, NOW + 40)
    store.note_error(ROUTE, "storage answered 503", NOW + 50, kind=ErrorKind.LIVEPERSON)

    summary = store.route_summary(ROUTE)
    assert summary.conversation_id == "conversation-1"
    assert summary.outbound_counts["done"] == 1
    assert summary.outbound_counts["detected"] == 1
    assert summary.outbound_counts["failed"] == 0
    assert summary.inbound_counts == {"pending": 1, "done": 0, "failed": 0}
    assert summary.oldest_pending_created_at == NOW + 30
    assert summary.oldest_pending_age_seconds(NOW + 100) == 70
    assert (summary.last_success_at, summary.last_error, summary.last_error_at) == (
        NOW + 40,
        "storage answered 503",
        NOW + 50,
    )
    assert summary.last_error_kind == ErrorKind.LIVEPERSON


def test_route_summary_of_a_route_never_seen_is_empty(store: StateStore) -> None:
    summary = store.route_summary("never-configured")
    assert summary.conversation_id is None
    assert set(summary.outbound_counts.values()) == {0}
    assert summary.oldest_pending_created_at is None
    assert summary.oldest_pending_age_seconds(NOW) is None
    assert summary.last_success_at is None


def add_done_rows(database_path: Path, count: int) -> None:
    """Bulk-loads finished rows straight into the file, as months of operation would leave."""
    with plain_connection(database_path) as connection:
        connection.execute("BEGIN")
        connection.execute(
            """
            WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < ?)
            INSERT INTO outbound (route, source_name, source_path, work_path, size_bytes,
                mtime_ns, inode, sha256, state, attempts, next_attempt_at, created_at,
                updated_at, done_at)
            SELECT ?, 'scan_' || n || '.jpg', '/outbox/scan_' || n || '.jpg',
                '/work/' || n || '__scan.jpg', 1000, n, n, printf('%064d', n), 'done', 0, n,
                n, n, n
            FROM numbers
            """,
            [count, ROUTE],
        )
        connection.execute("COMMIT")


def test_route_summary_over_100000_done_rows_reads_through_indexes(database_path: Path) -> None:
    StateStore.open(database_path).close()
    add_done_rows(database_path, 100_000)
    statements: list[str] = []
    with StateStore.open(database_path, statement_observer=statements.append) as store:
        journal(store, "waiting.jpg", now=NOW)
        statements.clear()
        summary = store.route_summary(ROUTE)
    assert summary.outbound_counts["done"] == 100_000
    assert summary.outbound_counts["detected"] == 1
    assert summary.oldest_pending_created_at == NOW

    queries = [text for text in statements if text.lstrip().upper().startswith("SELECT")]
    assert len(queries) >= 4
    with plain_connection(database_path) as connection:
        for query in queries:
            plan = connection.execute(f"EXPLAIN QUERY PLAN {query}", [None] * query.count("?"))
            steps = [detail for (_, _, _, detail) in plan]
            assert not [step for step in steps if step.startswith("SCAN")], (query, steps)


def test_a_limited_listing_returns_only_the_oldest_rows_in_order(store: StateStore) -> None:
    row_ids = [journal(store, f"page_{index:02d}.jpg") for index in range(6)]
    limited = store.outbound_in_states([OutboundState.DETECTED], ROUTE, limit=4)
    assert [row.id for row in limited] == row_ids[:4]
    assert len(store.outbound_in_states([OutboundState.DETECTED], ROUTE)) == 6
