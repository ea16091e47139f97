"""The upload window's bounds: which rows go ahead, how many at once, each once.

The uploads themselves are the real ``RowUploader``'s job (tests/integration/
test_upload_window.py runs them against the emulator); here a stand-in that holds each
upload until the test lets it go shows what the window starts, with real rows from a real
SQLite state.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.outbox.upload_window import UploadWindow
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore
from tests.helpers.waiting import wait_until

NOW = 1_000.0


class HeldUploads:
    """Records each row it is asked to upload ahead and holds it until released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def upload_ahead(self, row: OutboundRow) -> bool:
        with self._lock:
            self.started.append(row.id)
        self.release.wait(10)
        return True


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state.sqlite3") as opened:
        yield opened


def _prepared_rows(store: StateStore, count: int) -> list[OutboundRow]:
    rows = []
    for number in range(count):
        row_id = store.journal_detected(
            "scans", Path(f"/outbox/scan-{number}.jpg"), 2048, number, 100 + number, "s", NOW
        )
        store.mark_claimed(row_id, Path(f"/outbox/.syncd-work/{row_id}"), NOW)
        store.mark_prepared(row_id, f"scan-{number}.jpg", "JPG", 2000, None, 10, 10, NOW)
        rows.append(store.get_outbound(row_id))
    return rows


def test_the_window_uploads_only_the_rows_behind_the_next_and_at_most_size_minus_one(
    store: StateStore,
) -> None:
    uploads = HeldUploads()
    woken = threading.Event()
    window = UploadWindow(uploads, 3, woken.set)  # type: ignore[arg-type]
    rows = _prepared_rows(store, 6)
    try:
        assert window.offer(rows, NOW) == 2
        wait_until(lambda: len(uploads.started) == 2, 10, "two uploads ahead")
        # Rows 1 and 2: the head (row 0) is the sender's own, rows past the window wait.
        assert sorted(uploads.started) == [rows[1].id, rows[2].id]
        assert window.busy_ids() == {rows[1].id, rows[2].id}
        # Full: nothing more starts, and a row is never offered twice.
        assert window.offer(rows, NOW) == 0
    finally:
        uploads.release.set()
    wait_until(lambda: not window.busy_ids(), 10, "the uploads to end")
    assert woken.is_set()
    assert window.offer(rows, NOW) == 0  # rows 1 and 2 were offered once already
    # Row 2 is next now: rows 3 and 4 are behind it, within the window.
    assert window.offer(rows[2:], NOW) == 2
    wait_until(lambda: not window.busy_ids(), 10, "the uploads to end")
    assert sorted(uploads.started[2:]) == [rows[3].id, rows[4].id]


def test_rows_with_a_failed_attempt_or_not_due_wait_for_their_turn(store: StateStore) -> None:
    uploads = HeldUploads()
    uploads.release.set()
    window = UploadWindow(uploads, 4, lambda: None)  # type: ignore[arg-type]
    rows = _prepared_rows(store, 4)
    store.schedule_retry(rows[1].id, "storage said 403", NOW + 60, NOW)
    store.schedule_retry(rows[2].id, "storage said 403", NOW - 1, NOW)
    rows = [store.get_outbound(row.id) for row in rows]
    assert window.offer(rows, NOW) == 1  # only row 3: row 1 is not due, row 2 failed once
    wait_until(lambda: not window.busy_ids(), 10, "the upload to end")
    assert uploads.started == [rows[3].id]


def test_a_window_of_one_never_uploads_ahead(store: StateStore) -> None:
    uploads = HeldUploads()
    window = UploadWindow(uploads, 1, lambda: None)  # type: ignore[arg-type]
    assert window.offer(_prepared_rows(store, 3), NOW) == 0
    assert uploads.started == []
