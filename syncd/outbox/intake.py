"""Intake: from "a path changed in the outbox" to "a claimed file with a state row".

For one route it keeps the candidates the watcher and the scans report, decides when each
has settled, reads it once through ``O_NOFOLLOW`` (hashing it), checks that it was written
to the end, journals it in SQLite and claims it by renaming it into the route's work folder
(those two steps are ``outbox.intake_claims``). Unsafe entries and files that stay incomplete
go to ``failed/`` with a reason (``outbox.intake_faults``).

All methods take ``now`` (unix seconds) and run on the daemon's main thread.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from syncd import rules
from syncd.config import RouteConfig
from syncd.errors import PermanentFileError
from syncd.folders import FileRead, read_entry, read_own_file
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
from syncd.outbox.intake_claims import IntakeClaims
from syncd.rules.error_kinds import ErrorKind
from syncd.rules.filecheck import looks_complete, same_file_version, unsafe_entry_reason
from syncd.state.store import StateStore

# The largest file whose structure the intake walks (in memory) to find its end marker
# when its last bytes are a trailer; the preparer reads files up to this size in memory too.
TRAILER_WALK_MAX_BYTES = 64 * 1024 * 1024


class Intake(IntakeClaims):
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
            self._fail_unclaimed(candidate, reason, entry.st_size, now, kind=ErrorKind.FILE)
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
            self._fail_unclaimed(candidate, error.reason, entry.st_size, now, kind=ErrorKind.FILE)
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
                    kind=ErrorKind.FILE,
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
