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
from syncd.folders import fsync_directory, link_without_clobber
from syncd.outbox.quarantine import ERROR_SUFFIX
from syncd.rules import candidate_names
from syncd.state.model import OutboundState, UnknownRowError
from syncd.state.store import StateStore


def quarantined_files(route: RouteConfig) -> dict[int, Path]:
    """Map row id → quarantined file for every report in ``route``'s failed folder."""
    found: dict[int, Path] = {}
    try:
        names = os.listdir(route.failed_dir)
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(ERROR_SUFFIX):
            continue
        report = route.failed_dir / name
        for line in report.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(": ")
            if key == "state row" and value.strip().isdigit():
                found[int(value)] = route.failed_dir / name[: -len(ERROR_SUFFIX)]
    return found


def _free_name(folder: Path, name: str) -> str:
    """The first of ``name``, ``name-2``, ``name-3``… with nothing at it in ``folder``."""
    for candidate in candidate_names(name):
        if not os.path.lexists(folder / candidate):
            return candidate
    raise OSError(errno.EEXIST, f"no free name for {name!r} in {folder}")


def _return_to_outbox(store: StateStore, row_id: int, quarantined: Path, outbox: Path) -> Path:
    """Reset row ``row_id`` to ``detected`` at a free outbox path, then link the file there.

    The row is reset *before* the file appears in the outbox (see ``state.outbound``): a
    running intake that meets the file finds this row by its path and version instead of
    journaling a second one. The link keeps inode, size and mtime, so the version recorded
    from the quarantined file is the outbox file's. If another file took the chosen name in
    between, the row is pointed at the name the file really got. Raises OSError, StateError.
    """
    outbox.mkdir(parents=True, exist_ok=True)
    # The operator may have replaced the file in failed/ (a rescan): the row must describe
    # the file as it is now, or the intake would journal it as a new row.
    current = os.lstat(quarantined)
    version = (current.st_size, current.st_mtime_ns, current.st_ino)
    planned = outbox / _free_name(outbox, quarantined.name)
    store.reset_for_retry(row_id, planned, time.time(), file_version=version)
    target = link_without_clobber(quarantined, outbox, planned.name)
    if target != planned:
        store.reset_for_retry(row_id, target, time.time(), file_version=version)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(quarantined)
    fsync_directory(outbox)
    fsync_directory(quarantined.parent)
    return target


def retry_failed(
    config: Config, row_ids: Iterable[int], *, all_failed: bool
) -> tuple[list[str], list[str]]:
    """Retry the failed rows ``row_ids`` (or every failed row).

    Returns one line per row moved back, and one line per row that could not be (unknown id,
    not failed, file no longer in ``failed/``). Raises StateError when the state cannot be
    opened or written.
    """
    lines: list[str] = []
    problems: list[str] = []
    routes = {route.name: route for route in config.routes}
    with StateStore.open(config.state.database, exclusive=False) as store:
        if all_failed:
            # A page row has no file of its own: retrying its document sends every page.
            rows = [
                row for row in store.outbound_in_states((OutboundState.FAILED,)) if not row.is_page
            ]
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
                    f"#{row.id} {row.source_name}: file not found in {route.failed_dir}"
                )
                continue
            target = _return_to_outbox(store, row.id, quarantined, route.outbox)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(quarantined.with_name(quarantined.name + ERROR_SUFFIX))
            lines.append(f"#{row.id} {row.source_name}: back in {route.outbox} as {target.name}")
    return lines, problems
