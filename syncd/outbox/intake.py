"""Intake: from "a path changed in the outbox" to "a claimed file with a state row".

For one route it keeps the candidates the watcher and the scans report, decides when each
has settled, reads it once through ``O_NOFOLLOW`` (hashing it), checks that it was written
to the end, journals it in SQLite and claims it by renaming it into the route's work folder.
Unsafe entries and files that stay incomplete go to ``failed/`` with a reason.

All methods take ``now`` (unix seconds) and run on the daemon's main thread.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError
from syncd.folders import FileRead, read_entry, read_own_file
from syncd.folders.handles import rename_noreplace
from syncd.folders.route import RouteFolders
from syncd.imaging.metadata import has_end_structure
from syncd.outbox.candidates import (
    MAX_CLAIMS_PER_STEP,
    MAX_SOURCE_BYTES,
    Candidate,
    row_id_from_work_name,
    work_name,
)

__all__ = ["MAX_SOURCE_BYTES", "Intake", "row_id_from_work_name", "work_name"]
from syncd.outbox.intake_faults import IntakeFaults
from syncd.rules.filecheck import looks_complete, same_file_version, unsafe_entry_reason
from syncd.state.store import StateStore

log = logging.getLogger("syncd.intake")

# The largest file whose structure the intake walks (in memory) to find its end marker
# when its last bytes are a trailer; the preparer reads files up to this size in memory too.
TRAILER_WALK_MAX_BYTES = 64 * 1024 * 1024


class Intake(IntakeFaults):
    """Settles, journals and claims the files of one route's outbox."""

    def __init__(self, route: RouteConfig, store: StateStore, folders: RouteFolders) -> None:
        self.route = route
        self._store = store
        self._folders = folders
        self._candidates: dict[str, Candidate] = {}
        # Entries that could be neither sent nor moved to failed/ (their row says why),
        # by name → the version given up on: left alone until they change.
        self._given_up: dict[str, tuple[int, int]] = {}
        # Versions of files rows were made from (``store.taken_sources``), loaded on first
        # use and kept current by this intake.
        self._taken: set[tuple[str, int, int, int]] | None = None

    def _taken_sources(self) -> set[tuple[str, int, int, int]]:
        if self._taken is None:
            self._taken = self._store.taken_sources(self.route.name)
        return self._taken

    def _is_taken(self, version: tuple[str, int, int, int]) -> bool:
        """True when a row was made from this version of the file and it must stay alone.

        The cached set can be stale: ``syncd retry`` (another process) resets a row before
        putting its file back, so a hit is checked against the state before it counts.
        """
        if version not in self._taken_sources():
            return False
        self._taken = self._store.taken_sources(self.route.name)
        return version in self._taken

    @staticmethod
    def _version(path: Path, entry: os.stat_result) -> tuple[str, int, int, int]:
        shown = str(path.with_name(rules.printable_name(path.name)))
        return (shown, entry.st_ino, entry.st_size, entry.st_mtime_ns)

    @property
    def pending_count(self) -> int:
        """Files seen in the outbox and not yet claimed or failed."""
        return len(self._candidates)

    def note_seen(self, path: Path, close_write: bool, now: float) -> None:
        """Record that ``path`` may have changed (from a watcher event or a scan)."""
        if path.parent != self.route.outbox or rules.is_ignored_name(path.name):
            return
        candidate = self._candidates.get(path.name)
        if candidate is None:
            self._candidates[path.name] = Candidate(path, first_seen_at=now)
            candidate = self._candidates[path.name]
        # Any event restarts the settle clock; a close-after-write may shorten it, and any
        # later event (a write after the close) takes that shortcut back.
        candidate.stable = None
        candidate.close_write_seen = close_write

    def scan(self, now: float) -> None:
        """List the outbox's top level and note every entry (start-up and periodic rescan)."""
        self._folders.verify()
        for name in os.listdir(self._folders.outbox.fd):
            if name not in self._candidates:
                self.note_seen(self.route.outbox / name, False, now)

    def step(self, now: float) -> int:
        """Advance every candidate; returns how many files were claimed.

        Candidates are handled in name order so a batch of pages is journaled, and therefore
        published, in the order the scanner numbered them. The files ready in one step are
        claimed together (``_claim_all``), at most ``MAX_CLAIMS_PER_STEP``. Raises
        FolderChangedError when a route folder was swapped (the route must stop).
        """
        if self._candidates:
            self._folders.verify()
        ready: list[tuple[Candidate, FileRead]] = []
        for name in sorted(self._candidates):
            candidate = self._candidates[name]
            if candidate.not_before > now:
                continue
            read = self._advance(candidate, now)
            if read is not None:
                ready.append((candidate, read))
                if len(ready) == MAX_CLAIMS_PER_STEP:
                    break
        return self._claim_all(ready, now) if ready else 0

    def _forget(self, candidate: Candidate) -> None:
        self._candidates.pop(candidate.path.name, None)

    def _advance(self, candidate: Candidate, now: float) -> FileRead | None:
        """Settle ``candidate`` a step further; returns its read when it is ready to claim."""
        name = candidate.path.name
        try:
            entry = self._lstat(name)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        if stat.S_ISDIR(entry.st_mode):
            self._forget(candidate)  # subfolders are not scans; syncd does not recurse
            return None
        if self._given_up.get(name) == (entry.st_ino, entry.st_mtime_ns):
            self._forget(candidate)  # its row says why; a new version is looked at again
            return None
        reason = unsafe_entry_reason(entry)
        if reason is None and not rules.is_decodable_name(name):
            reason = (
                "the file name is not valid UTF-8 (a scanner with another character set?); "
                "it was renamed with its odd bytes written as \\xNN. Rename it and run "
                "syncd retry"
            )
        if reason is not None:
            self._fail_unclaimed(candidate, reason, entry.st_size, now)
            return None
        current = rules.SettleObservation(entry.st_size, entry.st_mtime_ns, entry.st_ino, now)
        previous = candidate.stable
        if previous is None or not previous.same_file_state(current):
            candidate.stable = current
            return None
        decision = rules.settle_decision(
            previous, current, now, self.route.settle_seconds, candidate.close_write_seen
        )
        if decision != "ready":
            return None
        if self._is_taken(self._version(candidate.path, entry)):
            self._forget(candidate)  # sent as a copy, or left here with a reason: not again
            return None
        return self._read_settled(candidate, entry, now)

    def _read_settled(
        self, candidate: Candidate, entry: os.stat_result, now: float
    ) -> FileRead | None:
        """Read a settled file once; returns the read when it is complete and unchanged."""
        name = candidate.path.name
        try:
            read = read_entry(self._folders.outbox, name, MAX_SOURCE_BYTES)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        except PermanentFileError as error:
            self._fail_unclaimed(candidate, error.reason, entry.st_size, now)
            return None
        try:
            after = self._lstat(name)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        if not same_file_version(entry, after) or read.inode != after.st_ino:
            candidate.stable = None  # changed while being read: settle again
            return None
        if read.size_bytes == 0 or not self._complete(name, read):
            candidate.incomplete_checks += 1
            if rules.is_still_writing_exhausted(
                candidate.incomplete_checks, candidate.first_seen_at, now
            ):
                what = "empty file" if read.size_bytes == 0 else "image is incomplete"
                marker = "end-of-image marker"
                if read.head.startswith(b"%PDF-"):
                    what, marker = "PDF document is incomplete", "%%EOF end marker"
                self._fail_unclaimed(
                    candidate,
                    f"{what}: it did not change for {now - candidate.first_seen_at:.0f} s "
                    f"and never got its {marker} (truncated or still being written)",
                    read.size_bytes,
                    now,
                )
                return None
            candidate.stable = None
            candidate.not_before = rules.next_still_writing_check_at(
                candidate.incomplete_checks, now
            )
            return None
        return read

    def _lstat(self, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=self._folders.outbox.fd, follow_symlinks=False)

    def _complete(self, name: str, read: FileRead) -> bool:
        """True when the file's end structure is present, whatever follows it.

        The tail check is enough for most files; only when it fails (a trailer such as a
        Samsung SEFT block or a Motion Photo's video follows the image) is the file read
        again and its structure walked to its end marker. Files over
        ``TRAILER_WALK_MAX_BYTES`` are not read into memory for that walk: for them the
        tail check decides.
        """
        if looks_complete(read.head, read.tail) is not False:
            return True
        if read.size_bytes > TRAILER_WALK_MAX_BYTES:
            return False
        try:
            data = read_own_file(self._folders.outbox, name, TRAILER_WALK_MAX_BYTES)
        except (FileNotFoundError, PermanentFileError):
            return False
        return has_end_structure(data)

    def _claim_all(self, ready: list[tuple[Candidate, FileRead]], now: float) -> int:
        """Journal, rename into the work folder and mark claimed every file of ``ready``.

        One transaction journals them all, the renames follow, one fsync per folder makes
        them durable, and one transaction marks them claimed: a batch of pages costs two
        commits, not two per page. A crash anywhere in between is what start-up
        reconciliation finishes (a ``detected`` row's file is in the outbox or, renamed,
        in the work folder). An entry the file system refuses to move only delays itself
        (``_claim_refused``). Returns how many were claimed.
        """
        with self._store.batch(f"journal {len(ready)} file(s) of route {self.route.name}"):
            rows = [
                (
                    candidate,
                    read,
                    self._journal(
                        candidate.path, read.size_bytes, read.mtime_ns, read.inode, read.sha256, now
                    ),
                )
                for candidate, read in ready
            ]
        for _ in rows:
            crash_point("detected")
        folders = self._folders
        moved: list[tuple[Candidate, int, Path]] = []
        for candidate, read, row_id in rows:
            name = candidate.path.name
            claimed_name = work_name(row_id, name)
            try:
                # A rename on one file system: atomic, allowed for files of other owners
                # (unlike link), and never replacing (the work name is unique by row).
                rename_noreplace(folders.outbox.fd, name, folders.work.fd, claimed_name)
            except FileNotFoundError:
                # Renamed or deleted after it was read: a renamed file is seen again under
                # its new name, so this row ends as reconciliation would end it.
                reason = "the file disappeared from the outbox before it was claimed"
                self._store.mark_failed(row_id, reason, now)
                log.info("route=%s file=%s: %s", self.route.name, name, reason)
                self._forget(candidate)
                continue
            except OSError as error:
                if not self._copy_instead(candidate, read, row_id, claimed_name, error, now):
                    continue
            work_path = self.route.work_dir / claimed_name
            if not self._is_what_was_read(claimed_name, read):
                self._fail_swapped(candidate, row_id, claimed_name, now)
                continue
            moved.append((candidate, row_id, work_path))
        if not moved:
            return 0
        folders.work.fsync()
        folders.outbox.fsync()
        with self._store.batch(f"claim {len(moved)} file(s) of route {self.route.name}"):
            for _candidate, row_id, work_path in moved:
                self._store.mark_claimed(row_id, work_path, now)
        for candidate, row_id, _work_path in moved:
            crash_point("claimed")
            self._forget(candidate)
            log.info(
                "route=%s file=%s: claimed as #%d", self.route.name, candidate.path.name, row_id
            )
        return len(moved)

    def _is_what_was_read(self, claimed_name: str, read: FileRead) -> bool:
        try:
            info = os.stat(claimed_name, dir_fd=self._folders.work.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode):
            return False
        # A copy has its own inode; the copy step checked its hash instead.
        return info.st_ino == read.inode or (
            info.st_uid == os.geteuid() and info.st_nlink == 1 and info.st_size == read.size_bytes
        )

    def _journal(
        self, path: Path, size: int, mtime_ns: int, inode: int, sha256: str, now: float
    ) -> int:
        """Journal ``path``, reusing the ``detected`` row ``syncd retry`` left for it.

        An undecodable name is journaled in its printable form (SQLite holds text).
        """
        path = path.with_name(rules.printable_name(path.name))
        existing = self._store.find_outbound_by_source(self.route.name, path, inode, size, mtime_ns)
        if existing is not None:
            return existing.id
        return self._store.journal_detected(
            self.route.name, path, size, mtime_ns, inode, sha256, now
        )
