"""SIGKILL right after each transition while a document's pages go out: each page once, in order."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundState
from tests.helpers import documents
from tests.helpers.harness import read_state, start_daemon_process, stop_process, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import captions_in_order
from tests.helpers.waiting import wait_until

EXPECTED = ["a_scan.tif (1/3)", "a_scan.tif (2/3)", "a_scan.tif (3/3)", "b_after.jpg"]


def _originals_done(database: Path) -> int:
    rows = read_state(database, lambda store: store.outbound_in_states((OutboundState.DONE,)))
    return sum(1 for row in rows or [] if not row.is_page)


@pytest.mark.parametrize(
    ("transition", "count"),
    [
        ("detected", 1),
        ("claimed", 1),
        ("prepared", 1),
        # Per page: the second page's arrow kills it, between page 2 and page 3.
        ("uploaded", 2),
        ("publishing", 2),
        ("published", 2),
        ("done", 2),
    ],
)
def test_a_kill_between_pages_resumes_at_the_next_page_and_sends_no_page_twice(
    tmp_path: Path, emulator: RunningEmulator, transition: str, count: int
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    outbox = tmp_path / "scans" / "outbox"
    database = tmp_path / "state" / "syncd.sqlite3"
    (outbox / "a_scan.tif").write_bytes(documents.g4_tiff(3))
    (outbox / "b_after.jpg").write_bytes(jpeg_bytes(640, 480, seed=1))
    log = tmp_path / "daemon.log"
    crashing = start_daemon_process(
        config,
        env={"SYNCD_CRASH_AFTER": transition, "SYNCD_CRASH_AFTER_COUNT": str(count)},
        log_path=log,
    )
    assert crashing.wait(timeout=90) == -signal.SIGKILL, log.read_text(errors="replace")
    restarted = start_daemon_process(config, log_path=log)
    try:
        wait_until(
            lambda: _originals_done(database) == 2,
            90,
            f"the document and the photo done after a crash after {transition!r}",
        )
    finally:
        assert stop_process(restarted) == 0
    assert captions_in_order(emulator) == EXPECTED
    rows = read_state(database, lambda store: store.outbound_in_states(tuple(OutboundState)))
    assert rows is not None
    assert {row.state for row in rows} == {OutboundState.DONE}
    assert sorted(row.page for row in rows if row.is_page) == [1, 2, 3]
    assert os.listdir(outbox / ".syncd-work") == []
    assert sorted(os.listdir(outbox / "sent")) == ["a_scan.tif", "b_after.jpg"]
