"""The intake against entries changed under it: real folders, real SQLite, no daemon.

A scanner (or an attacker) can replace a file between the moment the intake read it and
the moment it renames it into the work folder. The intake must notice that what it moved
is not what it read, and must not send it.
"""

from __future__ import annotations

import os
from pathlib import Path

from syncd.config import load_config
from syncd.folders import read_entry
from syncd.folders.route import RouteFolders
from syncd.outbox.candidates import Candidate, work_name
from syncd.outbox.intake import Intake
from syncd.outbox.reconcile import reconcile_route
from syncd.outbox.uploads import page_upload_name, write_named_upload
from syncd.state.model import OutboundState
from syncd.state.pages import PreparedPage
from syncd.state.store import StateStore
from tests.helpers.harness import write_config
from tests.helpers.images import jpeg_bytes


def test_a_file_swapped_for_a_folder_after_it_was_read_goes_to_failed_unsent(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", "12345678"))
    route = config.routes[0]
    folders = RouteFolders(route.name, route.outbox, route.inbox)
    with StateStore.open(config.state.database) as store:
        intake = Intake(route, store, folders)
        (route.outbox / "page.jpg").write_bytes(jpeg_bytes(seed=1))
        read = read_entry(folders.outbox, "page.jpg", 10_000_000)
        # Swapped after the read, before the claim.
        os.unlink(route.outbox / "page.jpg")
        (route.outbox / "page.jpg").mkdir()
        (route.outbox / "page.jpg" / "inside.txt").write_text("not a scan")
        candidate = Candidate(route.outbox / "page.jpg", first_seen_at=0.0)
        assert intake._claim_all([(candidate, read)], now=1.0) == 0
        (row,) = store.outbound_in_states(tuple(OutboundState))
        assert row.state == OutboundState.FAILED
        assert "replaced" in (row.last_error or "")
    assert (route.failed_dir / "page.jpg" / "inside.txt").read_text() == "not a scan"
    assert not os.listdir(route.work_dir)
    folders.close()


def test_a_work_path_in_the_state_outside_the_work_folder_is_never_touched(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", "12345678"))
    route = config.routes[0]
    outside = tmp_path / "elsewhere" / "00000001__page.jpg"
    outside.parent.mkdir()
    outside.write_bytes(jpeg_bytes(seed=2))
    folders = RouteFolders(route.name, route.outbox, route.inbox)
    with StateStore.open(config.state.database) as store:
        row_id = store.journal_detected(
            route.name, route.outbox / "page.jpg", 10, 1, 1, "0" * 64, now=1.0
        )
        # A state row pointing outside the work folder (a damaged or edited database).
        store.mark_claimed(row_id, outside, now=2.0)
        reconcile_route(route, folders, store, now=3.0)
        row = store.get_outbound(row_id)
        assert row.state == OutboundState.FAILED
        assert "not inside" in (row.last_error or "")
    assert outside.read_bytes() == jpeg_bytes(seed=2)
    assert not os.listdir(route.work_dir)
    folders.close()


def test_reconcile_keeps_the_uploads_of_pages_still_to_send_and_skips_page_rows(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", "12345678"))
    route = config.routes[0]
    folders = RouteFolders(route.name, route.outbox, route.inbox)
    with StateStore.open(config.state.database) as store:
        document = store.journal_detected(
            route.name, route.outbox / "doc.pdf", 10, 1, 1, "0" * 64, now=1.0
        )
        original = route.work_dir / work_name(document, "doc.pdf")
        original.write_bytes(b"%PDF-1.4 stand-in")
        store.mark_claimed(document, original, now=2.0)
        pages = [PreparedPage(n, f"doc.pdf ({n}/3)", "PNG", 8, "data:,", 4, 4) for n in (1, 2, 3)]
        first, _, _ = store.mark_document_prepared(document, pages, now=3.0)
        store.mark_failed(first, "LivePerson refused it", now=4.0)
        for number in (1, 2, 3):
            write_named_upload(folders.work, page_upload_name(document, number), b"page")
        # Left by a crash in an earlier attempt: pages of no row, and of another document.
        write_named_upload(folders.work, page_upload_name(document, 4), b"page")
        write_named_upload(folders.work, page_upload_name(document + 50, 1), b"page")

        reconcile_route(route, folders, store, now=5.0)

        assert store.get_outbound(document).state == OutboundState.PREPARED
        assert [row.state for row in store.page_rows(document)] == [
            OutboundState.FAILED,
            OutboundState.PREPARED,
            OutboundState.PREPARED,
        ]
    kept = sorted(name for name in os.listdir(route.work_dir) if name.endswith(".upload"))
    assert kept == [page_upload_name(document, 2), page_upload_name(document, 3)]
    assert original.exists()
    folders.close()
