"""Hostile input (issue 6): one daemon process, the whole corpus dropped at once.

Every entry of ``hostile_corpus`` gets its outcome checked precisely: published (the object
in the emulator decodes with Pillow to the right size, mode, orientation and picture) or
quarantined in ``failed/`` with a reason naming the problem. Two awkward cases are driven
live: a file written slowly for 20 s (sent once, complete, after the writer stops) and a
file replaced in the outbox while its first version uploads through a slow emulator (each
version sent once, as itself). The daemon is a real subprocess running without capabilities,
as the systemd unit runs it (``CapabilityBoundingSet=``), so ``chmod 000`` stops it even when
the tests run as root. Real inotify on a sibling folder proves nothing outside the watched
folders is opened or read.
"""

from __future__ import annotations

import io
import os
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from PIL import Image, ImageOps

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundRow, OutboundState
from tests.helpers.harness import read_state, start_daemon_process, stop_process, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events, object_bytes
from tests.helpers.privileges import (
    FILE_PERMISSION_CAPABILITIES,
    drop_bounding_set_of_this_thread,
    effective_capabilities,
)
from tests.helpers.waiting import wait_until
from tests.reliability.hostile_corpus import (
    SPECIAL_REASONS,
    Corner,
    HostileInput,
    SpecialKind,
    make_outside_files,
    place_special,
    regular_inputs,
)
from tests.reliability.inotify_guard import OutsideGuard

T = TypeVar("T")
ROUTE = "hostile"
# Truncated files stay "still being written" for 5 looks and, with the test timers these
# daemons run with (conftest.py), 10 s (60 s in production) before they fail; everything else
# is much quicker. Generous for a loaded 2-core machine.
QUICK_TIMEOUT = 120
STILL_WRITING_TIMEOUT = 240
# The slow writer pauses longer than the settle time between its pieces (so the daemon sees
# an incomplete file that has settled) and ends well inside the still-writing window.
SLOW_WRITE_SECONDS = 4.0
SLOW_WRITE_PIECES = 8


# --- a daemon without capabilities ----------------------------------------------------------


def start_daemon_without_capabilities(
    config: Path, log_path: Path
) -> tuple[subprocess.Popen[bytes], bool]:
    """Start ``syncd run`` with an empty bounding set (when root); return it and whether it
    is subject to file permissions (False only for root when capabilities cannot be dropped).
    """
    result: dict[str, object] = {}

    def launch() -> None:
        # A short-lived thread of its own, so the test process keeps its capabilities.
        result["dropped"] = os.geteuid() != 0 or drop_bounding_set_of_this_thread()
        result["process"] = start_daemon_process(config, log_path=log_path)

    launcher = threading.Thread(target=launch, name="launch-without-capabilities")
    launcher.start()
    launcher.join(timeout=120)
    process = result["process"]
    assert isinstance(process, subprocess.Popen)
    assert process.poll() is None, log_path.read_text(errors="replace")
    denied = (
        os.geteuid() != 0 or effective_capabilities(process.pid) & FILE_PERMISSION_CAPABILITIES == 0
    )
    return process, bool(result["dropped"]) and denied


# --- reading outcomes -----------------------------------------------------------------------


def _rows(database: Path, states: tuple[OutboundState, ...]) -> list[OutboundRow]:
    return read_state(database, lambda store: store.outbound_in_states(states)) or []


def _comparable(image: Image.Image) -> Image.Image:
    """A small greyscale version of what a viewer shows (first frame, alpha over white)."""
    image.seek(0)
    if image.mode.startswith("I"):
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image)
    return image.convert("RGB").convert("L").resize((16, 16), Image.Resampling.BOX)


def _difference(first: Image.Image, second: Image.Image) -> float:
    pairs = zip(first.tobytes(), second.tobytes(), strict=True)
    return sum(abs(a - b) for a, b in pairs) / (first.width * first.height)


