"""The intake's claim and refusal paths on real files and a real state database.

Driven by explicit times, one step at a time: what is noticed, what is refused and with
which reason, what is claimed in which order, what a name seen before does. The settle rule
itself is in ``test_intake_settling.py``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from syncd import crashpoints, rules
from syncd.config import RouteConfig
from syncd.folders import read_entry
from syncd.folders.route import RouteFolders
from syncd.outbox import intake_claims as claims_module
from syncd.outbox.candidates import MAX_CLAIMS_PER_STEP, MAX_SOURCE_BYTES, Candidate
from syncd.outbox.intake import TRAILER_WALK_MAX_BYTES, Intake
from syncd.state.model import LEFT_IN_OUTBOX, OutboundRow, OutboundState
from syncd.state.store import StateStore
from tests.helpers.images import jpeg_bytes, png_bytes
from tests.helpers.immutable import set_immutable
from tests.unit.intake.conftest import SETTLE_SECONDS

# Not 0, so that a time counted from the wrong origin shows.
FIRST_SEEN = 100.0
# A user other than the one running the tests, owning files the tests give away.
OTHER_UID = 54_321


@pytest.fixture
def intake(route: RouteConfig, store: StateStore, folders: RouteFolders) -> Intake:
    return Intake(route, store, folders)


def _rows(store: StateStore) -> list[OutboundRow]:
    return sorted(store.outbound_in_states(tuple(OutboundState)), key=lambda row: row.id)


def _settle(intake: Intake, start: float) -> int:
    """Two looks a settle period apart: what a quiet file needs to be claimed."""
    claimed = intake.step(start)
    return claimed + intake.step(start + SETTLE_SECONDS)


def _run_until_nothing_pending(intake: Intake, start: float, limit: float) -> float:
    """Step once a second from ``start`` until no candidate is left; returns the time."""
    now = start
    while intake.pending_count and now <= limit:
        intake.step(now)
        now += 1.0
    assert intake.pending_count == 0, "still pending at the time limit"
    return now - 1.0


def _incomplete_looks_until_given_up(first_seen: float, first_look: float) -> tuple[int, float]:
    """(looks that found the file incomplete, time of the last) for a file first seen at
    ``first_seen``, first looked at ``first_look`` and then a settle period after each
    recheck time, by the retry rules (steps once a second, as ``_run_until_nothing_pending``)."""
    looks, now = 0, first_look
    while True:
        now += SETTLE_SECONDS
        looks += 1
        if rules.is_still_writing_exhausted(looks, first_seen, now):
            return looks, now
        now = rules.next_still_writing_check_at(looks, now)


def test_only_entries_of_this_outbox_that_can_be_scans_become_candidates(
    route: RouteConfig, intake: Intake, tmp_path: Path
) -> None:
    intake.note_seen(tmp_path / "elsewhere.jpg", close_write=False, now=0.0)
    intake.note_seen(route.outbox / ".hidden.jpg", close_write=False, now=0.0)
    intake.note_seen(route.outbox / "download.part", close_write=False, now=0.0)
    assert intake.pending_count == 0
    intake.note_seen(route.outbox / "scan.jpg", close_write=False, now=0.0)
    intake.note_seen(route.outbox / "scan.jpg", close_write=True, now=1.0)
    assert intake.pending_count == 1


def test_a_scan_notes_every_entry_once_and_keeps_what_events_said(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    image = jpeg_bytes(64, 48, seed=3)
    (route.outbox / "a.jpg").write_bytes(image)
    (route.outbox / "b.jpg").write_bytes(image + b"\x00")
    (route.outbox / "~$owner.docx").write_bytes(b"office lock")
    intake.note_seen(route.outbox / "a.jpg", close_write=False, now=0.0)
    assert intake.step(0.0) == 0
    intake.scan(now=1.0)  # must not restart a.jpg's settle wait
    assert intake.pending_count == 2
    assert intake.step(SETTLE_SECONDS) == 1  # a.jpg: its first look was at 0
    assert [row.source_name for row in _rows(store)] == ["a.jpg"]
    # b.jpg was first looked at by the step at 2.0: its settle period ends at 4.0.
    assert intake.step(2 * SETTLE_SECONDS - 0.1) == 0
    assert intake.step(2 * SETTLE_SECONDS) == 1
    assert sorted(row.source_name for row in _rows(store)) == ["a.jpg", "b.jpg"]


def test_a_subfolder_is_dropped_and_left_alone(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "album").mkdir()
    (route.outbox / "album" / "inside.jpg").write_bytes(jpeg_bytes(32, 32))
    intake.scan(now=0.0)
    assert intake.pending_count == 1
    assert _settle(intake, 0.0) == 0
    assert intake.pending_count == 0
    assert _rows(store) == []
    assert (route.outbox / "album" / "inside.jpg").exists()


def test_a_file_gone_before_it_settles_is_dropped_without_a_row(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "gone.jpg").write_bytes(jpeg_bytes(32, 32))
    intake.scan(now=0.0)
    assert intake.step(0.0) == 0
    (route.outbox / "gone.jpg").unlink()
    assert intake.step(SETTLE_SECONDS) == 0
    assert intake.pending_count == 0
    assert _rows(store) == []


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda outbox: os.symlink("/etc/hostname", outbox / "link.jpg"),
            "symbolic link: syncd never follows links out of a watched folder",
        ),
        (lambda outbox: os.mkfifo(outbox / "link.jpg"), "named pipe (FIFO), not a file"),
        (
            lambda outbox: (
                (outbox / "link.jpg").write_bytes(b"\xff\xd8\xff"),
                os.link(outbox / "link.jpg", outbox.parent / "second-name.jpg"),
            ),
            "file has 2 hard links; syncd only sends files that have a single name",
        ),
    ],
    ids=["symlink", "fifo", "hard-link"],
)
def test_an_unsafe_entry_goes_to_failed_with_its_reason_at_the_first_look(
    route: RouteConfig, intake: Intake, store: StateStore, make: object, reason: str
) -> None:
    make(route.outbox)  # type: ignore[operator]
    size = os.stat(route.outbox / "link.jpg", follow_symlinks=False).st_size
    intake.scan(now=5.0)
    assert intake.step(5.0) == 0
    assert intake.pending_count == 0
    (row,) = _rows(store)
    assert row.state == OutboundState.FAILED
    assert row.last_error == reason
    assert row.source_name == "link.jpg"
    assert row.size_bytes == size
    assert row.updated_at == 5.0
    assert os.path.lexists(route.failed_dir / "link.jpg")
    assert not os.path.lexists(route.outbox / "link.jpg")
    assert reason in (route.failed_dir / "link.jpg.error.txt").read_text(encoding="utf-8")
    assert Path("/etc/hostname").exists()


def test_a_name_that_is_not_utf8_goes_to_failed_with_the_reason_and_a_printable_name(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    raw = os.fsencode(route.outbox) + b"/scan\xff.jpg"
    with open(raw, "wb") as handle:
        handle.write(jpeg_bytes(32, 32))
    intake.scan(now=0.0)
    assert intake.step(0.0) == 0
    (row,) = _rows(store)
    assert row.state == OutboundState.FAILED
    assert row.source_name == "scan\\xff.jpg"
    assert row.last_error == (
        "the file name is not valid UTF-8 (a scanner with another character set?); "
        "it was renamed with its odd bytes written as \\xNN. Rename it and run "
        "syncd retry"
    )
    assert (route.failed_dir / "scan\\xff.jpg").exists()


@pytest.mark.parametrize(
    ("content", "what", "marker"),
    [
        (b"", "empty file", "end-of-image marker"),
        (jpeg_bytes(64, 48)[:-300], "image is incomplete", "end-of-image marker"),
        (b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n", "PDF document is incomplete", "%%EOF end marker"),
    ],
    ids=["empty", "truncated-jpeg", "truncated-pdf"],
)
def test_a_file_that_never_gets_its_end_waits_then_fails_with_what_was_missing(
    route: RouteConfig,
    intake: Intake,
    store: StateStore,
    content: bytes,
    what: str,
    marker: str,
) -> None:
    (route.outbox / "scan.bin").write_bytes(content)
    intake.scan(now=FIRST_SEEN)  # found by a rescan, not by an event
    # Not claimed and not failed while the still-being-written window lasts.
    assert _settle(intake, FIRST_SEEN) == 0
    assert intake.pending_count == 1
    assert _rows(store) == []
    failed_at = _run_until_nothing_pending(intake, FIRST_SEEN + 2 * SETTLE_SECONDS, 10_000.0)
    looks, expected_at = _incomplete_looks_until_given_up(FIRST_SEEN, FIRST_SEEN)
    assert failed_at == expected_at
    (row,) = _rows(store)
    assert row.state == OutboundState.FAILED
    assert row.size_bytes == len(content)
    assert row.last_error == (
        f"{what}: it did not change for {failed_at - FIRST_SEEN:.0f} s "
        f"and never got its {marker} (truncated or still being written)"
    )
    report = (route.failed_dir / "scan.bin.error.txt").read_text(encoding="utf-8")
    assert f"\nattempts: {looks}\n" in report


def test_the_still_being_written_window_counts_from_the_first_event_not_the_last(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "scan.jpg").write_bytes(jpeg_bytes(32, 32)[:-100])
    intake.note_seen(route.outbox / "scan.jpg", close_write=False, now=FIRST_SEEN)
    intake.note_seen(route.outbox / "scan.jpg", close_write=False, now=FIRST_SEEN + 1)
    failed_at = _run_until_nothing_pending(intake, FIRST_SEEN + 1, 10_000.0)
    _, expected_at = _incomplete_looks_until_given_up(FIRST_SEEN, FIRST_SEEN + 1)
    assert failed_at == expected_at
    (row,) = _rows(store)
    assert f"did not change for {failed_at - FIRST_SEEN:.0f} s" in (row.last_error or "")


def test_an_incomplete_file_is_looked_at_again_only_after_its_recheck_time(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    image = jpeg_bytes(64, 48)
    (route.outbox / "scan.jpg").write_bytes(image[:-300])
    intake.note_seen(route.outbox / "scan.jpg", close_write=False, now=0.0)
    assert _settle(intake, 0.0) == 0  # incomplete: next look at 2 + 2**1 = 4 s
    # Completed in place without changing size or time: only a new look can see it.
    stat_before = os.stat(route.outbox / "scan.jpg")
    with open(route.outbox / "scan.jpg", "r+b") as handle:
        handle.seek(len(image) - 300 - 2)
        handle.write(b"\xff\xd9")
    os.utime(route.outbox / "scan.jpg", ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns))
    assert intake.step(3.9) == 0  # before the recheck time: not even looked at
    assert intake.step(4.0) == 0  # first look after it: settle again
    assert intake.step(4.0 + SETTLE_SECONDS) == 1
    (row,) = _rows(store)
    assert row.state == OutboundState.CLAIMED


def test_a_photo_with_a_trailer_after_its_end_marker_is_claimed(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    # Like a Motion Photo or a Samsung SEFT block: bytes after the JPEG's end marker.
    data = jpeg_bytes(64, 48) + b"SEFT trailer" * 400
    (route.outbox / "phone.jpg").write_bytes(data)
    intake.note_seen(route.outbox / "phone.jpg", close_write=False, now=0.0)
    assert _settle(intake, 0.0) == 1
    (row,) = _rows(store)
    assert row.state == OutboundState.CLAIMED
    assert row.size_bytes == len(data)
    assert row.work_path is not None and row.work_path.read_bytes() == data


def test_a_trailer_walk_that_finds_no_end_marker_leaves_the_file_unclaimed(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    data = jpeg_bytes(64, 48)[:-300] + b"SEFT trailer" * 400
    (route.outbox / "phone.jpg").write_bytes(data)
    intake.note_seen(route.outbox / "phone.jpg", close_write=False, now=0.0)
    assert _settle(intake, 0.0) == 0
    assert intake.pending_count == 1
    assert _rows(store) == []


def test_a_png_with_its_end_chunk_is_claimed_at_once_after_settling(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "scan.png").write_bytes(png_bytes(32, 32))
    intake.note_seen(route.outbox / "scan.png", close_write=False, now=0.0)
    assert _settle(intake, 0.0) == 1


def test_many_files_are_claimed_in_name_order_a_bounded_batch_per_step(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    image = jpeg_bytes(16, 16)
    names = [f"page-{number:03d}.jpg" for number in range(MAX_CLAIMS_PER_STEP + 2)]
    for number, name in enumerate(reversed(names)):
        (route.outbox / name).write_bytes(image + bytes(number))
    intake.scan(now=0.0)
    assert intake.step(0.0) == 0
    assert intake.step(SETTLE_SECONDS) == MAX_CLAIMS_PER_STEP
    assert intake.pending_count == 2
    assert intake.step(SETTLE_SECONDS) == 2
    assert intake.pending_count == 0
    rows = _rows(store)
    assert [row.source_name for row in rows] == names
    assert all(row.state == OutboundState.CLAIMED for row in rows)
    assert all(row.claimed_at == SETTLE_SECONDS for row in rows)
    for row in rows:
        assert row.work_path is not None
        assert row.work_path.name == f"{row.id:08d}__{row.source_name}"
        assert row.work_path.parent == route.work_dir
    assert os.listdir(route.outbox) == [route.work_dir.name]


def test_a_file_waiting_for_its_recheck_does_not_hold_up_the_others(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "a-broken.jpg").write_bytes(jpeg_bytes(16, 16)[:-100])
    (route.outbox / "b-good.jpg").write_bytes(jpeg_bytes(16, 16))
    intake.scan(now=0.0)
    assert _settle(intake, 0.0) == 1
    intake.note_seen(route.outbox / "c-late.jpg", close_write=False, now=2.5)
    (route.outbox / "c-late.jpg").write_bytes(jpeg_bytes(16, 16, seed=2))
    assert _settle(intake, 3.0) == 1  # a-broken.jpg waits until 4.0; c-late is not held up
    assert sorted(row.source_name for row in _rows(store)) == ["b-good.jpg", "c-late.jpg"]


def test_claims_log_one_line_per_file_and_pass_the_crash_points_in_order(
    route: RouteConfig,
    intake: Intake,
    store: StateStore,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real crash point kills the process (the reliability tests use it); here each point
    # reached is recorded instead, as the crash tests rely on their names.
    reached: list[str] = []
    monkeypatch.setattr(claims_module, "crash_point", reached.append)
    (route.outbox / "a.jpg").write_bytes(jpeg_bytes(16, 16))
    (route.outbox / "b.jpg").write_bytes(jpeg_bytes(16, 16, seed=1))
    intake.scan(now=0.0)
    with caplog.at_level(logging.INFO, logger="syncd.intake"):
        assert _settle(intake, 0.0) == 2
    assert reached == ["detected", "detected", "claimed", "claimed"]
    assert set(reached) <= set(crashpoints.TRANSITIONS)
    a_row, b_row = _rows(store)
    assert [record.getMessage() for record in caplog.records] == [
        f"route=scans file=a.jpg: claimed as #{a_row.id}",
        f"route=scans file=b.jpg: claimed as #{b_row.id}",
    ]


def test_a_file_gone_between_its_read_and_its_claim_ends_its_row_as_failed(
    route: RouteConfig,
    intake: Intake,
    store: StateStore,
    folders: RouteFolders,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (route.outbox / "page.jpg").write_bytes(jpeg_bytes(16, 16))
    (route.outbox / "next.jpg").write_bytes(jpeg_bytes(16, 16, seed=4))
    read = read_entry(folders.outbox, "page.jpg", 10_000_000)
    next_read = read_entry(folders.outbox, "next.jpg", 10_000_000)
    (route.outbox / "page.jpg").unlink()
    ready = [
        (Candidate(route.outbox / "page.jpg", first_seen_at=0.0), read),
        (Candidate(route.outbox / "next.jpg", first_seen_at=0.0), next_read),
    ]
    with caplog.at_level(logging.INFO, logger="syncd.intake"):
        assert intake._claim_all(ready, now=7.0) == 1
    gone, claimed = _rows(store)
    reason = "the file disappeared from the outbox before it was claimed"
    assert (gone.source_name, gone.state, gone.last_error) == (
        "page.jpg",
        OutboundState.FAILED,
        reason,
    )
    assert gone.updated_at == 7.0
    assert (claimed.source_name, claimed.state) == ("next.jpg", OutboundState.CLAIMED)
    assert f"route=scans file=page.jpg: {reason}" in [r.getMessage() for r in caplog.records]


def test_a_version_left_in_the_outbox_with_a_reason_is_not_journaled_again(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    data = jpeg_bytes(16, 16)
    (route.outbox / "kept.jpg").write_bytes(data)
    info = os.stat(route.outbox / "kept.jpg")
    # A row made from this very version that failed and stayed in the outbox.
    row_id = store.journal_detected(
        route.name, route.outbox / "kept.jpg", len(data), info.st_mtime_ns, info.st_ino, "", 0.0
    )
    store.mark_failed(row_id, f"cannot read it; it {LEFT_IN_OUTBOX}", 0.0)
    # The same file name and version in another route's state means nothing to this one.
    other_id = store.journal_detected(
        "other", route.outbox / "kept.jpg", 1, info.st_mtime_ns, info.st_ino, "", 0.0
    )
    store.mark_failed(other_id, f"cannot read it; it {LEFT_IN_OUTBOX}", 0.0)
    intake = Intake(route, store, folders)
    intake.note_seen(route.outbox / "kept.jpg", close_write=False, now=1.0)
    assert _settle(intake, 1.0) == 0
    assert intake.pending_count == 0
    assert [row.id for row in _rows(store)] == [row_id, other_id]
    assert (route.outbox / "kept.jpg").read_bytes() == data
    # A new version of the same name is a new file.
    (route.outbox / "kept.jpg").write_bytes(data + b"\x00")
    intake.note_seen(route.outbox / "kept.jpg", close_write=False, now=10.0)
    assert _settle(intake, 10.0) == 1
    assert [row.source_name for row in _rows(store)] == ["kept.jpg", "kept.jpg", "kept.jpg"]


def test_a_row_put_back_by_retry_is_taken_up_again_not_duplicated(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    data = jpeg_bytes(16, 16)
    (route.outbox / "again.jpg").write_bytes(data)
    info = os.stat(route.outbox / "again.jpg")
    # `syncd retry` leaves a detected row for the file it put back in the outbox.
    row_id = store.journal_detected(
        route.name, route.outbox / "again.jpg", len(data), info.st_mtime_ns, info.st_ino, "", 0.0
    )
    intake = Intake(route, store, folders)
    intake.note_seen(route.outbox / "again.jpg", close_write=False, now=1.0)
    assert _settle(intake, 1.0) == 1
    (row,) = _rows(store)
    assert (row.id, row.state) == (row_id, OutboundState.CLAIMED)


@pytest.mark.parametrize("change", ["size", "mtime", "inode"])
def test_any_change_of_size_time_or_inode_between_two_looks_restarts_the_wait(
    route: RouteConfig, intake: Intake, store: StateStore, change: str
) -> None:
    path = route.outbox / "scan.tif"  # no end marker: only the settle rule decides
    path.write_bytes(b"II*\x00 first part")
    before = os.stat(path)
    intake.note_seen(path, close_write=False, now=0.0)
    assert intake.step(0.0) == 0
    if change == "size":
        with open(path, "ab") as handle:
            handle.write(b" and more")
    elif change == "mtime":
        path.write_bytes(b"II*\x00 other part")  # same size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    else:
        replacement = route.outbox.parent / "replacement.tif"
        replacement.write_bytes(b"II*\x00 new file!!")  # same size
        os.rename(replacement, path)
    if change != "mtime":
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert intake.step(SETTLE_SECONDS) == 0  # changed: the wait starts again
    assert intake.step(2 * SETTLE_SECONDS) == 1
    (row,) = _rows(store)
    assert row.state == OutboundState.CLAIMED
    assert row.size_bytes == os.stat(row.work_path or "").st_size


def test_a_file_over_the_size_limit_goes_to_failed_without_being_read(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    path = route.outbox / "huge.tif"
    with open(path, "wb") as handle:  # sparse: no disk used
        handle.truncate(MAX_SOURCE_BYTES + 1)
    intake.note_seen(path, close_write=False, now=3.0)
    assert _settle(intake, 3.0) == 0
    (row,) = _rows(store)
    assert row.state == OutboundState.FAILED
    assert row.size_bytes == MAX_SOURCE_BYTES + 1
    assert row.updated_at == 3.0 + SETTLE_SECONDS
    assert row.last_error == (
        f"file is {MAX_SOURCE_BYTES + 1} bytes, more than the {MAX_SOURCE_BYTES} bytes "
        "syncd accepts"
    )
    assert (route.failed_dir / "huge.tif").stat().st_size == MAX_SOURCE_BYTES + 1
    assert intake.pending_count == 0


@pytest.mark.parametrize(("extra", "claimed"), [(0, 1), (1, 0)], ids=["at-limit", "over-limit"])
def test_the_trailer_walk_reads_files_up_to_its_limit_and_no_larger(
    route: RouteConfig, intake: Intake, store: StateStore, extra: int, claimed: int
) -> None:
    path = route.outbox / "phone.jpg"
    image = jpeg_bytes(32, 32)
    with open(path, "wb") as handle:  # the image, a sparse gap, a trailer ending the file
        handle.write(image)
        handle.seek(TRAILER_WALK_MAX_BYTES + extra - 8)
        handle.write(b"TRAILER!")
    assert path.stat().st_size == TRAILER_WALK_MAX_BYTES + extra
    intake.note_seen(path, close_write=False, now=0.0)
    assert _settle(intake, 0.0) == claimed
    assert len(_rows(store)) == claimed


def test_a_swapped_entry_fails_and_the_next_file_of_the_batch_is_still_claimed(
    route: RouteConfig, intake: Intake, store: StateStore, folders: RouteFolders
) -> None:
    (route.outbox / "a-page.jpg").write_bytes(jpeg_bytes(16, 16))
    (route.outbox / "b-page.jpg").write_bytes(jpeg_bytes(16, 16, seed=5))
    first = read_entry(folders.outbox, "a-page.jpg", 10_000_000)
    second = read_entry(folders.outbox, "b-page.jpg", 10_000_000)
    # Swapped after the read for a file of the same size that another user owns.
    # (made while the first still exists, so it cannot reuse its inode number)
    replacement = route.outbox.parent / "replacement.jpg"
    replacement.write_bytes(b"x" * first.size_bytes)
    os.chown(replacement, OTHER_UID, OTHER_UID)
    os.rename(replacement, route.outbox / "a-page.jpg")
    ready = [
        (Candidate(route.outbox / "a-page.jpg", first_seen_at=0.0), first),
        (Candidate(route.outbox / "b-page.jpg", first_seen_at=0.0), second),
    ]
    assert intake._claim_all(ready, now=1.0) == 1
    swapped, claimed = _rows(store)
    assert (swapped.state, swapped.last_error) == (
        OutboundState.FAILED,
        "the file was replaced by another entry after it was read; not sent",
    )
    assert (claimed.source_name, claimed.state) == ("b-page.jpg", OutboundState.CLAIMED)
    assert (route.failed_dir / "a-page.jpg").read_bytes() == b"x" * first.size_bytes


def test_a_file_another_user_owns_is_claimed_by_rename_like_any_other(
    route: RouteConfig, intake: Intake, store: StateStore
) -> None:
    (route.outbox / "theirs.jpg").write_bytes(jpeg_bytes(16, 16))
    os.chown(route.outbox / "theirs.jpg", OTHER_UID, OTHER_UID)
    if os.stat(route.outbox / "theirs.jpg").st_uid != OTHER_UID:
        pytest.skip("this user cannot give a file away")
    intake.note_seen(route.outbox / "theirs.jpg", close_write=False, now=0.0)
    assert _settle(intake, 0.0) == 1
    (row,) = _rows(store)
    assert row.state == OutboundState.CLAIMED
    assert row.work_path is not None and row.work_path.stat().st_uid == OTHER_UID


def test_a_file_the_file_system_will_not_let_go_is_claimed_by_copy_and_left_in_place(
    route: RouteConfig,
    intake: Intake,
    store: StateStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = jpeg_bytes(16, 16)
    path = route.outbox / "kept.jpg"
    path.write_bytes(data)
    # Immutable: even root's rename is refused (EPERM), as a file not ours to move is.
    if not set_immutable(path, True):
        pytest.skip("this file system or user cannot make a file immutable")
    try:
        intake.note_seen(path, close_write=False, now=0.0)
        with caplog.at_level(logging.WARNING, logger="syncd.intake"):
            assert _settle(intake, 0.0) == 1
        (row,) = _rows(store)
        assert row.state == OutboundState.CLAIMED
        assert row.work_path is not None and row.work_path.read_bytes() == data
        assert row.work_path.stat().st_ino != path.stat().st_ino
        assert path.read_bytes() == data
        assert [r.getMessage() for r in caplog.records] == [
            "route=scans file=kept.jpg: not ours to move (Operation not permitted); "
            "sending a copy, the original stays"
        ]
        # Still in the outbox, the same version is never journaled again.
        intake.scan(now=10.0)
        assert _settle(intake, 10.0) == 0
        assert len(_rows(store)) == 1
    finally:
        set_immutable(path, False)


def test_an_entry_swapped_for_a_link_to_the_file_that_was_read_is_not_claimed(
    route: RouteConfig, intake: Intake, store: StateStore, folders: RouteFolders, tmp_path: Path
) -> None:
    (route.outbox / "page.jpg").write_bytes(jpeg_bytes(16, 16))
    read = read_entry(folders.outbox, "page.jpg", 10_000_000)
    # The very file that was read moves away and a link to it takes its name.
    os.rename(route.outbox / "page.jpg", tmp_path / "moved.jpg")
    os.symlink(tmp_path / "moved.jpg", route.outbox / "page.jpg")
    candidate = Candidate(route.outbox / "page.jpg", first_seen_at=0.0)
    assert intake._claim_all([(candidate, read)], now=1.0) == 0
    (row,) = _rows(store)
    assert row.state == OutboundState.FAILED
    assert (route.failed_dir / "page.jpg").is_symlink()
    assert os.listdir(route.work_dir) == []
