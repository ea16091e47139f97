"""The subcommands other than ``run``: their options and what they do.

Each ``cmd_*`` takes the parsed arguments and returns an exit code; printing for humans
happens here and in ``cli.py`` only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from enum import StrEnum
from typing import Any

from syncd.cli import EX_CONFIG, EX_OK, EX_UNAVAILABLE, load_config_or_report
from syncd.config import Config
from syncd.errors import AuthenticationError, ConfigError, StateError
from syncd.logs import configure_logging
from syncd.state import StateStore
from syncd.state_model import DatabaseMissingError, InboundState, OutboundState

# sysexits.h: the data named on the command line (a row id) is not what it must be.
EX_DATAERR = 65
# sysexits.h: permission denied (LivePerson refused the admin login).
EX_NOPERM = 77


def add_subcommand_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """Add the options of subcommand ``name`` (``--config`` is added by cli.py)."""
    if name == "emulator":
        from syncd.emulator.command import add_arguments

        add_arguments(parser)
    elif name == "demo":
        from syncd.demo import add_arguments as add_demo_arguments

        add_demo_arguments(parser)
    elif name == "check":
        parser.add_argument(
            "--online",
            action="store_true",
            help=(
                "also resolve LivePerson's domains, sign up a throwaway consumer and open the "
                "consumer WebSocket (exit 69 when LivePerson is unreachable, 78 when its TLS "
                "certificate does not verify)"
            ),
        )
    elif name == "status":
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    elif name == "retry":
        parser.add_argument(
            "ids",
            nargs="*",
            type=int,
            metavar="ID",
            help="state row ids to retry (exit 65 when one cannot be)",
        )
        parser.add_argument(
            "--all-failed", action="store_true", help="retry every failed file of every route"
        )
    elif name == "enable-file-sharing":
        parser.add_argument("--username", required=True, help="LivePerson admin login name")


def run_subcommand(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand named by ``args.command``; returns its exit code."""
    if args.command == "emulator":
        from syncd.emulator.command import run as run_emulator

        return run_emulator(args)
    if args.command == "demo":
        from syncd.demo import run as run_demo

        return run_demo(args)
    config = load_config_or_report(args.config)
    if config is None:
        return EX_CONFIG
    # Only warnings and errors: the command's own output is on stdout, and whatever a library
    # logs goes through the same one-line, redacting handler as the daemon's (a login error
    # must not print the password or a token).
    configure_logging("warning")
    handlers = {
        "check": cmd_check,
        "status": cmd_status,
        "retry": cmd_retry,
        "enable-file-sharing": cmd_enable_file_sharing,
    }
    return handlers[args.command](config, args)


def folder_problems(config: Config) -> list[str]:
    """Check that every route's folders exist (or can be made) and are writable."""
    problems = []
    for index, route in enumerate(config.routes):
        for key, folder in (("outbox", route.outbox), ("inbox", route.inbox)):
            path = folder
            while not path.exists() and path != path.parent:
                path = path.parent
            if not path.is_dir():
                what = "is not a folder" if path == folder else f"cannot be made: {path} is a file"
                problems.append(f"route[{index}].{key}: {folder} {what}")
            elif not os.access(path, os.W_OK | os.X_OK):
                problems.append(f"route[{index}].{key}: {folder} is not writable by this user")
    return problems


def cmd_check(config: Config, args: argparse.Namespace) -> int:
    """``syncd check``: the same config code path as ``run``, plus folders and state."""
    problems = folder_problems(config)
    try:
        StateStore.open(config.state.database, exclusive=False).close()
    except DatabaseMissingError:
        pass  # a fresh install: `syncd run` creates it
    except StateError as error:
        problems.append(f"state.database: {error}")
    if problems:
        for problem in problems:
            print(f"syncd: {problem}", file=sys.stderr)
        return EX_CONFIG
    print(f"configuration {config.source_path} is valid: {len(config.routes)} route(s)")
    if args.online:
        return _check_online(config)
    return EX_OK


def _check_online(config: Config) -> int:
    """Run the online steps; 0 when all worked, 78 when the fix is in the config (TLS
    trust, a refused token), 69 when LivePerson cannot be reached or answers wrongly."""
    from syncd.online_check import OnlineCheckError, check_online

    try:
        check_online(config, print)
    except OnlineCheckError as error:
        if error.is_config:
            print(f"syncd: LivePerson refused the configuration: {error}", file=sys.stderr)
            return EX_CONFIG
        print(f"syncd: LivePerson is not reachable: {error}", file=sys.stderr)
        return EX_UNAVAILABLE
    return EX_OK


