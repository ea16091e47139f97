"""What the intake does with an entry it cannot claim: retry, copy, quarantine or leave.

Each fault belongs to one entry and never stops the route: a refused rename is tried
``MAX_CLAIM_ATTEMPTS`` times (a file that is readable but not syncd's to move is copied
instead), then the entry goes to ``failed/`` with its reason; when even that move is
refused, the entry stays where it is and its row (shown by ``syncd status``) says why.
``Intake`` inherits these steps; the attributes below are the intake's own.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from syncd import rules
from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.errors import PermanentFileError
from syncd.folders import FileRead
from syncd.folders.route import RouteFolders
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.candidates import CLAIM_RETRY_SECONDS, MAX_CLAIM_ATTEMPTS, Candidate
from syncd.outbox.copy_claim import NOT_MOVABLE_ERRNOS, claim_by_copy
from syncd.outbox.quarantine import quarantine
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import LEFT_IN_OUTBOX
from syncd.state.store import StateStore

log = logging.getLogger("syncd.intake")


class IntakeFaults:
    """The fault steps of ``Intake`` (a mixin: it uses the intake's state and helpers)."""

    route: RouteConfig
    _store: StateStore
    _folders: RouteFolders
    _given_up: dict[str, tuple[int, int]]

    def _forget(self, candidate: Candidate) -> None:
        raise NotImplementedError

    def _lstat(self, name: str) -> os.stat_result:
        raise NotImplementedError

    def _taken_sources(self) -> set[tuple[str, int, int, int]]:
        raise NotImplementedError

    def _version(self, path: Path, entry: os.stat_result) -> tuple[str, int, int, int]:
        raise NotImplementedError

    def _journal(
        self, path: Path, size: int, mtime_ns: int, inode: int, sha256: str, now: float
    ) -> int:
        raise NotImplementedError

    def _copy_instead(
        self,
        candidate: Candidate,
        read: FileRead,
        row_id: int,
        claimed_name: str,
        error: OSError,
        now: float,
    ) -> bool:
        """After a refused rename: claim a file that is readable but not ours to move by
        copying it (``copy_claim``); True when that worked. Other refusals only delay."""
        if error.errno not in NOT_MOVABLE_ERRNOS:
            self._claim_refused(candidate, row_id, error, now)
            return False
        try:
            claim_by_copy(
                self._folders.outbox,
                candidate.path.name,
                self._folders.work,
                claimed_name,
                read.sha256,
            )
        except (OSError, PermanentFileError) as copy_error:
            self._claim_refused(
                candidate, row_id, copy_error if isinstance(copy_error, OSError) else error, now
            )
            return False
        shown = candidate.path.with_name(rules.printable_name(candidate.path.name))
        self._taken_sources().add((str(shown), read.inode, read.size_bytes, read.mtime_ns))
        log.warning(
            "route=%s file=%s: not ours to move (%s); sending a copy, the original stays",
            self.route.name,
            rules.printable_name(candidate.path.name),
            error.strerror,
            extra=log_kind(kind_of(error)),
        )
        return True

    def _claim_refused(self, candidate: Candidate, row_id: int, error: OSError, now: float) -> None:
        """The rename into the work folder failed: try again a little later, and after
        ``MAX_CLAIM_ATTEMPTS`` give the entry up (the rest of the outbox goes on)."""
        candidate.claim_failures += 1
        reason = f"cannot move it into the work folder: {error.strerror or error}"
        log.warning(
            "route=%s file=%s: %s (attempt %d of %d)",
            self.route.name,
            rules.printable_name(candidate.path.name),
            reason,
            candidate.claim_failures,
            MAX_CLAIM_ATTEMPTS,
            extra=log_kind(kind_of(error)),
        )
        if candidate.claim_failures >= MAX_CLAIM_ATTEMPTS:
            self._fail_unclaimed(candidate, reason, 0, now, kind=kind_of(error))
            return
        candidate.stable = None
        candidate.not_before = now + CLAIM_RETRY_SECONDS * candidate.claim_failures

    def _fail_swapped(self, candidate: Candidate, row_id: int, claimed: str, now: float) -> None:
        """The entry renamed into the work folder is not the file that was read (swapped
        for a folder or another file in between): it goes to failed/, never sent."""
        reason = "the file was replaced by another entry after it was read; not sent"
        try:
            quarantine(
                self._folders.work,
                claimed,
                self._folders.failed,
                route=self.route.name,
                original_name=candidate.path.name,
                reason=reason,
                attempts=1,
                now=now,
                row_id=row_id,
                kind=ErrorKind.FILE,
            )
        except OSError as error:
            reason += f" (and it could not be moved to failed/: {error.strerror})"
        self._store.mark_failed(row_id, reason, now)
        self._forget(candidate)

    def _fail_unclaimed(
        self, candidate: Candidate, reason: str, size: int, now: float, *, kind: ErrorKind
    ) -> None:
        """Journal an entry that will never be sent, then quarantine it with its reason and
        ``kind`` (the file itself, or the folder refusing to let it be moved).

        When even the move to failed/ is refused, the entry stays where it is, its row
        says why (``syncd status`` shows it), and it is left alone until it changes.
        """
        name = candidate.path.name
        try:
            entry = self._lstat(name)
        except FileNotFoundError:
            self._forget(candidate)
            return
        size = size or entry.st_size
        row_id = self._journal(candidate.path, size, entry.st_mtime_ns, entry.st_ino, "", now)
        attempts = max(1, candidate.incomplete_checks, candidate.claim_failures)
        try:
            quarantine(
                self._folders.outbox,
                name,
                self._folders.failed,
                route=self.route.name,
                original_name=name,
                reason=reason,
                attempts=attempts,
                now=now,
                row_id=row_id,
                kind=kind,
            )
        except FileNotFoundError:
            # Gone before it could be moved: nothing to keep, but its row must end.
            reason = f"the file disappeared from the outbox before it was quarantined ({reason})"
        except OSError as error:
            reason = (
                f"{reason}; it could not be moved to failed/ either "
                f"({error.strerror or error}), so it {LEFT_IN_OUTBOX}"
            )
            self._given_up[name] = (entry.st_ino, entry.st_mtime_ns)
            self._taken_sources().add(self._version(candidate.path, entry))
            log.error(
                "route=%s file=%s: %s",
                self.route.name,
                rules.printable_name(name),
                reason,
                extra=log_kind(kind_of(error)),
            )
            self._store.note_error(
                self.route.name,
                f"{rules.printable_name(name)}: {reason}",
                now,
                kind=kind_of(error),
            )
        self._store.mark_failed(row_id, reason, now)
        crash_point("failed")
        self._forget(candidate)
