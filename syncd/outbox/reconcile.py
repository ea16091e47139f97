"""Start-up reconciliation of one route's folders against the state database.

After a crash, a file can be between two committed steps: journaled but not yet renamed
into the work folder, renamed but not yet marked claimed, archived but not yet marked done.
Each case has exactly one right answer, decided here before any new work starts, so that
every file ends with one visible state and nothing is sent twice.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from syncd.config import RouteConfig
from syncd.folders import TEMP_PREFIX, move_without_clobber, remove_entry
from syncd.folders.handles import entry_exists, rename_noreplace
from syncd.folders.route import RouteFolders
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.candidates import row_id_from_work_name, work_name
from syncd.outbox.quarantine import complete_interrupted_quarantine
from syncd.outbox.uploads import page_from_upload_name, row_id_from_upload_name
from syncd.rules import printable_name
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundState, UnknownRowError
from syncd.state.store import StateStore

log = logging.getLogger("syncd.reconcile")

_NEEDS_ORIGINAL = (OutboundState.CLAIMED, OutboundState.PREPARED)


def reconcile_route(
    route: RouteConfig, folders: RouteFolders, store: StateStore, now: float
) -> None:
    """Bring the route's work folder, outbox and state rows into agreement.

    * ``detected`` rows: the file is renamed into the work folder if it is still in the outbox
      (or is already there under its work name) and the row becomes ``claimed``; a file that
      is gone makes the row ``failed`` with that reason.
    * ``claimed``/``prepared`` rows whose original vanished from the work folder (or whose
      recorded work path is not inside it) fail; a document's page rows have no original
      of their own and are skipped; one a kill left in ``failed/`` between the move and its
      report gets the report.
    * files in the work folder that no row owns go back to the outbox, to be detected again;
      prepared uploads (a row's or a document page's) whose row no longer needs them are
      deleted. An entry that cannot be
      handled is logged and left; it never stops the start.
    """
    for row in store.outbound_in_states((OutboundState.DETECTED,), route=route.name):
        try:
            _settle_detected(
                route, folders, store, row.id, row.source_path, row.source_name, row.inode, now
            )
        except OSError as error:
            reason = f"could not be claimed at start-up: {error.strerror or error}"
            store.mark_failed(row.id, reason, now)
            log.error(
                "route=%s file=%s: %s",
                route.name,
                row.source_name,
                reason,
                extra=log_kind(kind_of(error)),
            )
    for row in store.outbound_in_states(_NEEDS_ORIGINAL, route=route.name):
        if row.is_page:
            continue  # a page row has no original of its own; its document row has
        path = row.work_path
        if path is None or path.parent != route.work_dir:
            reason = f"the recorded work path {path} is not inside {route.work_dir}"
        elif not entry_exists(folders.work.fd, path.name):
            reason = "the claimed file disappeared from the work folder"
            if _quarantine_was_interrupted(route, folders, row.source_name, row.attempts, now):
                reason = "syncd stopped while moving it to failed/"
        else:
            continue
        store.mark_failed(row.id, reason, now)
        # The row's file is gone from where the state says it is: lost for this row.
        log.error(
            "route=%s file=%s: %s",
            route.name,
            row.source_name,
            reason,
            extra=log_kind(ErrorKind.FILE),
        )
    for name in os.listdir(folders.work.fd):
        try:
            _adopt_or_return_stray(route, folders, store, name)
        except OSError as error:
            log.error(
                "route=%s: cannot tidy %s in the work folder: %s",
                route.name,
                printable_name(name),
                error,
                extra=log_kind(kind_of(error)),
            )


def _quarantine_was_interrupted(
    route: RouteConfig, folders: RouteFolders, source_name: str, attempts: int, now: float
) -> bool:
    """True when the vanished original is in ``failed/`` without its report (a kill
    between the move and the report); the report is written now."""
    if not os.path.lexists(route.failed_dir):
        return False
    try:
        name = complete_interrupted_quarantine(
            folders.failed,
            route=route.name,
            original_name=source_name,
            reason="syncd stopped while moving it to failed/; its reason was not kept",
            attempts=attempts + 1,
            now=now,
        )
    except OSError as error:
        log.error(
            "route=%s: cannot look into failed/: %s",
            route.name,
            error,
            extra=log_kind(kind_of(error)),
        )
        return False
    return name is not None


def _settle_detected(
    route: RouteConfig,
    folders: RouteFolders,
    store: StateStore,
    row_id: int,
    source_path: Path,
    source_name: str,
    inode: int,
    now: float,
) -> None:
    claimed_name = work_name(row_id, source_name)
    work_path = route.work_dir / claimed_name
    if entry_exists(folders.work.fd, claimed_name):
        store.mark_claimed(row_id, work_path, now)  # the rename happened, the commit did not
        return
    still_there = False
    if source_path.parent == route.outbox:
        try:
            info = os.stat(source_path.name, dir_fd=folders.outbox.fd, follow_symlinks=False)
            still_there = info.st_ino == inode and stat.S_ISREG(info.st_mode)
        except FileNotFoundError:
            pass
    if still_there:
        rename_noreplace(folders.outbox.fd, source_path.name, folders.work.fd, claimed_name)
        folders.work.fsync()
        store.mark_claimed(row_id, work_path, now)
        return
    store.mark_failed(row_id, "the file disappeared from the outbox before it was claimed", now)


def _adopt_or_return_stray(
    route: RouteConfig, folders: RouteFolders, store: StateStore, name: str
) -> None:
    info = os.stat(name, dir_fd=folders.work.fd, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        # Nothing syncd makes; an older, group-writable work folder may hold one planted.
        log.warning(
            "route=%s: ignoring folder %s in the work folder", route.name, printable_name(name)
        )
        return
    if name.startswith(TEMP_PREFIX) or name.startswith("."):
        remove_entry(folders.work, name)  # a temp file from an interrupted write
        return
    if name.endswith(".upload"):
        if not _upload_is_needed(store, name):
            remove_entry(folders.work, name)
        return
    row_id = row_id_from_work_name(name)
    if row_id is not None and _row_owns(store, row_id, route.work_dir / name):
        return
    original = name.split("__", 1)[1] if row_id is not None else name
    target = move_without_clobber(folders.work, name, folders.outbox, original)
    log.warning(
        "route=%s: returned stray work file %s to the outbox as %s",
        route.name,
        printable_name(name),
        printable_name(target),
    )


def _upload_is_needed(store: StateStore, name: str) -> bool:
    """True when a row still has to upload the prepared file called ``name``."""
    page = page_from_upload_name(name)
    if page is not None:
        row = store.find_page_row(*page)
        return row is not None and row.state == OutboundState.PREPARED
    upload_row_id = row_id_from_upload_name(name)
    return upload_row_id is not None and _row_needs_upload(store, upload_row_id)


def _row_needs_upload(store: StateStore, row_id: int) -> bool:
    try:
        return store.get_outbound(row_id).state == OutboundState.PREPARED
    except UnknownRowError:
        return False


def _row_owns(store: StateStore, row_id: int, path: Path) -> bool:
    try:
        row = store.get_outbound(row_id)
    except UnknownRowError:
        return False
    if row.state in (OutboundState.DONE, OutboundState.FAILED):
        return False
    return row.work_path is not None and Path(row.work_path) == path
