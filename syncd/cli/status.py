"""``syncd status``: each route's connection (and outage), queue, conversation and last results.

Reads the state database without taking the daemon's lock, so it works while the daemon runs.
"""

from __future__ import annotations

import argparse
import time
from enum import StrEnum
from typing import Any

from syncd.cli.common import EX_OK, say, say_json
from syncd.config import Config
from syncd.rules import count_files, format_duration
from syncd.state.model import InboundState, OutboundState
from syncd.state.store import StateStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``."""
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


NOT_RUNNING = "daemon not running"
# The newest files with a reason (failed, or sent but not archived) shown per route.
PROBLEMS_SHOWN = 10
OFFLINE = "offline"  # the connection state of a route's link during an outage


def _summaries(config: Config, running: bool | None) -> list[dict[str, Any]]:
    """One dict per route; ``running`` is whether a daemon holds the state (None: unknown).

    The recorded connection state is only true while its daemon runs: after a stop (or a
    kill -9) it is replaced by ``daemon not running``.
    """
    from syncd.service.status import waiting_files

    now = time.time()
    summaries = []
    with StateStore.open(config.state.database, exclusive=False) as store:
        for route in config.routes:
            summary = store.route_summary(route.name)
            oldest = summary.oldest_pending_created_at
            connection = store.connection_of(route.name)
            outage = None
            if running is not False and connection.state == OFFLINE:
                # The daemon records "offline" once, when the outage starts.
                outage = {
                    "since": connection.changed_at,
                    "files_waiting": waiting_files(store, route.name),
                }
            refused = [
                {
                    "conversation": row.conversation_id,
                    "sequence": row.sequence,
                    "reason": row.last_error,
                    "at": row.updated_at,
                }
                for row in store.failed_inbound(route.name)
            ]
            summaries.append(
                {
                    "route": route.name,
                    "connection": (
                        NOT_RUNNING if running is False else connection.state or "unknown"
                    ),
                    "connection_since": None if running is False else connection.changed_at,
                    "outage": outage,
                    "conversation": summary.conversation_id,
                    "outbound": dict(summary.outbound_counts),
                    "inbound": dict(summary.inbound_counts),
                    "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1),
                    "last_success_at": summary.last_success_at,
                    "last_error": summary.last_error,
                    "last_error_at": summary.last_error_at,
                    "problems": [
                        {
                            "id": row.id,
                            "file": row.source_name,
                            "state": str(row.state),
                            "reason": row.last_error,
                        }
                        for row in store.recent_problems(route.name, PROBLEMS_SHOWN)
                    ],
                    "refused_from_agents": refused,
                }
            )
    return summaries


def run(config: Config, args: argparse.Namespace) -> int:
    """Print, per route connection, counts, conversation, oldest pending, last
    results, the newest files with a reason (failed, or sent but not archived) and the
    agent files refused lately, with their reasons; ``daemon not running`` instead of a
    connection when no daemon holds the state.
    """
    from syncd.service.status import daemon_running

    running = daemon_running(config.state.database)
    summaries = _summaries(config, running)
    if args.json:
        document = {"daemon_running": running, "routes": summaries}
        say_json(document)
        return EX_OK
    if running is None:
        say(f"daemon: unknown (cannot open the lock of {config.state.database})")
    else:
        say(f"daemon: {'running' if running else 'not running'}")
    for summary in summaries:
        say(f"route {summary['route']}")
        since = summary["connection_since"]
        connection = summary["connection"]
        say(f"  connection: {connection}{'' if since is None else f' since {_when(since)}'}")
        outage = summary["outage"]
        if outage is not None:
            lasted = "" if outage["since"] is None else f" ({_lasted(outage['since'])})"
            say(
                f"  outage: LivePerson unreachable since {_when(outage['since'])}{lasted}; "
                f"{count_files(outage['files_waiting'])} waiting"
            )
        say(f"  conversation: {summary['conversation'] or '-'}")
        say(f"  outbound: {_counts_text(summary['outbound'], OutboundState)}")
        say(f"  inbound: {_counts_text(summary['inbound'], InboundState)}")
        oldest = summary["oldest_pending_seconds"]
        say(f"  oldest pending: {'-' if oldest is None else f'{oldest:.0f} s'}")
        say(f"  last success: {_when(summary['last_success_at'])}")
        error = summary["last_error"]
        when = _when(summary["last_error_at"])
        say(f"  last error: {'-' if error is None else f'{error} ({when})'}")
        for problem in summary["problems"]:
            say(f"  #{problem['id']} {problem['file']} ({problem['state']}): {problem['reason']}")
        for refusal in summary["refused_from_agents"]:
            say(
                f"  refused from agent: conversation {refusal['conversation'][:8]} "
                f"sequence {refusal['sequence']} ({_when(refusal['at'])}): {refusal['reason']}"
            )
    return EX_OK


def _counts_text(counts: dict[str, int], states: type[StrEnum]) -> str:
    """``"claimed 2, done 40, failed 1"``: non-zero counts in pipeline order, or ``none``."""
    ordered = [f"{state} {counts[state]}" for state in states if counts.get(state)]
    return ", ".join(ordered) or "none"


def _lasted(since: float) -> str:
    return format_duration(time.time() - since)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
