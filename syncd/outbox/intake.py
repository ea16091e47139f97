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
from syncd.folders import FileRead, fsync_directory, read_own_file, read_regular_file
from syncd.imaging.metadata import has_end_structure
from syncd.outbox.quarantine import quarantine
from syncd.rules.filecheck import looks_complete, same_file_version, unsafe_entry_reason
from syncd.state.store import StateStore

log = logging.getLogger("syncd.intake")

# Larger than any scan a LivePerson upload could come from; refuses runaway files early.
MAX_SOURCE_BYTES = 512 * 1024 * 1024
# Files claimed in one step (two commits for all): bounds how long one step holds the main
# loop, which also sends the watchdog pings, when a scanner drops hundreds of pages at once.
MAX_CLAIMS_PER_STEP = 64


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
        published, in the order the scanner numbered them. The files ready in one step are
        claimed together (``_claim_all``), at most ``MAX_CLAIMS_PER_STEP``.
        """
        ready: list[tuple[_Candidate, FileRead]] = []
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

    def _forget(self, candidate: _Candidate) -> None:
        self._candidates.pop(candidate.path.name, None)

    def _advance(self, candidate: _Candidate, now: float) -> FileRead | None:
        """Settle ``candidate`` a step further; returns its read when it is ready to claim."""
        path = candidate.path
        try:
            entry = os.lstat(path)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        if stat.S_ISDIR(entry.st_mode):
            self._forget(candidate)  # subfolders are not scans; syncd does not recurse
            return None
        reason = unsafe_entry_reason(entry)
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
        return self._read_settled(candidate, entry, now)

    def _read_settled(
        self, candidate: _Candidate, entry: os.stat_result, now: float
    ) -> FileRead | None:
        """Read a settled file once; returns the read when it is complete and unchanged."""
        path = candidate.path
        try:
            read = read_regular_file(path, MAX_SOURCE_BYTES)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        except PermanentFileError as error:
            self._fail_unclaimed(candidate, error.reason, entry.st_size, now)
            return None
        try:
            after = os.lstat(path)
        except FileNotFoundError:
            self._forget(candidate)
            return None
        if not same_file_version(entry, after) or read.inode != after.st_ino:
            candidate.stable = None  # changed while being read: settle again
            return None
        if read.size_bytes == 0 or not self._complete(path, read):
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

    def _complete(self, path: Path, read: FileRead) -> bool:
        """True when the file's end structure is present, whatever follows it.

        The tail check is enough for most files; only when it fails (a trailer such as a
        Samsung SEFT block or a Motion Photo's video follows the image) is the file read
        again and its structure walked to its end marker.
        """
        if looks_complete(read.head, read.tail) is not False:
            return True
        try:
            return has_end_structure(read_own_file(path))
        except (FileNotFoundError, PermanentFileError):
            return False

    def _claim_all(self, ready: list[tuple[_Candidate, FileRead]], now: float) -> int:
        """Journal, rename into the work folder and mark claimed every file of ``ready``.

        One transaction journals them all, the renames follow, one fsync per folder makes
        them durable, and one transaction marks them claimed: a batch of pages costs two
        commits, not two per page. A crash anywhere in between is what start-up
        reconciliation finishes (a ``detected`` row's file is in the outbox or, renamed,
        in the work folder). Returns how many were claimed.
        """
        with self._store.batch(f"journal {len(ready)} file(s) of route {self.route.name}"):
            rows = [
                (
                    candidate,
                    self._journal(
                        candidate.path, read.size_bytes, read.mtime_ns, read.inode, read.sha256, now
                    ),
                )
                for candidate, read in ready
            ]
        for _ in rows:
            crash_point("detected")
        work_dir = self.route.work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        moved: list[tuple[_Candidate, int, Path]] = []
        for candidate, row_id in rows:
            work_path = work_dir / work_name(row_id, candidate.path.name)
            try:
                # rename() is atomic on one file system, and the work name is unique by row.
                os.rename(candidate.path, work_path)
            except FileNotFoundError:
                # Renamed or deleted after it was read: a renamed file is seen again under
                # its new name, so this row ends as reconciliation would end it.
                reason = "the file disappeared from the outbox before it was claimed"
                self._store.mark_failed(row_id, reason, now)
                log.info("route=%s file=%s: %s", self.route.name, candidate.path.name, reason)
                self._forget(candidate)
                continue
            moved.append((candidate, row_id, work_path))
        if not moved:
            return 0
        fsync_directory(work_dir)
        fsync_directory(self.route.outbox)
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
        try:
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
        except FileNotFoundError:
            if os.path.lexists(path):
                raise  # the failed folder is the problem, not the file
            # Gone before it could be moved: nothing to keep, but its row must end.
            reason = f"the file disappeared from the outbox before it was quarantined ({reason})"
        self._store.mark_failed(row_id, reason, now)
        crash_point("failed")
        self._forget(candidate)
