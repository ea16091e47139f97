"""What every subcommand shares: exit codes (sysexits.h) and loading the config for humans.

0 success, 64 usage, 65 bad data named on the command line, 69 LivePerson unavailable, 70 an
internal error, 75 another instance holds the state, 77 permission refused by LivePerson,
78 bad configuration (``RestartPreventExitStatus=78`` in the unit keeps systemd from
restarting a daemon that cannot work until a person fixes its config).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from syncd.config import Config, config_file_permission_warning, identity_warnings, load_config
from syncd.errors import ConfigError

EX_OK = 0
EX_USAGE = 64
# The data named on the command line (a row id) is not what it must be.
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_TEMPFAIL = 75
# Permission denied (LivePerson refused the admin login).
EX_NOPERM = 77
EX_CONFIG = 78


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--config PATH`` option every config-based subcommand takes."""
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        metavar="PATH",
        help="the TOML configuration file (see config.example.toml)",
    )


def load_config_or_report(path: Path) -> Config | None:
    """Load the config; on problems print every one of them and return None."""
    try:
        config = load_config(path)
    except ConfigError as error:
        print(f"syncd: configuration {path} has {len(error.problems)} problem(s):", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    warnings = [config_file_permission_warning(path)]
    warnings += identity_warnings(config.liveperson.identity, config.liveperson.domain_api)
    for warning in warnings:
        if warning is not None:
            print(f"syncd: warning: {warning}", file=sys.stderr)
    return config
