"""The watcher: events or polling, which file system, its health; with real inotify."""

from __future__ import annotations

import os
import queue
from pathlib import Path

import pytest
from watchdog.observers.polling import PollingObserver

from syncd.outbox import watcher as watcher_module
from syncd.outbox.watcher import OutboxWatcher, PathSeen, choose_observer_kind, filesystem_type
from tests.helpers.waiting import wait_until

# Fields of /proc/self/mountinfo: id, parent, dev, root, mount point, options, [optional
# fields], "-", fs type, source, super options.
MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:40 / /mnt/scans rw,relatime shared:20 - cifs //nas/scans rw,vers=3.1.1
41 40 0:41 / /mnt/scans/local rw,relatime - tmpfs tmpfs rw
42 22 0:42 / /mnt/scans2 rw,relatime - nfs4 nas:/export rw
43 22 0:43 / /mnt/front\\040desk rw,relatime - fuse.sshfs me@host:/scans rw
this line is not mountinfo
44 22 0:44 / /mnt/broken rw,relatime -
45 22 0:45 / /mnt rw,relatime - xfs /dev/sdb1 rw
"""


@pytest.fixture
def mountinfo(tmp_path: Path) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(MOUNTINFO, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/outbox", "ext4"),  # only / contains it
        ("/mnt/other/outbox", "xfs"),
        ("/mnt/scans", "cifs"),  # the mount point itself
        ("/mnt/scans/outbox", "cifs"),  # /mnt, listed later, is shorter
        ("/mnt/scans-archive/outbox", "xfs"),  # /mnt/scans is a prefix of the text only
        ("/mnt/scans/local/outbox", "tmpfs"),  # the longest containing mount point wins
        ("/mnt/scans2/outbox", "nfs4"),  # /mnt/scans is a prefix of the text, not a parent
        ("/mnt/front desk/outbox", "fuse.sshfs"),  # \040 is a space
        ("/mnt/broken/outbox", "xfs"),  # a line without a type is skipped
    ],
)
def test_filesystem_type_is_that_of_the_longest_mount_point_holding_the_path(
    mountinfo: Path, path: str, expected: str
) -> None:
    assert filesystem_type(Path(path), mountinfo) == expected


def test_filesystem_type_is_unknown_when_the_mount_table_cannot_be_read(tmp_path: Path) -> None:
    assert filesystem_type(Path("/srv/outbox"), tmp_path / "no-such-mountinfo") == "unknown"


def test_filesystem_type_follows_a_symlinked_outbox_to_its_mount(
    mountinfo: Path, tmp_path: Path
) -> None:
    link = tmp_path / "outbox"
    link.symlink_to("/mnt/scans/outbox")
    assert filesystem_type(link, mountinfo) == "cifs"


def test_filesystem_type_of_this_machine_names_a_real_type(tmp_path: Path) -> None:
    assert filesystem_type(tmp_path) not in ("", "unknown")


@pytest.mark.parametrize(
    ("watch_mode", "fs_type", "expected"),
    [
        ("auto", "ext4", "events"),
        ("auto", "tmpfs", "events"),
        ("auto", "unknown", "events"),
        ("auto", "cifs", "poll"),
        ("auto", "nfs", "poll"),
        ("auto", "nfs4", "poll"),
        ("auto", "smb3", "poll"),
        ("auto", "fuse.sshfs", "poll"),
        ("auto", "9p", "poll"),
        ("events", "cifs", "events"),  # the user's explicit choice wins
        ("poll", "ext4", "poll"),
    ],
)
def test_choose_observer_kind_polls_network_file_systems_unless_told_otherwise(
    watch_mode: str, fs_type: str, expected: str
) -> None:
    assert choose_observer_kind(watch_mode, fs_type) == expected


def _watcher(
    outbox: Path, seen: queue.Queue[PathSeen], watch_mode: str = "events"
) -> OutboxWatcher:
    return OutboxWatcher("scans", outbox, watch_mode, 0.1, seen.put)


def test_a_written_file_is_reported_with_its_close_after_write(tmp_path: Path) -> None:
    seen: queue.Queue[PathSeen] = queue.Queue()
    watcher = _watcher(tmp_path, seen)
    assert watcher.kind == "events"
    watcher.start()
    try:
        (tmp_path / "page.jpg").write_bytes(b"\xff\xd8\xff")
        (tmp_path / "sub").mkdir()  # directories are not reported
        events: list[PathSeen] = []

        def closed_seen() -> bool:
            while not seen.empty():
                events.append(seen.get_nowait())
            return any(event.close_write for event in events)

        wait_until(closed_seen, 10, "the close-after-write event")
    finally:
        watcher.stop()
    assert {event.path for event in events} == {tmp_path / "page.jpg"}
    assert {event.route for event in events} == {"scans"}


@pytest.mark.parametrize("written_in", ["the outbox", "another folder"])
def test_a_file_renamed_into_place_is_reported_under_its_new_name(
    tmp_path: Path, written_in: str
) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    written = (outbox if written_in == "the outbox" else tmp_path) / "page.jpg.part"
    written.write_bytes(b"data")
    seen: queue.Queue[PathSeen] = queue.Queue()
    watcher = _watcher(outbox, seen)
    watcher.start()
    try:
        os.rename(written, outbox / "page.jpg")
        event = seen.get(timeout=10)
    finally:
        watcher.stop()
    assert event == PathSeen("scans", outbox / "page.jpg", False)


def test_the_watcher_is_healthy_only_while_it_watches_the_outbox_it_started_on(
    tmp_path: Path,
) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    watcher = _watcher(outbox, queue.Queue())
    assert not watcher.is_healthy()  # not started
    watcher.start()
    try:
        assert watcher.is_healthy()
        outbox.rmdir()
        assert not watcher.is_healthy()  # gone
        outbox.mkdir()  # back, but a new folder the old watch does not see; file systems
        # often give it the old inode number, so the watch's own end must be noticed too
        wait_until(lambda: not watcher.is_healthy(), 10, "the watcher to notice the new folder")
    finally:
        watcher.stop()
    assert not watcher.is_healthy()  # stopped


def test_an_outbox_renamed_away_and_replaced_makes_the_watcher_unhealthy(tmp_path: Path) -> None:
    # The watch follows the renamed folder and keeps running; only the inode tells.
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    watcher = _watcher(outbox, queue.Queue())
    watcher.start()
    try:
        os.rename(outbox, tmp_path / "outbox.old")
        assert not watcher.is_healthy()  # nothing at the path
        outbox.mkdir()
        assert not watcher.is_healthy()  # another folder at the path
    finally:
        watcher.stop()


def test_a_stopped_watchers_thread_makes_it_unhealthy(tmp_path: Path) -> None:
    watcher = _watcher(tmp_path, queue.Queue(), watch_mode="poll")
    assert watcher.kind == "poll"
    watcher.start()
    assert watcher.is_healthy()
    observer = watcher._observer
    assert observer is not None
    observer.stop()
    observer.join(timeout=10)
    assert not watcher.is_healthy()
    watcher.stop()


def test_start_on_a_missing_outbox_raises_oserror(tmp_path: Path) -> None:
    watcher = _watcher(tmp_path / "missing", queue.Queue())
    with pytest.raises(OSError):
        watcher.start()
    assert not watcher.is_healthy()


def test_a_network_outbox_is_polled_by_a_polling_observer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watcher_module, "filesystem_type", lambda path: "cifs")
    watcher = _watcher(tmp_path, queue.Queue(), watch_mode="auto")
    assert watcher.kind == "poll"
    watcher.start()
    try:
        assert isinstance(watcher._observer, PollingObserver)
    finally:
        watcher.stop()


def test_a_polled_outbox_reports_a_new_file_at_its_poll_interval(tmp_path: Path) -> None:
    seen: queue.Queue[PathSeen] = queue.Queue()
    watcher = _watcher(tmp_path, seen, watch_mode="poll")
    assert watcher.kind == "poll"
    watcher.start()
    try:
        (tmp_path / "page.jpg").write_bytes(b"\xff\xd8\xff")
        events: list[PathSeen] = []

        def page_seen() -> bool:
            while not seen.empty():
                events.append(seen.get_nowait())
            return any(event.path == tmp_path / "page.jpg" for event in events)

        # Polled every 0.1 s: well within the wait, however loaded the machine.
        wait_until(page_seen, 10, "the polled file")
    finally:
        watcher.stop()
    assert {event.route for event in events} == {"scans"}


def test_a_local_outbox_is_watched_with_inotify(tmp_path: Path) -> None:
    watcher = _watcher(tmp_path, queue.Queue(), watch_mode="auto")
    assert watcher.kind == "events"
    watcher.start()
    try:
        assert not isinstance(watcher._observer, PollingObserver)
    finally:
        watcher.stop()


def test_files_in_subfolders_are_not_reported(tmp_path: Path) -> None:
    # syncd's own folders (sent/, failed/, .work/) live inside the outbox.
    (tmp_path / "sent").mkdir()
    seen: queue.Queue[PathSeen] = queue.Queue()
    watcher = _watcher(tmp_path, seen)
    watcher.start()
    try:
        (tmp_path / "sent" / "archived.jpg").write_bytes(b"old")
        (tmp_path / "new.jpg").write_bytes(b"new")  # events arrive in order: this one last
        events: list[PathSeen] = []

        def top_level_seen() -> bool:
            while not seen.empty():
                events.append(seen.get_nowait())
            return any(event.path.name == "new.jpg" for event in events)

        wait_until(top_level_seen, 10, "the top-level file's event")
    finally:
        watcher.stop()
    assert {event.path for event in events} == {tmp_path / "new.jpg"}


def test_stop_ends_the_observer_thread(tmp_path: Path) -> None:
    watcher = _watcher(tmp_path, queue.Queue())
    watcher.start()
    observer = watcher._observer
    assert observer is not None and observer.is_alive()
    # A daemon thread: a watcher nobody stopped never keeps syncd's process from exiting.
    assert observer.daemon
    watcher.stop()
    assert not observer.is_alive()
    watcher.stop()  # a second stop does nothing


def test_a_mount_table_with_bytes_that_are_not_utf8_is_still_read(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_bytes(
        b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        b"40 22 0:40 / /mnt/caf\xe9 rw - cifs //nas/s rw\n"  # a Latin-1 name
        b"41 22 0:41 / /mnt/scans rw - nfs4 nas:/s rw\n"
    )
    assert filesystem_type(Path("/mnt/scans/outbox"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/srv/outbox"), mountinfo) == "ext4"


def test_starting_logs_what_is_watched_and_how(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = _watcher(tmp_path, queue.Queue())
    with caplog.at_level("DEBUG", logger="syncd.watcher"):
        watcher.start()
    watcher.stop()
    assert [record.getMessage() for record in caplog.records] == [
        f"route=scans: watching {tmp_path} with events"
    ]


def test_filesystem_type_is_unknown_when_no_mount_point_holds_the_path(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text("40 22 0:40 / /mnt/scans rw - cifs //nas/s rw\n", encoding="utf-8")
    assert filesystem_type(Path("/srv/outbox"), mountinfo) == "unknown"


def test_filesystem_type_edge_lines_of_the_mount_table(tmp_path: Path) -> None:
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
        "30 22 0:30 / /mnt/stacked rw - ext4 /dev/sdb1 rw\n"
        "31 30 0:31 / /mnt/stacked rw - cifs //nas/s rw\n"  # mounted over it: this one shows
        "32 22 0:32 / /mnt/SCANBOX rw - nfs4 nas:/s rw\n"  # ends in letters rstrip could eat
        "33 22 0:33 / /mnt/five - xfs /dev/sdc1 rw\n",  # five fields before " - "
        encoding="utf-8",
    )
    assert filesystem_type(Path("/mnt/stacked/outbox"), mountinfo) == "cifs"
    assert filesystem_type(Path("/mnt/SCANBOX/outbox"), mountinfo) == "nfs4"
    assert filesystem_type(Path("/mnt/five/outbox"), mountinfo) == "xfs"
