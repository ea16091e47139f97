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

FILES = {
    "a_scan.tif": documents.g4_tiff(3),
    "b_letter.pdf": documents.pdf_document(2),
    "c_form.bmp": documents.save([documents.colour_photo()], "BMP"),
    "d_scanimage.pnm": documents.save([documents.text_page(1, (800, 1000), "1")], "PPM"),
    "e_phone.webp": documents.save([documents.colour_photo()], "WEBP"),
    "f_archive.jp2": documents.save([documents.colour_photo()], "JPEG2000"),
    "g_big.tif": documents.save([documents.text_page(1, (900, 1200), "L")], "TIFF", big_tiff=True),
    "h_phone.heic": documents.save([documents.colour_photo()], "HEIF"),
    "z_after.jpg": jpeg_bytes(640, 480, seed=1),
}
EXPECTED = [
    "a_scan.tif (1/3)",
    "a_scan.tif (2/3)",
    "a_scan.tif (3/3)",
    "b_letter.pdf (1/2)",
    "b_letter.pdf (2/2)",
    "c_form.bmp",
    "d_scanimage.pnm",
    "e_phone.webp",
    "f_archive.jp2",
    "g_big.tif",
    "h_phone.heic",
    "z_after.jpg",
]


def _originals_done(database: Path) -> int:
    rows = read_state(database, lambda store: store.outbound_in_states((OutboundState.DONE,)))
    return sum(1 for row in rows or [] if not row.is_page)


@pytest.mark.parametrize(
    ("transition", "count"),
    [
        ("detected", 1),
        ("claimed", 1),
        ("prepared", 1),
        ("prepared", 2),
        # Per page: the second page's arrow kills it, between page 2 and page 3 of the TIFF;
        # the fifth, between the two pages of the PDF.
        ("uploaded", 2),
        ("publishing", 2),
        ("published", 2),
        ("done", 2),
        ("uploaded", 4),
        ("publishing", 4),
        ("published", 4),
        ("done", 5),
    ],
)
def test_a_kill_between_pages_resumes_at_the_next_page_and_sends_no_page_twice(
    tmp_path: Path, emulator: RunningEmulator, transition: str, count: int
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    outbox = tmp_path / "scans" / "outbox"
    database = tmp_path / "state" / "syncd.sqlite3"
    for name, data in FILES.items():
        (outbox / name).write_bytes(data)
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
            lambda: _originals_done(database) == len(FILES),
            120,
            f"every file done after a crash after {transition!r}",
        )
    finally:
        assert stop_process(restarted) == 0
    assert captions_in_order(emulator) == EXPECTED
    rows = read_state(database, lambda store: store.outbound_in_states(tuple(OutboundState)))
    assert rows is not None
    assert {row.state for row in rows} == {OutboundState.DONE}
    assert sorted((row.source_name, row.page) for row in rows if row.is_page) == [
        ("a_scan.tif", 1),
        ("a_scan.tif", 2),
        ("a_scan.tif", 3),
        ("b_letter.pdf", 1),
        ("b_letter.pdf", 2),
    ]
    assert os.listdir(outbox / ".syncd-work") == []
    assert sorted(os.listdir(outbox / "sent")) == sorted(FILES)
