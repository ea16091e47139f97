"""The intake's settle rule on real files and a real state database, driven by explicit times.

These cases are where the settle rule alone decides: the files have no end marker to check,
so claiming one too early would send a file that is still being written.
"""

from __future__ import annotations

import os
from pathlib import Path

from syncd.config import RouteConfig
from syncd.folders.route import RouteFolders
from syncd.outbox.intake import Intake
from syncd.state.model import OutboundState
from syncd.state.store import StateStore
from tests.unit.intake.conftest import SETTLE_SECONDS


def _claimed_bytes(store: StateStore) -> list[bytes]:
    rows = store.outbound_in_states((OutboundState.CLAIMED,))
    return [Path(row.work_path).read_bytes() for row in rows if row.work_path]


def test_a_quiet_file_is_claimed_after_the_settle_period_and_not_before(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    path = route.outbox / "scan.tif"
    path.write_bytes(b"II*\x00 no end marker to check")
    intake = Intake(route, store, folders)
    intake.note_seen(path, close_write=False, now=0.0)
    assert intake.step(0.0) == 0  # first look
    assert intake.step(1.9) == 0
    assert intake.step(2.0) == 1
    assert _claimed_bytes(store) == [b"II*\x00 no end marker to check"]


def test_an_event_restarts_the_settle_wait_even_when_stat_shows_no_change(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    # A rewrite in place that keeps size and mtime (a file system with coarse timestamps, or
    # a writer restoring them): only the watcher's event says the file changed.
    path = route.outbox / "scan.tif"
    path.write_bytes(b"II*\x00 first version ")
    before = os.stat(path)
    intake = Intake(route, store, folders)
    intake.note_seen(path, close_write=False, now=0.0)
    assert intake.step(0.0) == 0
    assert intake.step(1.0) == 0
    path.write_bytes(b"II*\x00 second version")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    intake.note_seen(path, close_write=False, now=1.5)
    assert intake.step(2.1) == 0  # 2 s after the first look, but not after the event
    assert intake.step(4.0) == 0
    assert intake.step(4.1) == 1
    assert _claimed_bytes(store) == [b"II*\x00 second version"]


def test_a_close_after_write_shortens_the_wait_but_a_second_look_is_still_needed(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    path = route.outbox / "scan.tif"
    path.write_bytes(b"II*\x00 written and closed")
    intake = Intake(route, store, folders)
    intake.note_seen(path, close_write=True, now=0.0)
    assert intake.step(0.0) == 0
    assert intake.step(0.1) == 0
    assert intake.step(0.2) == 1


def test_a_write_after_the_close_brings_back_the_full_settle_period(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    # Some scanner drivers write a page in several open/close rounds: once the file is
    # written to again, the earlier close says nothing about the present state.
    path = route.outbox / "scan.tif"
    path.write_bytes(b"II*\x00 first round")
    intake = Intake(route, store, folders)
    intake.note_seen(path, close_write=True, now=0.0)
    assert intake.step(0.0) == 0
    with open(path, "ab") as handle:
        handle.write(b", second round")
    intake.note_seen(path, close_write=False, now=0.1)
    assert intake.step(0.1) == 0
    assert intake.step(0.35) == 0  # a close-after-write wait would have ended here
    assert intake.step(2.0) == 0
    assert intake.step(2.1) == 1
    assert _claimed_bytes(store) == [b"II*\x00 first round, second round"]


def test_a_file_still_growing_is_never_claimed_while_it_changes(
    route: RouteConfig, store: StateStore, folders: RouteFolders
) -> None:
    path = route.outbox / "scan.tif"
    path.write_bytes(b"II*\x00")
    intake = Intake(route, store, folders)
    intake.note_seen(path, close_write=False, now=0.0)
    now = 0.0
    for chunk in range(10):
        assert intake.step(now) == 0
        with open(path, "ab") as handle:
            handle.write(bytes([chunk]) * 100)
        now += 1.5  # a look every 1.5 s, each one seeing a new size, no event reported
    assert intake.step(now) == 0
    assert intake.step(now + SETTLE_SECONDS) == 1
    assert len(_claimed_bytes(store)[0]) == 4 + 10 * 100
