"""The command line: ``main(argv) -> int``.

This package is the only place that prints for humans and picks exit codes (``common``).
Each subcommand has a module with ``add_arguments(parser)`` and ``run(...)``: ``run``,
``check`` (and ``online_check`` for ``--online``), ``status``, ``files``, ``retry`` and
``enable_file_sharing``; the emulator's and the demo's live with them
(``syncd.emulator.command``, ``syncd.demo.runner``). Subcommand modules are imported only
when chosen, so ``syncd status`` does not pay for the daemon's or the emulator's imports.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from syncd import __version__
from syncd.cli.common import (
    EX_CONFIG,
    EX_OK,
    EX_UNAVAILABLE,
    add_config_argument,
    load_config_or_report,
    say,
)
from syncd.errors import ConfigError, SyncdError

SUBCOMMAND_HELP = {
    "run": "run the daemon in the foreground until SIGTERM or SIGINT",
    "check": "validate the config, the folders and the state database",
    "status": "show each route's queue, conversation and last results",
    "files": "list the scanned files: state, conversation, sizes, times, reasons",
    "retry": "move failed files back into the pipeline",
    "enable-file-sharing": "turn on messaging.file.sharing.enabled for the account",
    "emulator": "run the bundled LivePerson emulator",
    "demo": "run the emulator and the daemon on sample scans, end to end",
}

# The module of each subcommand; each has add_arguments(parser) and run(...).
_MODULES = {
    "check": "syncd.cli.check",
    "status": "syncd.cli.status",
    "files": "syncd.cli.files",
    "retry": "syncd.cli.retry",
    "enable-file-sharing": "syncd.cli.enable_file_sharing",
    "emulator": "syncd.emulator.command",
    "demo": "syncd.demo.runner",
}

# Subcommands that take no config file.
_WITHOUT_CONFIG = ("emulator", "demo")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand (tests read it to check the docs)."""
    parser = argparse.ArgumentParser(
        prog="syncd",
        description=(
            "Share scanned images from outbox folders into LivePerson conversations, "
            "and collect the files agents send back into inbox folders."
        ),
    )
    parser.add_argument("--version", action="version", version=f"syncd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in SUBCOMMAND_HELP.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name not in _WITHOUT_CONFIG:
            add_config_argument(sub)
        if name in _MODULES:
            importlib.import_module(_MODULES[name]).add_arguments(sub)
    return parser


def _run_subcommand(args: argparse.Namespace) -> int:
    """Dispatch to the subcommand named by ``args.command``; returns its exit code."""
    module = importlib.import_module(_MODULES[args.command])
    if args.command in _WITHOUT_CONFIG:
        return int(module.run(args))
    config = load_config_or_report(args.config)
    if config is None:
        return EX_CONFIG
    from syncd.service.logs import configure_logging

    # Only warnings and errors: the command's own output is on stdout, and whatever a library
    # logs goes through the same one-line, redacting handler as the daemon's (a login error
    # must not print the password or a token).
    configure_logging("warning")
    return int(module.run(config, args))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code.

    Output into a pipe whose reader has gone (``syncd status | head``) ends the command
    quietly with exit 0, as for any Unix filter, instead of a BrokenPipeError traceback.
    """
    try:
        return _main(argv)
    except BrokenPipeError:
        # Python flushes stdout once more at exit; point it at /dev/null so that flush
        # cannot fail (and print) again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EX_OK


def _main(argv: Sequence[str] | None) -> int:
    """``main`` without the closed-pipe handling."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from syncd.cli.run import cmd_run

        return cmd_run(args)
    try:
        return _run_subcommand(args)
    except ConfigError as error:
        for problem in error.problems:
            say(f"syncd: {problem}", error=True)
        return EX_CONFIG
    except SyncdError as error:
        say(f"syncd: {error}", error=True)
        return EX_UNAVAILABLE
    except KeyboardInterrupt:
        return EX_OK
