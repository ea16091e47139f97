"""Start-up reconciliation of one route's folders against the state database.

After a crash, a file can be between two committed steps: journaled but not yet renamed
into the work folder, renamed but not yet marked claimed, archived but not yet marked done.
Each case has exactly one right answer, decided here before any new work starts, so that
every file ends with one visible state and nothing is sent twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from syncd.config import RouteConfig
from syncd.folders import fsync_directory, move_without_clobber
from syncd.outbox.intake import row_id_from_work_name, work_name
from syncd.outbox.preparer import page_from_upload_name, row_id_from_upload_name
from syncd.state.model import OutboundState, UnknownRowError
from syncd.state.store import StateStore

log = logging.getLogger("syncd.reconcile")

_NEEDS_ORIGINAL = (OutboundState.CLAIMED, OutboundState.PREPARED)


def reconcile_route(route: RouteConfig, store: StateStore, now: float) -> None:
    """Bring the route's work folder, outbox and state rows into agreement.

    * ``detected`` rows: the file is renamed into the work folder if it is still in the outbox
      (or is already there under its work name) and the row becomes ``claimed``; a file that
      is gone makes the row ``failed`` with that reason.
    * ``claimed``/``prepared`` rows whose original vanished from the work folder fail.
    * files in the work folder that no row owns go back to the outbox, to be detected again;
      prepared uploads whose row no longer needs them are deleted.
    """
    route.work_dir.mkdir(parents=True, exist_ok=True)
    for row in store.outbound_in_states((OutboundState.DETECTED,), route=route.name):
        _settle_detected(
            route, store, row.id, Path(row.source_path), row.source_name, row.inode, now
        )
    for row in store.outbound_in_states(_NEEDS_ORIGINAL, route=route.name):
        if row.is_page:
            continue  # a page row has no original of its own; its document row has
        if row.work_path is None or not os.path.lexists(row.work_path):
            store.mark_failed(row.id, "the claimed file disappeared from the work folder", now)
            log.error("route=%s file=%s: claimed file is missing", route.name, row.source_name)
    _adopt_or_return_strays(route, store)


def _settle_detected(
    route: RouteConfig,
    store: StateStore,
    row_id: int,
    source_path: Path,
    source_name: str,
    inode: int,
    now: float,
) -> None:
    work_path = route.work_dir / work_name(row_id, source_name)
    if os.path.lexists(work_path):
        store.mark_claimed(row_id, work_path, now)  # the rename happened, the commit did not
        return
    try:
        still_there = os.lstat(source_path).st_ino == inode
    except FileNotFoundError:
        still_there = False
    if still_there:
        os.rename(source_path, work_path)
        fsync_directory(route.work_dir)
        store.mark_claimed(row_id, work_path, now)
        return
    store.mark_failed(row_id, "the file disappeared from the outbox before it was claimed", now)


def _adopt_or_return_strays(route: RouteConfig, store: StateStore) -> None:
    with os.scandir(route.work_dir) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        path = route.work_dir / name
        if name.startswith("."):
            os.unlink(path)  # a temp file from an interrupted write
            continue
        if name.endswith(".upload"):
            if not _upload_is_needed(store, name):
                os.unlink(path)
            continue
        row_id = row_id_from_work_name(name)
        if row_id is not None and _row_owns(store, row_id, path):
            continue
        original = name.split("__", 1)[1] if row_id is not None else name
        target = move_without_clobber(path, route.outbox, original)
        log.warning(
            "route=%s: returned stray work file %s to the outbox as %s",
            route.name,
            name,
            target.name,
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
