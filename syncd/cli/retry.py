"""``syncd retry``: put failed files back into the outbox to be sent again."""

from __future__ import annotations

import argparse

from syncd.cli.common import EX_DATAERR, EX_OK, say
from syncd.config import Config
from syncd.errors import ConfigError


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


def run(config: Config, args: argparse.Namespace) -> int:
    """Retry the named rows (or every failed one); 65 when a named row could not be retried.

    Raises ConfigError when neither ids nor ``--all-failed`` were given.
    """
    from syncd.outbox.retry import retry_failed

    if not args.ids and not args.all_failed:
        raise ConfigError(["retry: name row ids or pass --all-failed"])
    moved, problems = retry_failed(config, args.ids, all_failed=args.all_failed)
    for line in moved:
        say(line)
    for line in problems:
        say(f"syncd: retry {line}", error=True)
    # A row named on the command line that was not retried is an error the caller must see;
    # with --all-failed, failed rows whose file was deleted from failed/ are only reported.
    return EX_DATAERR if problems and args.ids else EX_OK
