"""Moving files that will never be sent into a route's ``failed/`` folder, with the reason.

An operator looking at ``failed/`` finds the original file, untouched, and beside it
``NAME.error.txt`` saying why it failed, when, and after how many attempts. Nothing is lost:
``syncd retry`` moves such a file back into the pipeline.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from syncd.folders import move_without_clobber, write_text_durably

log = logging.getLogger("syncd.quarantine")

ERROR_SUFFIX = ".error.txt"


def error_report(
    *, route: str, original_name: str, reason: str, attempts: int, now: float, row_id: int | None
) -> str:
    """Return the text of a ``.error.txt`` file (pure; ``now`` is unix seconds)."""
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"file: {original_name}",
        f"route: {route}",
        f"reason: {reason}",
        f"failed at: {when}",
        f"attempts: {attempts}",
    ]
    if row_id is not None:
        lines.append(f"state row: {row_id}")
    lines.append("to send it again: syncd retry --config CONFIG " + (str(row_id) if row_id else ""))
    return "\n".join(lines).rstrip() + "\n"


def quarantine(
    source: Path,
    failed_dir: Path,
    *,
    route: str,
    original_name: str,
    reason: str,
    attempts: int,
    now: float,
    row_id: int | None,
) -> Path:
    """Move ``source`` to ``failed_dir/original_name`` (numbered if taken) with its report.

    Returns the quarantined path. The move uses ``link``, which never opens or follows the
    entry, so symlinks and FIFOs are moved safely. Raises OSError when the move fails.
    """
    target = move_without_clobber(source, failed_dir, original_name)
    report = error_report(
        route=route,
        original_name=original_name,
        reason=reason,
        attempts=attempts,
        now=now,
        row_id=row_id,
    )
    write_text_durably(target.with_name(target.name + ERROR_SUFFIX), report)
    log.warning("route=%s file=%s: failed: %s", route, original_name, reason)
    return target
