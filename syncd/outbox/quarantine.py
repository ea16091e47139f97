"""Moving files that will never be sent into a route's ``failed/`` folder, with the reason.

An operator looking at ``failed/`` finds the original file, untouched, and beside it
``NAME.error.txt`` saying why it failed, when, and after how many attempts. Nothing is lost:
``syncd retry`` moves such a file back into the pipeline.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from syncd.folders import TEMP_PREFIX, move_without_clobber, remove_entry, write_file
from syncd.folders.handles import Folder, entry_exists
from syncd.liveperson.error_kinds import kind_of
from syncd.rules import candidate_names, printable_name
from syncd.rules.error_kinds import ErrorKind, log_kind

log = logging.getLogger("syncd.quarantine")

ERROR_SUFFIX = ".error.txt"


def error_report(
    *, route: str, original_name: str, reason: str, attempts: int, now: float, row_id: int | None
) -> str:
    """Return the text of a ``.error.txt`` file (pure; ``now`` is unix seconds)."""
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"file: {printable_name(original_name)}",
        f"route: {route}",
        f"reason: {reason}",
        f"failed at: {when}",
        f"attempts: {attempts}",
    ]
    if row_id is not None:
        lines.append(f"state row: {row_id}")
    lines.append("to send it again: syncd retry --config CONFIG " + (str(row_id) if row_id else ""))
    return "\n".join(lines).rstrip() + "\n"


def complete_interrupted_quarantine(
    failed: Folder, *, route: str, original_name: str, reason: str, attempts: int, now: float
) -> str | None:
    """Finish what a kill left half done in ``failed/``: the report of a moved original
    that has none (the first of its name or numbered variants without one), and the temp
    files of reports being written then.

    Returns the original's name in ``failed``, or None when every copy has its report.
    Raises OSError when ``failed/`` cannot be read.
    """
    for entry in os.listdir(failed.fd):
        if entry.startswith(f"{TEMP_PREFIX}write-") and entry.endswith(".tmp"):
            try:
                remove_entry(failed, entry)
            except OSError as error:  # a planted folder there is left alone
                log.warning(
                    "route=%s: cannot remove %s from failed/: %s",
                    route,
                    entry,
                    error,
                    extra=log_kind(kind_of(error)),
                )
    for name in candidate_names(printable_name(original_name)):
        if not entry_exists(failed.fd, name):
            return None
        if not entry_exists(failed.fd, name + ERROR_SUFFIX):
            report = error_report(
                route=route,
                original_name=original_name,
                reason=reason,
                attempts=attempts,
                now=now,
                row_id=None,
            )
            write_file(failed, name + ERROR_SUFFIX, report.encode(), mode=0o660)
            return name
    return None


def quarantine(
    source: Folder,
    name: str,
    failed: Folder,
    *,
    route: str,
    original_name: str,
    reason: str,
    attempts: int,
    now: float,
    row_id: int | None,
    kind: ErrorKind,
) -> str:
    """Move entry ``name`` of ``source`` to ``failed/original_name`` (shortened to fit,
    numbered if taken; an undecodable name is written out as ``\\xNN`` text) with its report.

    Returns the name it got in ``failed``. The move is a rename, which never opens or
    follows the entry, so symlinks and FIFOs are moved safely. Raises OSError when the move
    fails. A report that cannot be written is logged; the row keeps the reason anyway.
    ``kind`` is what the failure was about (the file itself, or LivePerson refusing it),
    carried by the warning into the route's last error.
    """
    target = move_without_clobber(source, name, failed, printable_name(original_name))
    report = error_report(
        route=route,
        original_name=original_name,
        reason=reason,
        attempts=attempts,
        now=now,
        row_id=row_id,
    )
    try:
        write_file(failed, target + ERROR_SUFFIX, report.encode(), mode=0o660)
    except OSError as error:
        # Something sits at the report's name (a planted folder): the file is safe in
        # failed/ and the reason is on its row, which is what `syncd status` shows.
        log.error(
            "route=%s file=%s: cannot write its report: %s",
            route,
            target,
            error,
            extra=log_kind(kind_of(error)),
        )
    log.warning(
        "route=%s file=%s: failed: %s",
        route,
        printable_name(original_name),
        reason,
        extra=log_kind(kind),
    )
    return target
