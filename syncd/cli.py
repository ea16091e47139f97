"""The command line: ``main(argv) -> int``.

This is the only module that prints for humans and picks exit codes (sysexits.h):
0 success, 64 usage, 69 LivePerson unavailable, 75 another instance holds the state,
78 bad configuration (``RestartPreventExitStatus=78`` in the unit keeps systemd from
restarting a daemon that cannot work until a person fixes its config).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from syncd import __version__
from syncd.config import Config, config_file_permission_warning, load_config
from syncd.errors import AlreadyRunningError, ConfigError, StateError, SyncdError
from syncd.logs import configure_logging

if TYPE_CHECKING:
    from syncd.daemon import Daemon

EX_OK = 0
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
EX_CONFIG = 78

log = logging.getLogger("syncd.cli")

SUBCOMMAND_HELP = {
    "run": "run the daemon in the foreground until SIGTERM or SIGINT",
    "check": "validate the config, the folders and the state database",
    "status": "show each route's queue, conversation and last results",
    "retry": "move failed files back into the pipeline",
    "enable-file-sharing": "turn on messaging.file.sharing.enabled for the account",
    "emulator": "run the bundled LivePerson emulator",
    "demo": "run the emulator and the daemon on sample scans, end to end",
}


def _add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        metavar="PATH",
        help="the TOML configuration file (see config.example.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand (tests read it to check the docs)."""
    from syncd.commands import add_subcommand_arguments

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
        if name not in ("emulator", "demo"):
            _add_config_argument(sub)
        add_subcommand_arguments(name, sub)
    return parser


def load_config_or_report(path: Path) -> Config | None:
    """Load the config; on problems print every one of them and return None."""
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"syncd: configuration {path} has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    warning = config_file_permission_warning(path)
    if warning is not None:
        print(f"syncd: warning: {warning}", file=sys.stderr)
    return config


def cmd_run(args: argparse.Namespace) -> int:
    """``syncd run``: the daemon in the foreground."""
    stop_requested = threading.Event()
    daemon_holder: list[Daemon] = []

    def stop(signal_number: int, _frame: FrameType | None) -> None:
        # Only set flags: a signal handler must not do work the main loop is in the middle of.
        stop_requested.set()
        for daemon in daemon_holder:
            daemon.request_stop()

    # Installed before the slow imports and the start-up, so an early SIGTERM is graceful.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    config = load_config_or_report(args.config)
    if config is None:
        return EX_CONFIG
    configure_logging(config.daemon.log_level)
    from syncd.daemon import Daemon

    daemon = Daemon(config)
    daemon_holder.append(daemon)
    if stop_requested.is_set():
        return EX_OK
    try:
        daemon.start()
    except AlreadyRunningError as error:
        print(f"syncd: {error}", file=sys.stderr)
        return EX_TEMPFAIL
    except (StateError, OSError) as error:
        print(f"syncd: cannot start: {error}", file=sys.stderr)
        daemon.shutdown()
        return EX_CONFIG
    if stop_requested.is_set():
        daemon.request_stop()
    daemon.run_until_stopped()
    return EX_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code."""
    from syncd.commands import run_subcommand

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    try:
        return run_subcommand(args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"syncd: {problem}", file=sys.stderr)
        return EX_CONFIG
    except SyncdError as error:
        print(f"syncd: {error}", file=sys.stderr)
        return EX_UNAVAILABLE
    except KeyboardInterrupt:
        return EX_OK
