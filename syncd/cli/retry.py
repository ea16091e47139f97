"""``syncd retry``: put failed files back into the outbox to be sent again, or list them."""

from __future__ import annotations

import argparse

from syncd.cli.common import EX_DATAERR, EX_OK, say
from syncd.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the row ids and ``--all-failed``."""
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


def list_failed(config: Config) -> int:
    """Print the failed files that can be retried, one per line with id, route and reason."""
    from syncd.outbox.retry import dismissed_ids
    from syncd.state.model import OutboundState
    from syncd.state.store import StateStore

    with StateStore.open(config.state.database, exclusive=False) as store:
        failed = store.outbound_in_states((OutboundState.FAILED,))
    gone = dismissed_ids(config, failed)
    waiting = [row for row in failed if row.id not in gone]
    if not waiting:
        say("no failed files to retry")
        return EX_OK
    say("failed files (retry them with: syncd retry --config CONFIG ID ... | --all-failed):")
    for row in waiting:
        say(f"  #{row.id} {row.route}/{row.source_name}: {row.last_error or '-'}")
    return EX_OK


def run(config: Config, args: argparse.Namespace) -> int:
    """Retry the named rows (or every failed one); 65 when a named row could not be retried.

    With neither ids nor ``--all-failed``, lists the failed files that can be retried.
    """
    from syncd.outbox.retry import retry_failed

    if not args.ids and not args.all_failed:
        return list_failed(config)
    moved, problems = retry_failed(config, args.ids, all_failed=args.all_failed)
    for line in moved:
        say(line)
    for line in problems:
        say(f"syncd: retry {line}", error=True)
    # A row named on the command line that was not retried is an error the caller must see;
    # with --all-failed, failed rows whose file was deleted from failed/ are only reported.
    return EX_DATAERR if problems and args.ids else EX_OK