NOT_RUNNING = "daemon not running"


def _summaries(config: Config, running: bool | None) -> list[dict[str, Any]]:
    """One dict per route; ``running`` is whether a daemon holds the state (None: unknown).

    The recorded connection state is only true while its daemon runs: after a stop (or a
    kill -9) it is replaced by ``daemon not running``.
    """
    now = time.time()
    summaries = []
    with StateStore.open(config.state.database, exclusive=False) as store:
        for route in config.routes:
            summary = store.route_summary(route.name)
            oldest = summary.oldest_pending_created_at
            connection = store.connection_of(route.name)
            summaries.append(
                {
                    "route": route.name,
                    "connection": (
                        NOT_RUNNING if running is False else connection.state or "unknown"
                    ),
                    "connection_since": None if running is False else connection.changed_at,
                    "conversation": summary.conversation_id,
                    "outbound": dict(summary.outbound_counts),
                    "inbound": dict(summary.inbound_counts),
                    "oldest_pending_seconds": None if oldest is None else round(now - oldest, 1),
                    "last_success_at": summary.last_success_at,
                    "last_error": summary.last_error,
                    "last_error_at": summary.last_error_at,
                }
            )
    return summaries


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    """``syncd status``: per route connection, counts, conversation, oldest pending, last
    results; ``daemon not running`` instead of a connection when no daemon holds the state.
    """
    from syncd.status import daemon_running

    running = daemon_running(config.state.database)
    summaries = _summaries(config, running)
    if args.json:
        document = {"daemon_running": running, "routes": summaries}
        print(json.dumps(document, indent=2, sort_keys=True))
        return EX_OK
    if running is None:
        print(f"daemon: unknown (cannot open the lock of {config.state.database})")
    else:
        print(f"daemon: {'running' if running else 'not running'}")
    for summary in summaries:
        print(f"route {summary['route']}")
        since = summary["connection_since"]
        connection = summary["connection"]
        print(f"  connection: {connection}{'' if since is None else f' since {_when(since)}'}")
        print(f"  conversation: {summary['conversation'] or '-'}")
        print(f"  outbound: {_counts_text(summary['outbound'], OutboundState)}")
        print(f"  inbound: {_counts_text(summary['inbound'], InboundState)}")
        oldest = summary["oldest_pending_seconds"]
        print(f"  oldest pending: {'-' if oldest is None else f'{oldest:.0f} s'}")
        print(f"  last success: {_when(summary['last_success_at'])}")
        error = summary["last_error"]
        when = _when(summary["last_error_at"])
        print(f"  last error: {'-' if error is None else f'{error} ({when})'}")
    return EX_OK


def _counts_text(counts: dict[str, int], states: type[StrEnum]) -> str:
    """``"claimed 2, done 40, failed 1"``: non-zero counts in pipeline order, or ``none``."""
    ordered = [f"{state} {counts[state]}" for state in states if counts.get(state)]
    return ", ".join(ordered) or "none"


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def cmd_retry(config: Config, args: argparse.Namespace) -> int:
    """``syncd retry``: put failed files back into the outbox to be sent again."""
    from syncd.retry import retry_failed

    if not args.ids and not args.all_failed:
        raise ConfigError(["retry: name row ids or pass --all-failed"])
    moved, problems = retry_failed(config, args.ids, all_failed=args.all_failed)
    for line in moved:
        print(line)
    for line in problems:
        print(f"syncd: retry {line}", file=sys.stderr)
    # A row named on the command line that was not retried is an error the caller must see;
    # with --all-failed, failed rows whose file was deleted from failed/ are only reported.
    return EX_DATAERR if problems and args.ids else EX_OK


def cmd_enable_file_sharing(config: Config, args: argparse.Namespace) -> int:
    """``syncd enable-file-sharing``: log in as an admin and turn the site setting on."""
    from syncd.admin_command import enable_file_sharing

    try:
        return enable_file_sharing(config, args.username)
    except AuthenticationError as error:
        # A wrong password is for a person to fix, not a LivePerson outage (69).
        print(f"syncd: {error}", file=sys.stderr)
        return EX_NOPERM
