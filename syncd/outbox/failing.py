"""A claimed file that will never be sent: its original moved to the route's ``failed/``
folder with a report, its row marked failed, its prepared upload removed.

Used by every step that gives up on a file (preparing, uploading, publishing, documents);
``work_entry_name`` and ``discard_upload`` also serve the archive of a sent file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from syncd.config import RouteConfig
from syncd.crashpoints import crash_point
from syncd.folders import remove_entry
from syncd.folders.route import RouteFolders
from syncd.liveperson.error_kinds import kind_of
from syncd.outbox.quarantine import quarantine
from syncd.outbox.uploads import upload_name_of
from syncd.rules.error_kinds import ErrorKind, log_kind
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore

# The preparer's logger (these lines were its own before this module was split from it);
# the archive's one line, about an upload it could not remove, comes here too.
log = logging.getLogger("syncd.preparer")


def work_entry_name(route: RouteConfig, row: OutboundRow) -> str | None:
    """The name of ``row``'s claimed file in the work folder, or None when the recorded
    ``work_path`` does not lie directly inside it (then syncd must not touch that path)."""
    if row.work_path is None:
        return None
    path = Path(row.work_path)
    if path.parent != route.work_dir or path.name in ("", ".", ".."):
        return None
    return path.name


def fail_row(
    store: StateStore,
    route: RouteConfig,
    folders: RouteFolders,
    row: OutboundRow,
    reason: str,
    now: float,
    *,
    kind: ErrorKind,
) -> None:
    """Quarantine a claimed row's original into ``failed/`` and mark the row failed.

    ``kind`` (the file itself, or LivePerson refusing it) goes into the route's last error.

    When the move is refused, the original stays in the work folder and the row's reason
    says so; the route goes on either way.
    """
    name = work_entry_name(route, row)
    if name is not None:
        try:
            quarantine(
                folders.work,
                name,
                folders.failed,
                route=route.name,
                original_name=row.source_name,
                reason=reason,
                attempts=row.attempts + 1,
                now=now,
                row_id=row.id,
                kind=kind,
            )
        except FileNotFoundError:
            pass
        except OSError as error:
            reason = f"{reason}; it could not be moved to failed/ ({error.strerror or error})"
            store.note_error(route.name, f"{row.source_name}: {reason}", now, kind=kind_of(error))
    store.mark_failed(row.id, reason, now)
    crash_point("failed")
    discard_upload(route, folders, row)


def discard_upload(route: RouteConfig, folders: RouteFolders, row: OutboundRow) -> None:
    """Remove ``row``'s prepared upload from the work folder once it is not needed (the row
    was sent or failed). A refusal is logged with its kind, not raised: the file only takes
    space, and the operator is told."""
    try:
        remove_entry(folders.work, upload_name_of(row))
    except OSError as error:
        log.warning(
            "route=%s: cannot remove the upload of #%d: %s",
            route.name,
            row.id,
            error,
            extra=log_kind(kind_of(error)),
        )