def _red_corner(image: Image.Image) -> Corner | None:
    rgb = image.convert("RGB")
    inset_x, inset_y = max(1, rgb.width // 16), max(1, rgb.height // 16)
    corners: dict[Corner, tuple[int, int]] = {
        "top-left": (inset_x, inset_y),
        "top-right": (rgb.width - 1 - inset_x, inset_y),
        "bottom-left": (inset_x, rgb.height - 1 - inset_y),
        "bottom-right": (rgb.width - 1 - inset_x, rgb.height - 1 - inset_y),
    }
    red = [
        name
        for name, xy in corners.items()
        if (pixel := rgb.getpixel(xy)) and pixel[0] > 170 and pixel[1] < 90 and pixel[2] < 90
    ]
    return red[0] if len(red) == 1 else None


def check_published(item: HostileInput, uploaded: bytes) -> None:
    """Assert the uploaded object shows ``item``'s picture the way a viewer would."""
    image = Image.open(io.BytesIO(uploaded))
    image.load()
    label = f"{item.what} ({item.name!r})"
    assert image.mode in item.modes, f"{label}: mode {image.mode}"
    if item.name == "thin.png":
        # Scaled to fit 2048 px (a reduction may land up to 15 % below it), never to 0 px.
        assert image.width == 1 and 0.85 * 2048 <= image.height <= 2048, (label, image.size)
    else:
        assert image.size == item.size, f"{label}: size {image.size}"
    if item.frames is not None:
        assert getattr(image, "n_frames", 1) == item.frames, label
    if item.red_corner is not None:
        assert _red_corner(image) == item.red_corner, f"{label}: red mark misplaced"
    # Pillow's own exif_transpose of the source is the reference picture.
    source = ImageOps.exif_transpose(Image.open(io.BytesIO(item.data)))
    expected = _comparable(source)
    assert _difference(_comparable(image), expected) < 12, f"{label}: picture differs"
    assert image.getexif().get(0x0112, 1) == 1, f"{label}: orientation tag left behind"


def failure_reason(failed_dir: Path, name: str) -> str:
    return (failed_dir / f"{name}.error.txt").read_text(encoding="utf-8")


# --- the live cases -------------------------------------------------------------------------


class SlowWriter(threading.Thread):
    """Writes ``data`` into ``path`` in small appends over ``seconds``, then closes it."""

    def __init__(self, path: Path, data: bytes, seconds: float) -> None:
        # A daemon thread: if the test fails early, it must not hold up the session.
        super().__init__(name="slow-writer", daemon=True)
        self.path, self.data, self.seconds = path, data, seconds
        # When (unix s) the last bytes were written: a claim before then took a partial file.
        self.last_write_at: float | None = None

    def run(self) -> None:
        pieces = SLOW_WRITE_PIECES
        size = len(self.data) // pieces + 1
        with open(self.path, "wb") as handle:
            for offset in range(0, len(self.data), size):
                handle.write(self.data[offset : offset + size])
                handle.flush()
                self.last_write_at = time.time()
                time.sleep(self.seconds / pieces)


def drop(outbox: Path, name: str, data: bytes) -> None:
    """Write a file beside the outbox, then rename it in whole (as scanners do)."""
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)


