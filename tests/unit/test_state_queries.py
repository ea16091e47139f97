"""The state store's queries and the columns each transition writes, on a real SQLite file.

``test_state.py`` checks which transitions are legal; these tests check what the rows say
afterwards and what the queries that ``syncd status``, the metrics, the intake and the
receiver rely on return: which rows, in which order, of which route.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncd.errors import StateError
from syncd.state.model import (
    LEFT_IN_OUTBOX,
    IllegalTransitionError,
    InboundState,
    OutboundState,
    UnknownRowError,
)
from syncd.state.store import StateStore

NOW = 1_700_000_000.0
ROUTE = "front-desk"
OTHER = "back-office"
SHA = "cd" * 32


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state" / "syncd.db") as opened:
        opened.record_conversation(ROUTE, "conversation-1", "-1", NOW)
        opened.record_conversation(OTHER, "conversation-2", "-1", NOW)
        yield opened


def _journal(
    store: StateStore,
    name: str,
    route: str = ROUTE,
    now: float = NOW,
    version: tuple[int, int, int] = (2048, 111, 222),
) -> int:
    size, mtime_ns, inode = version
    return store.journal_detected(route, Path("/outbox") / name, size, mtime_ns, inode, SHA, now)


def _to_published(store: StateStore, row_id: int, upload_bytes: int, now: float = NOW) -> None:
    store.mark_claimed(row_id, Path(f"/work/{row_id}.jpg"), now)
    store.mark_prepared(row_id, "Scan", "JPG", upload_bytes, None, 10, 20, now)
    store.mark_uploaded(row_id, f"/files/{row_id}.jpg", now)
    store.mark_publishing(row_id, "conversation-1", now)
    store.mark_published(row_id, row_id, now)


def test_a_journaled_row_has_its_file_version_and_no_attempts(store: StateStore) -> None:
    row_id = _journal(store, "scan.jpg", now=NOW + 5, version=(4096, 333, 444))
    row = store.get_outbound(row_id)
    assert (row.route, row.source_name, row.source_path) == (
        ROUTE,
        "scan.jpg",
        Path("/outbox/scan.jpg"),
    )
    assert (row.size_bytes, row.mtime_ns, row.inode, row.sha256) == (4096, 333, 444, SHA)
    assert (row.state, row.attempts, row.last_error) == (OutboundState.DETECTED, 0, None)
    assert (row.created_at, row.updated_at, row.next_attempt_at) == (NOW + 5, NOW + 5, NOW + 5)


def test_done_clears_attempts_and_keeps_the_note_and_the_archive_path(store: StateStore) -> None:
    archived = _journal(store, "a.jpg")
    noted = _journal(store, "b.jpg")
    for row_id in (archived, noted):
        _to_published(store, row_id, 100)
        store.schedule_retry(row_id, "archive busy", NOW + 60, NOW + 1)
    store.mark_done(archived, Path("/sent/a.jpg"), NOW + 70)
    store.mark_done(noted, None, NOW + 71, note="could not be archived: read-only")
    first, second = store.get_outbound(archived), store.get_outbound(noted)
    assert (first.state, first.final_path, first.last_error) == (
        OutboundState.DONE,
        Path("/sent/a.jpg"),
        None,
    )
    assert (first.attempts, first.next_attempt_at, first.updated_at) == (0, NOW + 70, NOW + 70)
    assert (second.final_path, second.last_error) == (None, "could not be archived: read-only")
    assert (second.attempts, second.next_attempt_at) == (0, NOW + 71)


def test_failed_and_retried_rows_keep_the_reason_and_the_count(store: StateStore) -> None:
    row_id = _journal(store, "a.jpg")
    store.schedule_retry(row_id, "HTTP 503", NOW + 30, NOW + 1)
    store.schedule_retry(row_id, "HTTP 502", NOW + 90, NOW + 31)
    row = store.get_outbound(row_id)
    assert (row.attempts, row.last_error, row.next_attempt_at) == (2, "HTTP 502", NOW + 90)
    store.mark_failed(row_id, "not an image", NOW + 100)
    row = store.get_outbound(row_id)
    assert (row.state, row.last_error, row.updated_at) == (
        OutboundState.FAILED,
        "not an image",
        NOW + 100,
    )


def test_reset_for_retry_forgets_what_was_learnt_and_takes_the_new_version(
    store: StateStore,
) -> None:
    row_id = _journal(store, "a.jpg")
    _to_published(store, row_id, 100)
    store.mark_failed(row_id, "conversation closed", NOW + 1)
    store.reset_for_retry(
        row_id, Path("/outbox/renamed.jpg"), NOW + 2, file_version=(999, 888, 777)
    )
    row = store.get_outbound(row_id)
    assert row.state == OutboundState.DETECTED
    assert (row.source_name, row.source_path) == ("renamed.jpg", Path("/outbox/renamed.jpg"))
    assert (row.size_bytes, row.mtime_ns, row.inode) == (999, 888, 777)
    assert (row.attempts, row.next_attempt_at, row.last_error) == (0, NOW + 2, None)
    assert (row.work_path, row.caption, row.file_type, row.upload_bytes) == (None,) * 4
    assert (row.relative_path, row.conversation_id, row.sequence) == (None,) * 3
    assert (row.claimed_at, row.published_at) == (None, None)
    # Without a new version the journaled one stays.
    other = _journal(store, "b.jpg", version=(5, 6, 7))
    store.mark_failed(other, "x", NOW)
    store.reset_for_retry(other, Path("/outbox/b.jpg"), NOW + 3)
    assert store.get_outbound(other).size_bytes == 5
    assert store.find_outbound_by_source(ROUTE, Path("/outbox/b.jpg"), 7, 5, 6) is not None


def test_rows_are_found_by_source_version_only_while_detected(store: StateStore) -> None:
    row_id = _journal(store, "a.jpg", version=(10, 20, 30))
    found = store.find_outbound_by_source(ROUTE, Path("/outbox/a.jpg"), 30, 10, 20)
    assert found is not None and found.id == row_id
    for wrong in [
        (OTHER, Path("/outbox/a.jpg"), 30, 10, 20),
        (ROUTE, Path("/outbox/b.jpg"), 30, 10, 20),
        (ROUTE, Path("/outbox/a.jpg"), 31, 10, 20),
        (ROUTE, Path("/outbox/a.jpg"), 30, 11, 20),
        (ROUTE, Path("/outbox/a.jpg"), 30, 10, 21),
    ]:
        assert store.find_outbound_by_source(*wrong) is None
    newer = _journal(store, "a.jpg", version=(10, 20, 30))
    found = store.find_outbound_by_source(ROUTE, Path("/outbox/a.jpg"), 30, 10, 20)
    assert found is not None and found.id == newer
    store.mark_claimed(newer, Path("/work/x.jpg"), NOW)
    found = store.find_outbound_by_source(ROUTE, Path("/outbox/a.jpg"), 30, 10, 20)
    assert found is not None and found.id == row_id
    assert store.find_outbound_by_work_path(Path("/work/x.jpg")).id == newer  # type: ignore[union-attr]
    assert store.find_outbound_by_work_path(Path("/work/y.jpg")) is None


def test_taken_sources_are_the_versions_on_their_way_or_left_in_the_outbox(
    store: StateStore,
) -> None:
    detected = _journal(store, "detected.jpg", version=(1, 1, 1))
    claimed = _journal(store, "claimed.jpg", version=(2, 2, 2))
    store.mark_claimed(claimed, Path("/work/c.jpg"), NOW)
    quarantined = _journal(store, "quarantined.jpg", version=(3, 3, 3))
    store.mark_failed(quarantined, "not an image", NOW)
    left = _journal(store, "left.jpg", version=(4, 4, 4))
    store.mark_failed(left, f"cannot move it; it {LEFT_IN_OUTBOX}", NOW)
    sent = _journal(store, "sent.jpg", version=(5, 5, 5))
    _to_published(store, sent, 10)
    store.mark_done(sent, Path("/sent/s.jpg"), NOW)
    copied = _journal(store, "copied.jpg", version=(6, 6, 6))
    _to_published(store, copied, 10)
    store.mark_done(copied, None, NOW, note="the original is not ours to move")
    elsewhere = _journal(store, "claimed.jpg", route=OTHER, version=(7, 7, 7))
    store.mark_claimed(elsewhere, Path("/work/o.jpg"), NOW)
    assert detected
    assert store.taken_sources(ROUTE) == {
        ("/outbox/claimed.jpg", 2, 2, 2),
        ("/outbox/left.jpg", 4, 4, 4),
        ("/outbox/copied.jpg", 6, 6, 6),
    }
    assert store.taken_sources(OTHER) == {("/outbox/claimed.jpg", 7, 7, 7)}


def test_listing_queries_keep_to_their_route_states_and_order(store: StateStore) -> None:
    first = _journal(store, "1.jpg", now=NOW)
    second = _journal(store, "2.jpg", now=NOW + 1)
    third = _journal(store, "3.jpg", now=NOW + 2)
    other = _journal(store, "4.jpg", route=OTHER, now=NOW - 10)
    store.mark_claimed(second, Path("/work/2.jpg"), NOW)
    store.schedule_retry(third, "busy", NOW + 50, NOW + 3)
    detected = [OutboundState.DETECTED]
    assert [r.id for r in store.outbound_in_states(detected)] == [first, third, other]
    assert [r.id for r in store.outbound_in_states(detected, route=ROUTE)] == [first, third]
    assert [r.id for r in store.outbound_in_states(detected, limit=1)] == [first]
    both = [OutboundState.CLAIMED, OutboundState.DETECTED, OutboundState.DETECTED]
    assert [r.id for r in store.outbound_in_states(both, route=ROUTE, limit=2)] == [first, second]
    assert [r.id for r in store.due_outbound(ROUTE, both, NOW + 49)] == [first, second]
    assert [r.id for r in store.due_outbound(ROUTE, both, NOW + 50)] == [first, second, third]
    assert [r.id for r in store.due_outbound(ROUTE, [OutboundState.CLAIMED], NOW + 99)] == [second]
    assert store.oldest_pending_created_at(ROUTE) == NOW
    assert store.oldest_pending_created_at(OTHER) == NOW - 10
    store.mark_failed(first, "x", NOW)
    assert store.oldest_pending_created_at(ROUTE) == NOW + 1
    assert store.oldest_pending_created_at("nobody") is None
    counts = store.counts_by_state(ROUTE)
    assert (counts["detected"], counts["claimed"], counts["failed"], counts["done"]) == (1, 1, 1, 0)
    assert store.counts_by_state()["detected"] == 2


def test_recent_problems_are_the_newest_finished_rows_with_a_reason(store: StateStore) -> None:
    failed_early = _journal(store, "1.jpg")
    store.mark_failed(failed_early, "not an image", NOW + 1)
    done_with_note = _journal(store, "2.jpg")
    _to_published(store, done_with_note, 10)
    store.mark_done(done_with_note, None, NOW + 3, note="could not be archived")
    done_clean = _journal(store, "3.jpg")
    _to_published(store, done_clean, 10)
    store.mark_done(done_clean, Path("/sent/3.jpg"), NOW + 4)
    failed_late = _journal(store, "4.jpg")
    store.mark_failed(failed_late, "too large", NOW + 2)
    retrying = _journal(store, "5.jpg")
    store.schedule_retry(retrying, "HTTP 503", NOW + 30, NOW + 5)
    elsewhere = _journal(store, "6.jpg", route=OTHER)
    store.mark_failed(elsewhere, "not an image", NOW + 9)
    assert [r.id for r in store.recent_problems(ROUTE)] == [
        done_with_note,
        failed_late,
        failed_early,
    ]
    assert [r.id for r in store.recent_problems(ROUTE, limit=2)] == [done_with_note, failed_late]
    assert [r.last_error for r in store.recent_problems(OTHER)] == ["not an image"]


def test_sent_byte_totals_count_only_the_done_rows_of_the_route(store: StateStore) -> None:
    assert store.sent_byte_totals(ROUTE) == (0, 0)
    for name, upload in (("a.jpg", 700), ("b.jpg", 300)):
        row_id = _journal(store, name, version=(1000, 1, 1))
        _to_published(store, row_id, upload)
        store.mark_done(row_id, None, NOW)
    unfinished = _journal(store, "c.jpg", version=(5000, 1, 1))
    _to_published(store, unfinished, 4000)
    other = _journal(store, "d.jpg", route=OTHER, version=(9000, 1, 1))
    _to_published(store, other, 9000)
    store.mark_done(other, None, NOW)
    assert store.sent_byte_totals(ROUTE) == (2000, 1000)
    assert store.sent_byte_totals(OTHER) == (9000, 9000)


def _inbound(store: StateStore, sequence: int, **options: object) -> int | None:
    return store.record_inbound(
        ROUTE,
        "conversation-1",
        sequence,
        f"/files/{sequence}.pdf",
        "PDF",
        f"file {sequence}",
        "agent-7",
        NOW + sequence,
        **options,  # type: ignore[arg-type]
    )


def test_an_inbound_row_records_the_event_and_moves_the_cursor(store: StateStore) -> None:
    row_id = _inbound(store, 4)
    assert row_id is not None
    row = store.get_inbound(row_id)
    assert (row.route, row.conversation_id, row.sequence) == (ROUTE, "conversation-1", 4)
    assert (row.relative_path, row.file_type, row.caption, row.originator_id) == (
        "/files/4.pdf",
        "PDF",
        "file 4",
        "agent-7",
    )
    assert (row.state, row.attempts, row.next_attempt_at) == (InboundState.PENDING, 0, NOW + 4)
    assert (row.created_at, row.updated_at) == (NOW + 4, NOW + 4)
    assert _inbound(store, 4) is None  # a replay of the same event
    store.mark_inbound_done(row_id, Path("/inbox/file 4.pdf"), 1234, NOW + 9)
    assert store.resume_sequence("conversation-1") == 5


def test_the_cursor_follows_seen_through_and_never_moves_back(store: StateStore) -> None:
    first = _inbound(store, 8, seen_through=None)  # out of order: the cursor stays
    assert first is not None
    assert store.resume_sequence("conversation-1") == 8  # its file is still pending
    store.mark_inbound_done(first, Path("/inbox/8.pdf"), 1, NOW)
    assert store.resume_sequence("conversation-1") == 0
    second = _inbound(store, 9, seen_through=5)
    assert second is not None
    store.mark_inbound_failed(second, "refused", NOW)
    assert store.resume_sequence("conversation-1") == 6
    store.note_sequence_seen("conversation-1", 20)
    store.note_sequence_seen("conversation-1", 12)
    assert store.resume_sequence("conversation-1") == 21
    with pytest.raises(UnknownRowError, match="conversations has no row 'conversation-9'"):
        store.record_inbound(
            ROUTE, "conversation-9", 1, "/f", "PDF", "", "a", NOW, seen_through=None
        )
    with pytest.raises(UnknownRowError, match="conversations has no row 'conversation-9'"):
        store.note_sequence_seen("conversation-9", 3)
    assert store.resume_sequence("conversation-9") == 0


def test_inbound_retries_failures_and_listings(store: StateStore) -> None:
    rows = [_inbound(store, sequence) for sequence in (1, 2, 3, 4)]
    assert all(row is not None for row in rows)
    one, two, three, four = (int(row) for row in rows if row is not None)
    store.schedule_inbound_retry(two, "HTTP 503", NOW + 100, NOW + 10)
    row = store.get_inbound(two)
    assert (row.attempts, row.last_error, row.next_attempt_at) == (1, "HTTP 503", NOW + 100)
    store.mark_inbound_failed(three, "not allowed", NOW + 11)
    store.mark_inbound_failed(four, "too large", NOW + 12)
    assert store.get_inbound(three).last_error == "not allowed"
    store.mark_inbound_done(two, Path("/inbox/2.pdf"), 55, NOW + 13)
    done = store.get_inbound(two)
    assert (done.state, done.local_path, done.size_bytes, done.last_error) == (
        InboundState.DONE,
        Path("/inbox/2.pdf"),
        55,
        None,
    )
    assert [r.id for r in store.due_inbound(ROUTE, NOW + 1)] == [one]
    assert [r.id for r in store.due_inbound(OTHER, NOW + 1)] == []
    assert [r.id for r in store.failed_inbound(ROUTE)] == [four, three]
    assert [r.last_error for r in store.failed_inbound(ROUTE, limit=1)] == ["too large"]
    assert store.failed_inbound(OTHER) == []
    counts = store.inbound_counts_by_state(ROUTE)
    assert (counts["pending"], counts["done"], counts["failed"]) == (1, 1, 2)


def test_a_preview_over_the_limit_is_refused_before_anything_is_written(store: StateStore) -> None:
    row_id = _journal(store, "a.jpg")
    store.mark_claimed(row_id, Path("/work/a.jpg"), NOW)
    with pytest.raises(StateError, match=r"^preview has 30001 characters; at most 30000 can"):
        store.mark_prepared(row_id, "Scan", "JPG", 1, "x" * 30_001, 1, 1, NOW)
    assert store.get_outbound(row_id).state == OutboundState.CLAIMED


def test_an_illegal_move_names_the_table_and_row(store: StateStore) -> None:
    row_id = _journal(store, "a.jpg")
    with pytest.raises(IllegalTransitionError, match=rf" outbound row {row_id}: "):
        store.mark_done(row_id, None, NOW)
    with pytest.raises(IllegalTransitionError, match=rf" outbound row {row_id}: "):
        store.mark_uploaded(row_id, "/files/x", NOW)
    with pytest.raises(IllegalTransitionError, match=rf" outbound row {row_id}: "):
        store.reset_for_retry(row_id, Path("/outbox/a.jpg"), NOW)
    store.mark_failed(row_id, "x", NOW)
    with pytest.raises(IllegalTransitionError, match=rf" outbound row {row_id}: "):
        store.mark_failed(row_id, "again", NOW)
    with pytest.raises(IllegalTransitionError, match=rf" outbound row {row_id}: "):
        store.schedule_retry(row_id, "again", NOW, NOW)
    inbound = _inbound(store, 1)
    assert inbound is not None
    store.mark_inbound_failed(inbound, "x", NOW)
    with pytest.raises(IllegalTransitionError, match=rf" inbound row {inbound}: "):
        store.mark_inbound_done(inbound, Path("/x"), 1, NOW)
    with pytest.raises(IllegalTransitionError, match=rf" inbound row {inbound}: "):
        store.mark_inbound_failed(inbound, "again", NOW)
    with pytest.raises(IllegalTransitionError, match=rf" inbound row {inbound}: "):
        store.schedule_inbound_retry(inbound, "again", NOW, NOW)


# Each query with the action its error names when the database fails under it (here: its
# tables dropped by another program, as damage or a foreign tool would).
FAILING_CALLS = [
    (lambda s: s.journal_detected(ROUTE, Path("/o/a.jpg"), 1, 1, 1, SHA, NOW), "journal /o/a.jpg"),
    (lambda s: s.outbound_in_states([OutboundState.DONE]), "list outbound rows"),
    (lambda s: s.recent_problems(ROUTE), f"list the problems of route {ROUTE}"),
    (
        lambda s: s.due_outbound(ROUTE, [OutboundState.DONE], NOW),
        f"list due outbound rows of route {ROUTE}",
    ),
    (lambda s: s.find_outbound_by_source(ROUTE, Path("/o/b"), 1, 1, 1), "look up /o/b"),
    (lambda s: s.taken_sources(ROUTE), f"list the taken files of route {ROUTE}"),
    (lambda s: s.find_outbound_by_work_path(Path("/w/c")), "look up /w/c"),
    (lambda s: s.sent_byte_totals(ROUTE), f"sum the bytes sent by route {ROUTE}"),
    (
        lambda s: s.oldest_pending_created_at(ROUTE),
        f"find the oldest pending file of route {ROUTE}",
    ),
    (lambda s: s.counts_by_state(ROUTE), "count outbound rows"),
    (
        lambda s: s.record_inbound(ROUTE, "conversation-1", 3, "/f", "PDF", "", "a", NOW),
        "record event 3 of conversation-1",
    ),
    (lambda s: s.due_inbound(ROUTE, NOW), f"list due inbound rows of route {ROUTE}"),
    (lambda s: s.failed_inbound(ROUTE), f"list refused inbound rows of route {ROUTE}"),
    (lambda s: s.inbound_counts_by_state(ROUTE), "count inbound rows"),
    (lambda s: s.note_sequence_seen("conversation-1", 4), "advance the cursor of conversation-1"),
    (lambda s: s.resume_sequence("conversation-1"), "read the cursor of conversation-1"),
]


@pytest.mark.parametrize(
    ("call", "action"), FAILING_CALLS, ids=[action for _, action in FAILING_CALLS]
)
def test_a_failing_query_names_what_it_was_doing(
    tmp_path: Path, call: Callable[[StateStore], object], action: str
) -> None:
    database = tmp_path / "syncd.db"
    with StateStore.open(database) as store:
        with contextlib.closing(sqlite3.connect(database)) as other:
            other.executescript(
                "DROP TABLE outbound; DROP TABLE inbound; DROP TABLE conversations;"
            )
        with pytest.raises(StateError, match=f"cannot {re.escape(action)}: "):
            call(store)
