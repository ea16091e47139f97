"""``syncd files``: what happened to each scanned file, one line (or JSON object) per file.

Lists the outbound files of the state database, oldest first: id, route, name, state,
conversation and sequence, bytes before and after preparing, when it was seen and finished,
and why it failed. A failed file the operator removed from ``failed/`` shows as
``dismissed``. Reads the state without taking the daemon's lock.
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime
from typing import Any

from syncd.cli.common import EX_OK, say, say_json
from syncd.config import Config
from syncd.errors import ConfigError
from syncd.state.model import DISMISSED, OutboundRow, OutboundState

STATE_CHOICES = (*(state.value for state in OutboundState), DISMISSED)
_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS_PER_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--route``, ``--state``, ``--since`` and ``--json``."""
    parser.add_argument("--route", metavar="NAME", help="only this route's files")
    parser.add_argument("--state", choices=STATE_CHOICES, help="only files in this state")
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only files seen since WHEN: a local date or time (2026-11-28, 2026-11-28T09:30) "
        "or a duration back from now (90m, 12h, 7d)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def since_timestamp(text: str, now: float) -> float:
    """The Unix time ``text`` (ISO local date/time, or ``N`` + s/m/h/d before ``now``) means.

    Raises ConfigError naming ``--since`` when ``text`` is neither.
    """
    duration = _DURATION.fullmatch(text.strip())
    if duration is not None:
        return now - int(duration.group(1)) * _SECONDS_PER_UNIT[duration.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ConfigError(
            [f"--since: {text!r} is neither a date/time (2026-11-28T09:30) nor a duration (12h)"]
        ) from None


def file_record(row: OutboundRow, state: str) -> dict[str, Any]:
    """The JSON object of one file (``state`` may be ``dismissed`` for a failed row)."""
    finished = row.done_at if row.done_at is not None else row.published_at
    return {
        "id": row.id,
        "route": row.route,
        "name": row.source_name,
        "state": state,
        "conversation": row.conversation_id,
        "sequence": row.sequence,
        "bytes_before": row.size_bytes,
        "bytes_after": row.upload_bytes,
        "seen_at": row.created_at,
        "finished_at": finished,
        "updated_at": row.updated_at,
        "attempts": row.attempts,
        "reason": row.last_error if state in (OutboundState.FAILED, DISMISSED) else None,
    }


def _when(timestamp: float | None) -> str:
    return (
        "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
    )


def _line(record: dict[str, Any]) -> str:
    after = "-" if record["bytes_after"] is None else f"{record['bytes_after']:,}"
    where = record["conversation"] or "-"
    if record["sequence"] is not None:
        where += f" #{record['sequence']}"
    line = (
        f"{record['id']:>6} {record['route']}/{record['name']}  {record['state']}  {where}  "
        f"{record['bytes_before']:,} → {after} bytes  seen {_when(record['seen_at'])}  "
        f"finished {_when(record['finished_at'])}"
    )
    if record["reason"]:
        line += f"  reason: {record['reason']}"
    return line


def run(config: Config, args: argparse.Namespace) -> int:
    """Print the files that match the filters; 0. Raises ConfigError for a bad ``--since``
    or an unknown ``--route``, StateError when the state cannot be read."""
    from syncd.outbox.retry import dismissed_ids
    from syncd.state.store import StateStore

    if args.route is not None and args.route not in {route.name for route in config.routes}:
        raise ConfigError([f"--route: no route named {args.route!r} in {config.source_path}"])
    since = None if args.since is None else since_timestamp(args.since, time.time())
    with StateStore.open(config.state.database, exclusive=False) as store:
        rows = store.outbound_in_states(tuple(OutboundState), route=args.route)
    dismissed = dismissed_ids(config, rows)
    records = [
        file_record(row, DISMISSED if row.id in dismissed else row.state.value)
        for row in rows
        if since is None or row.created_at >= since
    ]
    if args.state is not None:
        records = [record for record in records if record["state"] == args.state]
    if args.json:
        say_json(records)
        return EX_OK
    if not records:
        say("no files")
    for record in records:
        say(_line(record))
    return EX_OK
