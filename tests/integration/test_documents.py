"""Documents and phone photos end to end: real folders, SQLite, the child renderer, the emulator."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from syncd.config import RouteConfig
from syncd.emulator.server import RunningEmulator
from syncd.folders.route import RouteFolders
from syncd.outbox.intake import TRAILER_WALK_MAX_BYTES, Intake
from syncd.state.model import OutboundState
from syncd.state.store import StateStore
from tests.helpers import documents
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import decode
from tests.helpers.lookups import captions_in_order, hosted_file_events, object_bytes
from tests.helpers.waiting import wait_until

BIG_TIMEOUT = 90


def drop(outbox: Path, name: str, data: bytes) -> None:
    """Write elsewhere in full, then rename in, as scanners do."""
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)


def originals_done(store) -> int:  # type: ignore[no-untyped-def]
    """Finished rows that are originals, not pages."""
    rows = store.outbound_in_states((OutboundState.DONE, OutboundState.FAILED))
    return sum(1 for row in rows if not row.is_page)


def test_every_document_format_is_published_page_by_page_in_order_and_once(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    files = {
        "a_scan.tif": documents.g4_tiff(3),
        "b_letter.pdf": documents.pdf_document(2),
        "c_form.bmp": documents.save([documents.colour_photo()], "BMP"),
        "d_scanimage.pnm": documents.save([documents.text_page(1, (800, 1000), "L")], "PPM"),
        "e_phone.webp": documents.save([documents.colour_photo()], "WEBP"),
        "f_archive.jp2": documents.save([documents.colour_photo()], "JPEG2000"),
        "g_big.tif": documents.save(
            [documents.text_page(1, (900, 1200), "L")], "TIFF", big_tiff=True
        ),
        "h_phone.heic": documents.save([documents.colour_photo()], "HEIF"),
    }
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        outbox = running.config.routes[0].outbox
        for name, data in files.items():
            drop(outbox, name, data)
        wait_until(
            lambda: originals_done(running.daemon.store) == len(files),
            BIG_TIMEOUT,
            "every document to be finished",
        )
        failed = running.daemon.store.outbound_in_states((OutboundState.FAILED,))
        assert failed == [], [row.last_error for row in failed]
    assert captions_in_order(emulator) == [
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
    ]
    events = hosted_file_events(emulator)
    g4_pages = [
        decode(object_bytes(emulator, event["event"]["message"]["relativePath"]))
        for event in events[:3]
    ]
    # Bilevel pages are sent as greyscale, each page its own picture (the bar grows by page).
    assert [page.mode for page in g4_pages] == ["L", "L", "L"]
    bar_lengths = [_dark_run(page) for page in g4_pages]
    assert bar_lengths[0] < bar_lengths[1] < bar_lengths[2], bar_lengths
    pdf_page = decode(object_bytes(emulator, events[3]["event"]["message"]["relativePath"]))
    assert pdf_page.size == (1241, 1754)  # A4, sized as the policy sizes a 300 dpi scan
    assert sorted(os.listdir(outbox / "sent")) == sorted(files)
    assert os.listdir(outbox / ".syncd-work") == []


def _dark_run(page: Image.Image) -> int:
    """Length of the dark bar at the top left of a test page, in pixels of this picture."""
    top = int(page.height * 0.04)
    row = page.convert("L").crop((0, top, page.width, top + 1))
    return sum(row.histogram()[:128])


def test_bad_documents_fail_with_a_reason_and_nothing_of_them_is_published(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    files = {
        "encrypted.pdf": documents.encrypted_pdf(),
        "empty.pdf": documents.zero_page_pdf(),
        "long.pdf": documents.pdf_document(101),
        "damaged.tif": documents.tiff_with_damaged_page(2),
    }
    reasons = {
        "encrypted.pdf": "password-protected",
        "empty.pdf": "no pages",
        "long.pdf": "101 pages, more than max_pages = 100",
        "damaged.tif": "page 2",
    }
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        outbox = running.config.routes[0].outbox
        for name, data in files.items():
            drop(outbox, name, data)
        wait_until(
            lambda: originals_done(running.daemon.store) == len(files),
            BIG_TIMEOUT,
            "every bad document to be failed",
        )
        rows = running.daemon.store.outbound_in_states(tuple(OutboundState))
    assert {row.source_name: row.state for row in rows} == dict.fromkeys(
        files, OutboundState.FAILED
    )
    for row in rows:
        assert reasons[row.source_name] in (row.last_error or ""), row.last_error
        error_text = (outbox / "failed" / f"{row.source_name}.error.txt").read_text()
        assert reasons[row.source_name] in error_text
    assert hosted_file_events(emulator) == []


TRAILED = {
    "a_samsung.jpg": documents.jpeg_with_trailer(documents.samsung_trailer(), orientation=6),
    "b_motion.jpg": documents.jpeg_with_trailer(documents.motion_photo_video()),
    "c_junk_after_app1.jpg": documents.jpeg_with_junk_after_app1(orientation=6),
    "d_padded.png": documents.save([documents.colour_photo()], "PNG") + b"\n\x00\x00",
    "e_nul.gif": documents.save([documents.colour_photo().convert("P")], "GIF") + b"\x00",
}


def test_photos_with_trailers_are_claimed_at_the_first_look_after_settling(
    tmp_path: Path,
) -> None:
    # Logical time, so the check cannot flake: the intake is driven by step(now).
    route = RouteConfig("r", tmp_path / "outbox", tmp_path / "inbox", settle_seconds=2.0)
    folders = RouteFolders(route.name, route.outbox, route.inbox)
    with StateStore.open(tmp_path / "state.db") as store:
        intake = Intake(route, store, folders)
        for name, data in TRAILED.items():
            (route.outbox / name).write_bytes(data)
            intake.note_seen(route.outbox / name, close_write=True, now=0.0)
        assert intake.step(0.0) == 0  # first look: settling starts
        # Before the fix these waited for the still-writing checks (73 s) and then failed.
        assert intake.step(route.settle_seconds + 1.0) == len(TRAILED)
        rows = store.outbound_in_states((OutboundState.CLAIMED,))
    folders.close()
    assert sorted(row.source_name for row in rows) == sorted(TRAILED)


def test_a_file_over_the_walk_limit_is_judged_by_its_last_bytes_alone(tmp_path: Path) -> None:
    # The trailer walk reads the whole file into memory, so it is not done for files over
    # TRAILER_WALK_MAX_BYTES: such a photo with a trailer waits like an incomplete one.
    route = RouteConfig("r", tmp_path / "outbox", tmp_path / "inbox", settle_seconds=2.0)
    folders = RouteFolders(route.name, route.outbox, route.inbox)
    photo = documents.jpeg_with_trailer(b"")
    filler = b"SEFT" * ((TRAILER_WALK_MAX_BYTES - len(photo)) // 4 + 1)
    with StateStore.open(tmp_path / "state.db") as store:
        intake = Intake(route, store, folders)
        with (route.outbox / "big.jpg").open("wb") as handle:
            handle.write(photo)
            handle.write(filler)
        (route.outbox / "small.jpg").write_bytes(photo + documents.samsung_trailer())
        for name in ("big.jpg", "small.jpg"):
            intake.note_seen(route.outbox / name, close_write=True, now=0.0)
        assert intake.step(0.0) == 0
        assert intake.step(route.settle_seconds + 1.0) == 1
        rows = store.outbound_in_states(tuple(OutboundState))
    folders.close()
    assert [row.source_name for row in rows] == ["small.jpg"]
    assert (route.outbox / "big.jpg").stat().st_size > TRAILER_WALK_MAX_BYTES


def test_phone_photos_with_trailers_publish_upright_and_without_the_trailer(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        outbox = running.config.routes[0].outbox
        for name, data in TRAILED.items():
            drop(outbox, name, data)
        wait_until(
            lambda: originals_done(running.daemon.store) == len(TRAILED),
            BIG_TIMEOUT,
            "the photos with trailers to be sent",
        )
        rows = running.daemon.store.outbound_in_states(tuple(OutboundState))
    assert all(row.state == OutboundState.DONE for row in rows), [r.last_error for r in rows]
    for event in hosted_file_events(emulator):
        message = event["event"]["message"]
        uploaded = object_bytes(emulator, message["relativePath"])
        assert b"SEFT" not in uploaded and b"ftypmp42" not in uploaded
        assert not uploaded.endswith((b"\n\x00\x00", b";\x00"))
        picture = decode(uploaded).convert("RGB")
        if message["caption"] in ("a_samsung.jpg", "c_junk_after_app1.jpg"):
            # Stored landscape with EXIF orientation 6: upright is portrait, red on top.
            assert picture.height > picture.width, message["caption"]
            assert picture.getpixel((picture.width // 2, 10))[0] > 150, message["caption"]
        else:
            assert picture.width > picture.height, message["caption"]
