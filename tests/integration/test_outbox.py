"""The outbox end to end: real folders, real inotify, real SQLite, the real emulator."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from PIL import Image

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundState
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import decode, exif_with, jpeg_bytes, png_bytes
from tests.helpers.lookups import captions_in_order, hosted_file_events, object_bytes
from tests.helpers.waiting import wait_until

BIG_TIMEOUT = 60


def drop(outbox: Path, name: str, data: bytes) -> Path:
    """Drop a file the way scanners do: write it elsewhere in full, then rename it in."""
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    temporary = staging / name
    temporary.write_bytes(data)
    target = outbox / name
    os.rename(temporary, target)
    return target


def done_count(store, route: str | None = None) -> int:  # type: ignore[no-untyped-def]
    return store.counts_by_state(route).get(OutboundState.DONE, 0)


def test_a_dropped_photo_is_published_once_rotated_and_without_private_metadata(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    photo = jpeg_bytes(
        1200, 900, exif=exif_with(orientation=6, gps=True), comment=b"Scanned by jdoe"
    )
    with running_daemon(config) as running:
        outbox = running.config.routes[0].outbox
        drop(outbox, "photo.jpg", photo)
        wait_until(
            lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "the photo to be done"
        )
        events = hosted_file_events(emulator)
        assert len(events) == 1
        message = events[0]["event"]["message"]
        assert message["caption"] == "photo.jpg"
        assert message["fileType"] == "JPG"
        assert message["preview"].startswith("data:image/jpeg;base64,")
        assert len(message["preview"]) <= 30_000
        uploaded = object_bytes(emulator, message["relativePath"])
        assert len(uploaded) <= 3_000_000
        image = decode(uploaded)
        # Orientation 6 means the stored image is displayed rotated 90° clockwise.
        assert image.size == (900, 1200)
        assert image.getpixel((image.width - 5, 5))[0] > 180  # the red corner is now top-right
        assert not image.getexif()
        assert b"jdoe" not in uploaded and b"Field Agent" not in uploaded
        assert "comment" not in image.info
        sent = running.config.routes[0].sent_dir
        assert [p.name for p in sent.iterdir()] == ["photo.jpg"]
        assert not any(running.config.routes[0].work_dir.iterdir())


def test_a_name_the_scanner_reuses_is_sent_again_as_a_new_file(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        outbox = running.config.routes[0].outbox
        drop(outbox, "SCN_0001.jpg", jpeg_bytes(seed=1))
        wait_until(lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "first scan")
        drop(outbox, "SCN_0001.jpg", jpeg_bytes(seed=2, colour=(200, 200, 0)))
        wait_until(lambda: done_count(running.daemon.store) == 2, BIG_TIMEOUT, "second scan")
    assert len(hosted_file_events(emulator)) == 2
    sent = sorted(p.name for p in running.config.routes[0].sent_dir.iterdir())
    assert sent == ["SCN_0001-2.jpg", "SCN_0001.jpg"]


def test_fifty_files_dropped_at_once_arrive_in_name_order_per_route(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(
        tmp_path, emulator.base_url, emulator.account, routes=[{"name": "left"}, {"name": "right"}]
    )
    with running_daemon(config) as running:
        store = running.daemon.store
        for route in running.config.routes:
            staging = route.outbox.parent / ".staging"
            staging.mkdir()
            for index in range(25):
                (staging / f"page_{index:03d}.jpg").write_bytes(jpeg_bytes(320, 240, seed=index))
        # Move them all in as fast as possible, in scrambled order.
        for route in running.config.routes:
            staging = route.outbox.parent / ".staging"
            for name in sorted(os.listdir(staging), reverse=True):
                os.rename(staging / name, route.outbox / name)
        wait_until(lambda: done_count(store) == 50, BIG_TIMEOUT * 2, "all 50 pages")
        conversations = {
            route.name: store.open_conversation(route.name) for route in running.config.routes
        }
    expected = [f"page_{index:03d}.jpg" for index in range(25)]
    for route_name, conversation_id in conversations.items():
        assert conversation_id is not None, route_name
        assert captions_in_order(emulator, {conversation_id}) == expected


def test_a_file_written_slowly_in_chunks_is_sent_once_and_complete(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "slow", "settle_seconds": 1.0}],
    )
    data = jpeg_bytes(1600, 1200, noise=True, seed=5)
    with running_daemon(config) as running:
        target = running.config.routes[0].outbox / "slow.jpg"
        chunk = len(data) // 8 + 1
        with open(target, "wb") as handle:
            for offset in range(0, len(data), chunk):
                handle.write(data[offset : offset + chunk])
                handle.flush()
                time.sleep(0.4)
        wait_until(lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "the slow file")
    events = hosted_file_events(emulator)
    assert len(events) == 1
    uploaded = decode(object_bytes(emulator, events[0]["event"]["message"]["relativePath"]))
    assert uploaded.size == (1600, 1200)
    archived = running.config.routes[0].sent_dir / "slow.jpg"
    assert archived.read_bytes() == data


def _failure_reason(failed_dir: Path, name: str) -> str:
    return (failed_dir / f"{name}.error.txt").read_text(encoding="utf-8")


def test_every_failure_class_lands_in_failed_with_a_reason(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    outside = tmp_path / "outside-secret.jpg"
    outside.write_bytes(jpeg_bytes(seed=9))
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    bmp = io.BytesIO()
    Image.new("RGB", (50, 50), "blue").save(bmp, "BMP")
    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, "PNG")  # 100 MP in a few KB
    with running_daemon(config) as running:
        route = running.config.routes[0]
        drop(route.outbox, "notes.jpg", b"just some text, not an image\n")
        # BMP is made into a page now; one whose pixel data stops early still fails.
        drop(route.outbox, "old.bmp", bmp.getvalue()[:200])
        drop(route.outbox, "bomb.png", bomb.getvalue())
        os.symlink(outside, route.outbox / "link.jpg")
        os.mkfifo(route.outbox / "pipe.jpg")
        hard = tmp_path / "hard-original.jpg"
        hard.write_bytes(jpeg_bytes(seed=3))
        os.link(hard, route.outbox / "hard.jpg")
        drop(route.outbox, "good.png", png_bytes())
        names = ["notes.jpg", "old.bmp", "bomb.png", "link.jpg", "pipe.jpg", "hard.jpg"]
        wait_until(
            lambda: all((route.failed_dir / f"{n}.error.txt").exists() for n in names),
            BIG_TIMEOUT,
            "every bad file to be quarantined",
        )
        wait_until(lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "the good file")
        assert running.thread.is_alive()
    assert "not an image" in _failure_reason(route.failed_dir, "notes.jpg").lower()
    assert "bmp" in _failure_reason(route.failed_dir, "old.bmp").lower()
    assert "pixel" in _failure_reason(route.failed_dir, "bomb.png").lower()
    assert "symbolic link" in _failure_reason(route.failed_dir, "link.jpg")
    assert "fifo" in _failure_reason(route.failed_dir, "pipe.jpg").lower()
    assert "hard link" in _failure_reason(route.failed_dir, "hard.jpg")
    assert (route.failed_dir / "link.jpg").is_symlink()  # moved as a link, never followed
    assert outside.exists()
    assert len(hosted_file_events(emulator)) == 1


def test_other_routes_keep_flowing_while_one_conversation_is_closed_and_recreated(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    import requests

    config = write_config(
        tmp_path, emulator.base_url, emulator.account, routes=[{"name": "alpha"}, {"name": "beta"}]
    )
    with running_daemon(config) as running:
        store = running.daemon.store
        alpha, beta = running.config.routes
        drop(alpha.outbox, "a1.jpg", jpeg_bytes(seed=1))
        drop(beta.outbox, "b1.jpg", jpeg_bytes(seed=2))
        wait_until(lambda: done_count(store) == 2, BIG_TIMEOUT, "first files")
        first_alpha = store.open_conversation("alpha")
        assert first_alpha is not None
        response = requests.post(
            f"{emulator.base_url}/_emulator/conversations/{first_alpha}/close", timeout=10
        )
        assert response.status_code == 200
        drop(beta.outbox, "b2.jpg", jpeg_bytes(seed=4))
        drop(alpha.outbox, "a2.jpg", jpeg_bytes(seed=3))
        wait_until(lambda: done_count(store) == 4, BIG_TIMEOUT, "files after the close")
        second_alpha = store.get_outbound(
            max(r.id for r in store.outbound_in_states((OutboundState.DONE,), route="alpha"))
        ).conversation_id
    assert second_alpha is not None and second_alpha != first_alpha
    states = {c["id"]: c["state"] for c in emulator.state()["conversations"]}
    assert states[first_alpha] == "CLOSE"
    assert states[second_alpha] == "OPEN"
    assert captions_in_order(emulator, {first_alpha}) == ["a1.jpg"]
    assert captions_in_order(emulator, {second_alpha}) == ["a2.jpg"]


@pytest.mark.parametrize("watch", ["poll"])
def test_a_polled_outbox_is_sent_too(tmp_path: Path, emulator: RunningEmulator, watch: str) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "share", "watch": watch, "poll_seconds": 0.5}],
    )
    with running_daemon(config) as running:
        drop(running.config.routes[0].outbox, "polled.jpg", jpeg_bytes())
        wait_until(lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "the polled file")
    assert captions_in_order(emulator) == ["polled.jpg"]


def test_a_truncated_image_waits_as_still_being_written_then_fails(
    tmp_path: Path, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    from syncd import rules

    # The production window is 60 s and 5 looks; a shorter policy keeps the test quick.
    monkeypatch.setattr(
        rules,
        "is_still_writing_exhausted",
        functools.partial(rules.is_still_writing_exhausted, min_seconds=2.0, min_attempts=2),
    )
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    whole = jpeg_bytes(800, 600, seed=8)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        drop(route.outbox, "cut.jpg", whole[: len(whole) // 2])
        drop(route.outbox, "fine.jpg", whole)
        wait_until(lambda: done_count(running.daemon.store) == 1, BIG_TIMEOUT, "the whole file")
        assert (route.outbox / "cut.jpg").exists()  # still being written: left in place
        wait_until(
            lambda: (route.failed_dir / "cut.jpg.error.txt").exists(), BIG_TIMEOUT, "the cut file"
        )
    assert "incomplete" in _failure_reason(route.failed_dir, "cut.jpg")
    assert captions_in_order(emulator) == ["fine.jpg"]


def test_a_route_whose_failed_folder_is_broken_does_not_stop_the_daemon_or_other_routes(
    tmp_path: Path, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    config = write_config(
        tmp_path, emulator.base_url, emulator.account, routes=[{"name": "a"}, {"name": "b"}]
    )
    broken_outbox = tmp_path / "a" / "outbox"
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(jpeg_bytes(seed=40))
    with caplog.at_level("ERROR"), running_daemon(config) as running:
        # A first link is quarantined, which opens failed/; then a plain file replaces the
        # folder syncd opened (one planted before first use would be set aside): route a
        # stops with that error.
        (broken_outbox / "first-link.jpg").symlink_to(outside)
        wait_until(
            lambda: (broken_outbox / "failed" / "first-link.jpg").is_symlink(),
            60,
            "the first link in failed/",
        )
        (broken_outbox / "failed").rename(broken_outbox / "failed.old")
        (broken_outbox / "failed").write_text("not a folder\n", encoding="utf-8")
        (broken_outbox / "link.jpg").symlink_to(outside)
        wait_until(
            lambda: any(
                "route=a: route stopped" in r.getMessage() and "failed" in r.getMessage()
                for r in caplog.records
            ),
            60,
            "the broken route's error in the log",
        )
        (tmp_path / "b" / "outbox" / "good.jpg").write_bytes(jpeg_bytes(seed=41))
        wait_until(
            lambda: running.daemon.store.counts_by_state("b")[OutboundState.DONE] == 1,
            60,
            "the other route's file to be sent",
        )
        assert running.thread.is_alive()
    assert captions_in_order(emulator) == ["good.jpg"]
    # The link is kept where the scanner left it, to be quarantined once the folder is fixed.
    assert (broken_outbox / "link.jpg").is_symlink()
