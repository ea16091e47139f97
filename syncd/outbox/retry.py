"""``syncd retry``: put quarantined files back into the pipeline.

A failed file sits in its route's ``failed/`` folder beside ``NAME.error.txt``, whose
``state row:`` line names its row. Retrying resets the row to ``detected`` at a free
outbox path, then moves the file there (never replacing a file) and removes the report, so
the intake claims it under the same row, and the history stays in one row.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterable
from pathlib import Path

from syncd.config import Config, RouteConfig
from syncd.errors import FolderChangedError, PermanentFileError
from syncd.folders import move_without_clobber, read_own_file, remove_entry
from syncd.folders.handles import Folder, entry_exists
from syncd.outbox.quarantine import ERROR_SUFFIX
from syncd.rules import candidate_names
from syncd.state.model import DISMISSED, OutboundRow, OutboundState, UnknownRowError
from syncd.state.store import StateStore

# An error report is a few lines; a larger "report" is not one of syncd's.
MAX_REPORT_BYTES = 64 * 1024


def quarantined_files(route: RouteConfig) -> dict[int, Path]:
    """Map row id → quarantined file for every report in ``route``'s failed folder.

    Reports are opened without following links, and only regular files are read.
    """
    found: dict[int, Path] = {}
    try:
        failed = Folder.open(route.failed_dir)
    except (OSError, FolderChangedError):
        return found
    with failed:
        for name in os.listdir(failed.fd):
            if not name.endswith(ERROR_SUFFIX):
                continue
            try:
                text = read_own_file(failed, name, MAX_REPORT_BYTES).decode("utf-8", "replace")
            except (OSError, PermanentFileError):
                continue
            for line in text.splitlines():
                key, _, value = line.partition(": ")
                if key == "state row" and value.strip().isdigit():
                    found[int(value)] = route.failed_dir / name[: -len(ERROR_SUFFIX)]
    return found


def dismissed_ids(config: Config, rows: Iterable[OutboundRow]) -> set[int]:
    """The ids of the failed ``rows`` whose file an operator removed from ``failed/``.

    Such a file was dealt with by a person: it is shown as ``dismissed`` rather than failed
    forever, and ``retry --all-failed`` leaves it alone. Reads each route's ``failed/``
    reports once. Raises nothing (an unreadable folder counts as empty).
    """
    routes = {route.name: route for route in config.routes}
    present: dict[str, dict[int, Path]] = {}
    dismissed = set()
    for row in rows:
        route = routes.get(row.route)
        if row.state != OutboundState.FAILED or route is None:
            continue
        if row.route not in present:
            try:
                present[row.route] = quarantined_files(route)
            except OSError:
                present[row.route] = {}
        # A document's page rows have no file of their own: they follow their document's.
        quarantined = present[row.route].get(row.document_id or row.id)
        if quarantined is None or not os.path.lexists(quarantined):
            dismissed.add(row.id)
    return dismissed


def _free_name(folder: Folder, name: str) -> str:
    """The first of ``name``, ``name-2``, ``name-3``… with nothing at it in ``folder``."""
    for candidate in candidate_names(name):
        if not entry_exists(folder.fd, candidate):
            return candidate
    raise OSError(errno.EEXIST, f"no free name for {name!r} in {folder.path}")


def _return_to_outbox(store: StateStore, row_id: int, quarantined: Path, outbox_path: Path) -> Path:
    """Reset row ``row_id`` to ``detected`` at a free outbox path, then move the file there.

    The row is reset *before* the file appears in the outbox (see ``state.outbound``): a
    running intake that meets the file finds this row by its path and version instead of
    journaling a second one. The rename keeps inode, size and mtime, so the version recorded
    from the quarantined file is the outbox file's. If another file took the chosen name in
    between, the row is pointed at the name the file really got. Raises OSError, StateError.
    """
    with (
        Folder.open(outbox_path, create_mode=0o2770) as outbox,
        Folder.open(quarantined.parent) as failed,
    ):
        # The operator may have replaced the file in failed/ (a rescan): the row must
        # describe the file as it is now, or the intake would journal it as a new row.
        current = os.stat(quarantined.name, dir_fd=failed.fd, follow_symlinks=False)
        version = (current.st_size, current.st_mtime_ns, current.st_ino)
        planned = outbox_path / _free_name(outbox, quarantined.name)
        store.reset_for_retry(row_id, planned, time.time(), file_version=version)
        target = outbox_path / move_without_clobber(failed, quarantined.name, outbox, planned.name)
        if target != planned:
            store.reset_for_retry(row_id, target, time.time(), file_version=version)
        with contextlib.suppress(OSError):
            remove_entry(failed, quarantined.name + ERROR_SUFFIX)
    return target


def retry_failed(
    config: Config, row_ids: Iterable[int], *, all_failed: bool
) -> tuple[list[str], list[str]]:
    """Retry the failed rows ``row_ids`` (or every failed row).

    Returns one line per row moved back, and one line per row that could not be (unknown id,
    not failed, dismissed: file no longer in ``failed/``). ``all_failed`` skips dismissed
    rows. Raises StateError when the state cannot be opened or written.
    """
    lines: list[str] = []
    problems: list[str] = []
    routes = {route.name: route for route in config.routes}
    with StateStore.open(config.state.database, exclusive=False) as store:
        if all_failed:
            # A page row has no file of its own: retrying its document sends every page.
            failed = [
                row for row in store.outbound_in_states((OutboundState.FAILED,)) if not row.is_page
            ]
            gone = dismissed_ids(config, failed)
            rows = [row for row in failed if row.id not in gone]
        else:
            rows = []
            for row_id in row_ids:
                try:
                    rows.append(store.get_outbound(row_id))
                except UnknownRowError:
                    problems.append(f"#{row_id}: no such row")
        files_by_route = {name: quarantined_files(route) for name, route in routes.items()}
        for row in rows:
            route = routes.get(row.route)
            if row.state != OutboundState.FAILED or route is None:
                problems.append(
                    f"#{row.id} {row.source_name}: not failed ({row.state}), left alone"
                )
                continue
            quarantined = files_by_route[row.route].get(row.id)
            if quarantined is None or not os.path.lexists(quarantined):
                problems.append(
                    f"#{row.id} {row.source_name}: {DISMISSED}: its file was removed from "
                    f"{route.failed_dir}"
                )
                continue
            target = _return_to_outbox(store, row.id, quarantined, route.outbox)
            lines.append(f"#{row.id} {row.source_name}: back in {route.outbox} as {target.name}")
    return lines, problems
