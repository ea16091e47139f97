"""The intake's vocabulary: a candidate file, the work names it gets, the limits of a step.

Shared by ``intake`` (settling and claiming) and ``intake_faults`` (what happens to an entry
that cannot be claimed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from syncd import rules

# Larger than any scan a LivePerson upload could come from; refuses runaway files early.
MAX_SOURCE_BYTES = 512 * 1024 * 1024
# Files claimed in one step (two commits for all): bounds how long one step holds the main
# loop, which also sends the watchdog pings, when a scanner drops hundreds of pages at once.
MAX_CLAIMS_PER_STEP = 64
# Tries to claim an entry the file system refuses to move (permissions, a name the
# work folder cannot hold) before it is given up on: quarantined, or left with a reason.
MAX_CLAIM_ATTEMPTS = 3
CLAIM_RETRY_SECONDS = 5.0


def work_name(row_id: int, original_name: str) -> str:
    """Name of a claimed file in the work folder: unique by row id, readable by name,
    shortened so the prefix never pushes a long scanner name over the 255-byte limit."""
    return f"{row_id:08d}__{rules.fitting_name(original_name)}"


def row_id_from_work_name(name: str) -> int | None:
    """Inverse of ``work_name``; None for names syncd did not make."""
    prefix, separator, _ = name.partition("__")
    if not separator or not prefix.isdigit():
        return None
    return int(prefix)


@dataclass
class Candidate:
    """A file seen in the outbox and not yet claimed or failed."""

    path: Path
    first_seen_at: float
    stable: rules.SettleObservation | None = None
    close_write_seen: bool = False
    incomplete_checks: int = 0
    not_before: float = 0.0
    claim_failures: int = 0
