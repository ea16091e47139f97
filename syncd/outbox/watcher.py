"""Outbox watching: the only module that imports watchdog.

An ``OutboxWatcher`` runs one watchdog observer on the top level of one outbox and turns
its events into ``PathSeen`` items handed to a sink (normally a queue's ``put``). It decides
nothing: settling, ignoring and claiming happen in the intake. Events that happen while
syncd is down are lost by any watcher, which is why the intake also scans at start-up and
periodically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("syncd.watcher")

# File systems on which inotify sees only local changes: a scanner writing over SMB or NFS
# from another machine produces no events here, so those outboxes are polled.
NETWORK_FILESYSTEM_TYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "fuse.sshfs", "9p", "afs", "ceph"}
)


@dataclass(frozen=True)
class PathSeen:
    """A path in an outbox that may have changed.

    ``close_write`` is True when the event was a close after writing, which lets the intake
    shorten (never skip) its settle wait.
    """

    route: str
    path: Path
    close_write: bool = False


def filesystem_type(path: Path, mountinfo_path: Path = Path("/proc/self/mountinfo")) -> str:
    """Return the file system type of the mount holding ``path`` (e.g. ``ext4``, ``cifs``).

    Reads ``/proc/self/mountinfo`` and picks the longest mount point that contains the
    resolved path. Returns ``"unknown"`` when the table cannot be read.
    """
    try:
        target = os.path.realpath(path)
        lines = mountinfo_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "unknown"
    best_mount, best_type = "", "unknown"
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        right_fields = right.split()
        if len(fields) < 5 or not right_fields:
            continue
        # Mount points escape spaces as \040 in mountinfo.
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best_mount):
            best_mount, best_type = mount_point, right_fields[0]
    return best_type


def choose_observer_kind(watch_mode: str, fs_type: str) -> str:
    """Pick ``"events"`` (inotify) or ``"poll"`` for a route's ``watch`` setting.

    ``watch_mode`` is ``auto``, ``events`` or ``poll``; with ``auto`` network file systems
    are polled because inotify does not see writes made by other machines.
    """
    if watch_mode == "poll":
        return "poll"
    if watch_mode == "events":
        return "events"
    return "poll" if fs_type in NETWORK_FILESYSTEM_TYPES else "events"


class _Handler(FileSystemEventHandler):
    """Turns file events into PathSeen items; directories are ignored."""

    def __init__(self, route: str, sink: Callable[[PathSeen], None]) -> None:
        self._route = route
        self._sink = sink

    def _emit(self, raw_path: bytes | str, close_write: bool = False) -> None:
        path = Path(os.fsdecode(raw_path))
        self._sink(PathSeen(self._route, path, close_write))

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(event.src_path)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(event.src_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(event.src_path, close_write=True)

    def on_moved(self, event: FileSystemEvent) -> None:
        # A file renamed into the outbox (the usual "write elsewhere, then move" pattern).
        if not event.is_directory:
            self._emit(event.dest_path)


class OutboxWatcher:
    """Watches the top level of one outbox folder (not recursive: syncd's own folders live
    inside the outbox and must not be seen as new scans).
    """

    def __init__(
        self,
        route: str,
        outbox: Path,
        watch_mode: str,
        poll_seconds: float,
        sink: Callable[[PathSeen], None],
    ) -> None:
        self.route = route
        self.outbox = outbox
        self.kind = choose_observer_kind(watch_mode, filesystem_type(outbox))
        self._poll_seconds = poll_seconds
        self._sink = sink
        self._observer: BaseObserver | None = None
        self._watched_identity: tuple[int, int] | None = None

    def start(self) -> None:
        """Start observing. Raises OSError when the outbox does not exist."""
        observer: BaseObserver
        if self.kind == "poll":
            observer = PollingObserver(timeout=self._poll_seconds)
        else:
            observer = Observer()
        self._watched_identity = _folder_identity(self.outbox)
        observer.schedule(_Handler(self.route, self._sink), os.fspath(self.outbox), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.debug("route=%s: watching %s with %s", self.route, self.outbox, self.kind)

    def stop(self) -> None:
        """Stop observing and join the observer thread."""
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=10)

    def is_healthy(self) -> bool:
        """True while the observer runs on the same outbox folder it started on.

        When an outbox is removed and created again, the old watch sees nothing of the new
        folder; the daemon restarts a watcher that is no longer healthy.
        """
        if self._observer is None or not self._observer.is_alive():
            return False
        # inotify ends the watch of a deleted folder (its emitter thread stops). A folder made
        # again at the same path often gets the same inode number, so the inode alone cannot
        # tell the new folder from the old one.
        if not all(emitter.is_alive() for emitter in self._observer.emitters):
            return False
        try:
            return _folder_identity(self.outbox) == self._watched_identity
        except OSError:
            return False


def _folder_identity(folder: Path) -> tuple[int, int]:
    """The (device, inode) of ``folder`` itself, not of what a symlink there points to.

    A symlink put in place of the outbox is then a different folder, and the watcher is
    restarted (where the folder checks refuse it) instead of watching the link's target.
    Raises OSError when ``folder`` is gone.
    """
    status = os.stat(folder, follow_symlinks=False)
    return status.st_dev, status.st_ino
