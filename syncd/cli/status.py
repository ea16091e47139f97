"""``syncd status``: each route's connection (and outage), queue, conversation and last results.

Reads the state database without taking the daemon's lock, so it works while the daemon runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from typing import Any

from syncd.cli.common import EX_OK, EX_UNAVAILABLE, say, say_json
from syncd.config import Config
from syncd.errors import SyncdError
from syncd.rules import count_files, format_duration
from syncd.state.model import DISMISSED, InboundState, OutboundState
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
    from syncd.outbox.retry import dismissed_ids
    from syncd.service.status import waiting_files

    now = time.time()
    summaries = []
    with StateStore.open(config.state.database, exclusive=False) as store:
        failed = store.outbound_in_states((OutboundState.FAILED,))
        dismissed = dismissed_ids(config, failed)
        for route in config.routes:
            summary = store.route_summary(route.name)
            outbound = dict(summary.outbound_counts)
            # A failed file the operator removed from failed/ is dismissed, not failed.
            gone = sum(1 for row in failed if row.route == route.name and row.id in dismissed)
            outbound[OutboundState.FAILED] = outbound.get(OutboundState.FAILED, 0) - gone
            outbound[DISMISSED] = gone
            oldest = summary.oldest_pending_created_at
            connection = store.connection_of(route.name)
            outage = None
            if running is not False and connection.state == OFFLINE:
                # The daemon records "offline" once, when the outage starts.
                outage = {
                    "since": connection.changed_at,
                    "files_waiting": waiting_files(store, route.name),
                }
            identity = store.get_identity(route.name)
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
                    "outbound": outbound,
                    "inbound": dict(summary.inbound_counts),
                    "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1),
                    "last_success_at": summary.last_success_at,
                    "last_error": summary.last_error,
                    "last_error_at": summary.last_error_at,
                    "problems": [
                        {
                            "id": row.id,
                            "file": row.source_name,
                            "state": DISMISSED if row.id in dismissed else str(row.state),
                            "reason": row.last_error,
                        }
                        for row in store.recent_problems(route.name, PROBLEMS_SHOWN)
                    ],
                    "identity": None
                    if identity is None
                    else {
                        "flow": identity.flow,
                        "consumer_id": identity.consumer_id,
                        "refresh_deadline": identity.refresh_deadline,
                        "replaced_reason": identity.replaced_reason,
                        "replaced_at": identity.replaced_at,
                    },
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
    try:
        summaries = _summaries(config, running)
    except SyncdError as unreadable:
        if not args.json:
            raise
        # Scripts parse stdout: even "no state yet" comes as JSON (and the same exit code).
        failure: dict[str, Any] = {
            "daemon_running": running,
            "error": str(unreadable),
            "routes": [],
        }
        say_json(failure)
        return EX_UNAVAILABLE
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
        say(f"  identity: {_identity_text(summary['identity'], config)}")
        identity = summary["identity"]
        if identity is not None and identity["replaced_reason"] is not None:
            say(
                f"  new consumer since {_when(identity['replaced_at'])}: "
                f"{identity['replaced_reason']}"
            )
        say(f"  conversation: {summary['conversation'] or '-'}")
        say(f"  outbound: {_counts_text(summary['outbound'], [*OutboundState, DISMISSED])}")
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


def _identity_text(identity: dict[str, Any] | None, config: Config) -> str:
    """``authenticated, consumer 4f1…`` or, before the first token, the configured flow."""
    if identity is None:
        return f"{config.liveperson.identity}, no consumer yet"
    text = f"{identity['flow']}, consumer {identity['consumer_id']}"
    if identity["flow"] != config.liveperson.identity:
        text += f" (configured: {config.liveperson.identity}; replaced at the next connect)"
    return text


def _counts_text(counts: dict[str, int], states: Iterable[str]) -> str:
    """``"claimed 2, done 40, failed 1"``: non-zero counts in pipeline order, or ``none``."""
    ordered = [f"{state} {counts[state]}" for state in states if counts.get(state)]
    return ", ".join(ordered) or "none"


def _lasted(since: float) -> str:
    return format_duration(time.time() - since)


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))
