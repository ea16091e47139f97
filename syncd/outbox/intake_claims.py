"""How the intake claims the files it found ready: journal, rename into work, mark claimed.

A batch of settled, read files becomes ``detected`` rows in one transaction, each file is
renamed into the route's work folder (or copied, when it is not syncd's to move), the
folders are fsynced once, and one more transaction marks the batch ``claimed``. ``Intake``
inherits these steps; what it does with an entry it cannot claim is ``IntakeFaults``.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from syncd import rules
from syncd.crashpoints import crash_point
from syncd.folders import FileRead
from syncd.folders.handles import rename_noreplace
from syncd.outbox.candidates import Candidate, work_name
from syncd.outbox.intake_faults import IntakeFaults

log = logging.getLogger("syncd.intake")


class IntakeClaims(IntakeFaults):
    """The claim steps of ``Intake`` (a mixin: it uses the intake's state and helpers)."""

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