@pytest.mark.timeout(900)  # the waits below are generous on purpose; so is this
def test_the_hostile_corpus_gets_the_right_outcome_and_nothing_outside_is_read(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account, routes=[{"name": ROUTE}])
    outbox = tmp_path / ROUTE / "outbox"
    failed_dir, sent_dir = outbox / "failed", outbox / "sent"
    database = tmp_path / "state" / "syncd.sqlite3"
    log_path = tmp_path / "daemon.log"
    targets = make_outside_files(tmp_path / "outside")
    corpus = regular_inputs()
    slow_data = jpeg_bytes(1600, 1200, noise=True, seed=21)
    first_version = jpeg_bytes(640, 480, seed=31, colour=(20, 160, 40))
    second_version = jpeg_bytes(480, 640, seed=32, colour=(200, 200, 0))

    guard = OutsideGuard(tmp_path / "outside")
    process, permissions_apply = start_daemon_without_capabilities(config, log_path)
    specials: list[SpecialKind] = ["symlink", "fifo", "hardlink"]
    if permissions_apply:
        specials.append("unreadable")
    else:
        warnings.warn(
            "unreadable-file case not run: running as root and the capability bounding set "
            "cannot be emptied, so no permission bit can stop the daemon reading",
            stacklevel=1,
        )

    def alive_and(condition: Callable[[], T]) -> Callable[[], T]:
        def check() -> T:
            assert process.poll() is None, log_path.read_text(errors="replace")[-4000:]
            return condition()

        return check

    def done_names() -> list[str]:
        return [row.source_name for row in _rows(database, (OutboundState.DONE,))]

    try:
        for item in corpus:
            drop(outbox, item.name, item.data)
        special_names = {kind: place_special(kind, outbox, targets) for kind in specials}
        writer = SlowWriter(outbox / "slow.jpg", slow_data, SLOW_WRITE_SECONDS)
        writer.start()

        quick_failures = [
            *(item.name for item in corpus if item.outcome == "failed"),
            *special_names.values(),
        ]
        quick_failures = [
            name
            for name in quick_failures
            if name not in ("empty.jpg", "truncated.jpg", "no-eoi.jpg")
        ]
        published = [item.name for item in corpus if item.outcome == "published"]
        wait_until(
            alive_and(lambda: set(published) <= set(done_names())),
            QUICK_TIMEOUT,
            "every good corpus file to be published",
        )
        wait_until(
            alive_and(
                lambda: all((failed_dir / f"{n}.error.txt").exists() for n in quick_failures)
            ),
            QUICK_TIMEOUT,
            "every bad corpus file to be quarantined",
        )

        # A file replaced while its first version uploads: a slow emulator, then a new file
        # under the same name lands in the outbox while the claimed copy is in flight.
        emulator.set_faults(latency_ms=2500)
        drop(outbox, "replaced.jpg", first_version)
        wait_until(
            alive_and(
                lambda: any(
                    row.source_name == "replaced.jpg"
                    for row in _rows(database, (OutboundState.PREPARED,))
                )
            ),
            QUICK_TIMEOUT,
            "the first version to be uploading",
        )
        drop(outbox, "replaced.jpg", second_version)
        in_flight = (OutboundState.PREPARED, OutboundState.UPLOADED, OutboundState.PUBLISHING)
        # The scenario holds: the claimed first version was still on its way.
        assert "replaced.jpg" in [row.source_name for row in _rows(database, in_flight)]
        wait_until(
            alive_and(lambda: done_names().count("replaced.jpg") == 2),
            QUICK_TIMEOUT,
            "both versions to be published",
        )
        emulator.reset_faults()

        writer.join(timeout=SLOW_WRITE_SECONDS + 60)
        wait_until(
            alive_and(
                lambda: (
                    "slow.jpg" in done_names()
                    and all(
                        (failed_dir / f"{n}.error.txt").exists()
                        for n in ("empty.jpg", "truncated.jpg", "no-eoi.jpg")
                    )
                )
            ),
            STILL_WRITING_TIMEOUT,
            "the slow file to be sent and the truncated ones to fail",
        )
        assert process.poll() is None
        touches = guard.events()
    finally:
        exit_code = stop_process(process)
    assert exit_code == 0, log_path.read_text(errors="replace")[-4000:]

    # Nothing outside the watched folders was opened, read or written...
    assert touches == [], touches
    # ...and the guard was listening: a read by the test itself shows up.
    targets["symlink"].read_bytes()
    assert any("OPEN" in touch.kinds for touch in guard.events())
    guard.close()

    done = _rows(database, (OutboundState.DONE,))
    failed = _rows(database, (OutboundState.FAILED,))
    events = hosted_file_events(emulator)
    # Every publish is one event, and each event is one done row: nothing sent twice.
    assert sorted(e["event"]["message"]["relativePath"] for e in events) == sorted(
        str(row.relative_path) for row in done
    )
    assert len({row.relative_path for row in done}) == len(done)
    expected_done = [item.name for item in corpus if item.outcome == "published"]
    assert sorted(row.source_name for row in done) == sorted(
        [*expected_done, "slow.jpg", "replaced.jpg", "replaced.jpg"]
    )

    rows_by_name = {row.source_name: row for row in done}
    for item in corpus:
        if item.outcome == "published":
            row = rows_by_name[item.name]
            check_published(item, object_bytes(emulator, str(row.relative_path)))
            assert (sent_dir / item.name).read_bytes() == item.data, item.name
        else:
            reason = failure_reason(failed_dir, item.name).lower()
            for word in item.reason_words:
                assert word.lower() in reason, (item.name, reason)
            assert (failed_dir / item.name).read_bytes() == item.data, item.name
    for kind, name in special_names.items():
        reason = failure_reason(failed_dir, name).lower()
        for word in SPECIAL_REASONS[kind]:
            assert word in reason, (name, reason)
    assert (failed_dir / "link.jpg").is_symlink()  # moved as a link, never followed
    assert os.readlink(failed_dir / "link.jpg") == str(targets["symlink"])
    assert (failed_dir / "hard.jpg").stat().st_ino == targets["hardlink"].stat().st_ino
    assert len(failed) == len(quick_failures) + 3

    # Captions: control characters never reach the conversation; other names are kept.
    captions = sorted(e["event"]["message"]["caption"] for e in events)
    assert "scan with  spaces .jpg" in captions
    assert "Überweisung_日本語_naïve.jpg" in captions
    assert "-rf --help.jpg" in captions
    assert not any("\n" in caption for caption in captions)

    # The slow file: one row, claimed only after the writer finished, sent whole.
    slow = [row for row in done if row.source_name == "slow.jpg"]
    assert len(slow) == 1
    assert writer.last_write_at is not None and slow[0].claimed_at is not None
    assert slow[0].claimed_at >= writer.last_write_at
    assert (sent_dir / "slow.jpg").read_bytes() == slow_data
    slow_upload = Image.open(io.BytesIO(object_bytes(emulator, str(slow[0].relative_path))))
    slow_upload.load()
    assert slow_upload.size == (1600, 1200)

    # The replaced file: the claimed copy is what was sent first, the new one second.
    first_row, second_row = sorted(
        (row for row in done if row.source_name == "replaced.jpg"), key=lambda row: row.id
    )
    first_sent = Image.open(io.BytesIO(object_bytes(emulator, str(first_row.relative_path))))
    second_sent = Image.open(io.BytesIO(object_bytes(emulator, str(second_row.relative_path))))
    assert (first_sent.size, second_sent.size) == ((640, 480), (480, 640))
    assert (sent_dir / "replaced.jpg").read_bytes() == first_version
    assert (sent_dir / "replaced-2.jpg").read_bytes() == second_version

    # Everything ended somewhere: the outbox holds only syncd's own folders, work is empty.
    assert sorted(p.name for p in outbox.iterdir()) == [".syncd-work", "failed", "sent"]
    assert list((outbox / ".syncd-work").iterdir()) == []
