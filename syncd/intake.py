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
from dataclasses import dataclass
from pathlib import Path

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError
from syncd.filecheck import looks_complete, same_file_version, unsafe_entry_reason
from syncd.folders import fsync_directory, read_regular_file
from syncd.quarantine import quarantine
from syncd.state import StateStore

log = logging.getLogger("syncd.intake")

# Larger than any scan a LivePerson upload could come from; refuses runaway files early.
MAX_SOURCE_BYTES = 512 * 1024 * 1024


def work_name(row_id: int, original_name: str) -> str:
    """Name of a claimed file in the work folder: unique by row id, readable by name."""
    return f"{row_id:08d}__{original_name}"


def row_id_from_work_name(name: str) -> int | None:
    """Inverse of ``work_name``; None for names syncd did not make."""
    prefix, separator, _ = name.partition("__")
    if not separator or not prefix.isdigit():
        return None
    return int(prefix)


@dataclass
class _Candidate:
    path: Path
    first_seen_at: float
    stable: rules.SettleObservation | None = None
    close_write_seen: bool = False
    incomplete_checks: int = 0
    not_before: float = 0.0


class Intake:
    """Settles, journals and claims the files of one route's outbox."""

    def __init__(self, route: RouteConfig, store: StateStore) -> None:
        self.route = route
        self._store = store
        self._candidates: dict[str, _Candidate] = {}

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
            self._candidates[path.name] = _Candidate(path, first_seen_at=now)
            candidate = self._candidates[path.name]
        # Any event restarts the settle clock; a close-after-write may shorten it.
        candidate.stable = None
        candidate.close_write_seen = candidate.close_write_seen or close_write

    def scan(self, now: float) -> None:
        """List the outbox's top level and note every entry (start-up and periodic rescan)."""
        try:
            with os.scandir(self.route.outbox) as entries:
                for entry in entries:
                    if entry.name not in self._candidates:
                        self.note_seen(Path(entry.path), False, now)
        except FileNotFoundError:
            log.warning("route=%s: outbox %s does not exist", self.route.name, self.route.outbox)

    def step(self, now: float) -> int:
        """Advance every candidate; returns how many files were claimed.

        Candidates are handled in name order so a batch of pages is journaled, and therefore
        published, in the order the scanner numbered them.
        """
        claimed = 0
        for name in sorted(self._candidates):
            candidate = self._candidates[name]
            if candidate.not_before > now:
                continue
            if self._advance(candidate, now):
                claimed += 1
        return claimed

    def _forget(self, candidate: _Candidate) -> None:
        self._candidates.pop(candidate.path.name, None)

    def _advance(self, candidate: _Candidate, now: float) -> bool:
        path = candidate.path
        try:
            entry = os.lstat(path)
        except FileNotFoundError:
            self._forget(candidate)
            return False
        if stat.S_ISDIR(entry.st_mode):
            self._forget(candidate)  # subfolders are not scans; syncd does not recurse
            return False
        reason = unsafe_entry_reason(entry)
        if reason is not None:
            self._fail_unclaimed(candidate, reason, entry.st_size, now)
            return False
        current = rules.SettleObservation(entry.st_size, entry.st_mtime_ns, entry.st_ino, now)
        previous = candidate.stable
        if previous is None or not previous.same_file_state(current):
            candidate.stable = current
            return False
        decision = rules.settle_decision(
            previous, current, now, self.route.settle_seconds, candidate.close_write_seen
        )
        if decision != "ready":
            return False
        return self._claim(candidate, entry, now)

    def _claim(self, candidate: _Candidate, entry: os.stat_result, now: float) -> bool:
        path = candidate.path
        try:
            read = read_regular_file(path, MAX_SOURCE_BYTES)
        except FileNotFoundError:
            self._forget(candidate)
            return False
        except PermanentFileError as error:
            self._fail_unclaimed(candidate, error.reason, entry.st_size, now)
            return False
        try:
            after = os.lstat(path)
        except FileNotFoundError:
            self._forget(candidate)
            return False
        if not same_file_version(entry, after) or read.inode != after.st_ino:
            candidate.stable = None  # changed while being read: settle again
            return False
        if read.size_bytes == 0 or looks_complete(read.head, read.tail) is False:
            candidate.incomplete_checks += 1
            if rules.is_still_writing_exhausted(
                candidate.incomplete_checks, candidate.first_seen_at, now
            ):
                what = "empty file" if read.size_bytes == 0 else "image is incomplete"
                self._fail_unclaimed(
                    candidate,
                    f"{what}: it did not change for {now - candidate.first_seen_at:.0f} s "
                    "and never got its end-of-image marker (truncated or still being written)",
                    read.size_bytes,
                    now,
                )
                return False
            candidate.stable = None
            candidate.not_before = rules.next_still_writing_check_at(
                candidate.incomplete_checks, now
            )
            return False
        row_id = self._journal(path, read.size_bytes, read.mtime_ns, read.inode, read.sha256, now)
        crash_point("detected")
        try:
            self._move_into_work(row_id, path, now)
        except FileNotFoundError:
            if os.path.lexists(self.route.work_dir / work_name(row_id, path.name)):
                raise  # the rename happened; start-up reconciliation finishes the claim
            # Renamed or deleted after it was read: a renamed file is seen again under its
            # new name, so this row ends as reconciliation would end it, and the loop goes on.
            reason = "the file disappeared from the outbox before it was claimed"
            self._store.mark_failed(row_id, reason, now)
            log.info("route=%s file=%s: %s", self.route.name, path.name, reason)
            self._forget(candidate)
            return False
        self._forget(candidate)
        log.info("route=%s file=%s: claimed as #%d", self.route.name, path.name, row_id)
        return True

    def _journal(
        self, path: Path, size: int, mtime_ns: int, inode: int, sha256: str, now: float
    ) -> int:
        """Journal ``path``, reusing the ``detected`` row ``syncd retry`` left for it."""
        existing = self._store.find_outbound_by_source(self.route.name, path, inode, size, mtime_ns)
        if existing is not None:
            return existing.id
        return self._store.journal_detected(
            self.route.name, path, size, mtime_ns, inode, sha256, now
        )

    def _move_into_work(self, row_id: int, path: Path, now: float) -> None:
        work_dir = self.route.work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        work_path = work_dir / work_name(row_id, path.name)
        # rename() is atomic on one file system, and the work name is unique by row id.
        os.rename(path, work_path)
        fsync_directory(work_dir)
        fsync_directory(path.parent)
        self._store.mark_claimed(row_id, work_path, now)
        crash_point("claimed")

    def _fail_unclaimed(self, candidate: _Candidate, reason: str, size: int, now: float) -> None:
        """Journal an entry that will never be sent, then quarantine it with its reason."""
        path = candidate.path
        try:
            entry = os.lstat(path)
        except FileNotFoundError:
            self._forget(candidate)
            return
        row_id = self._journal(path, size, entry.st_mtime_ns, entry.st_ino, "", now)
        attempts = max(1, candidate.incomplete_checks)
        quarantine(
            path,
            self.route.failed_dir,
            route=self.route.name,
            original_name=path.name,
            reason=reason,
            attempts=attempts,
            now=now,
            row_id=row_id,
        )
        self._store.mark_failed(row_id, reason, now)
        crash_point("failed")
        self._forget(candidate)
