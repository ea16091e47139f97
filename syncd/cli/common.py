"""What every subcommand shares: exit codes (sysexits.h) and loading the config for humans.

0 success, 64 usage, 65 bad data named on the command line, 69 LivePerson unavailable, 70 an
internal error, 75 another instance holds the state, 77 permission refused by LivePerson,
78 bad configuration (``RestartPreventExitStatus=78`` in the unit keeps systemd from
restarting a daemon that cannot work until a person fixes its config).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from syncd.config import Config, config_file_permission_warning, identity_warnings, load_config
from syncd.errors import ConfigError
from syncd.rules.text import printable

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


def say(line: str, *, error: bool = False) -> None:
    """Print ``line`` for a person, on stdout (stderr with ``error``).

    The line may hold names a scanner or LivePerson chose (files, conversations, errors), so
    line breaks, terminal controls and bidi overrides in it are shown as escapes
    (``syncd.rules.text``): one call is one line, and nothing in it can steer the terminal.
    """
    print(printable(line), file=sys.stderr if error else sys.stdout)


def say_json(document: object) -> None:
    """Print ``document`` as indented JSON for scripts; non-ASCII is \\u-escaped, so no
    control character reaches the terminal raw."""
    print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True))


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Add the ``--config PATH`` option every config-based subcommand takes."""
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        metavar="PATH",
        help="the TOML configuration file (see config.example.toml)",
    )


def load_config_or_report(path: Path, *, check_secrets: bool = True) -> Config | None:
    """Load the config; on problems print every one of them and return None.

    ``check_secrets`` False skips the private key file, for commands that sign no token.
    """
    try:
        config = load_config(path, check_secrets=check_secrets)
    except ConfigError as error:
        say(f"syncd: configuration {path} has {len(error.problems)} problem(s):", error=True)
        for problem in error.problems:
            say(f"  {problem}", error=True)
        return None
    warnings = [config_file_permission_warning(path)]
    warnings += identity_warnings(config.liveperson.identity, config.liveperson.domain_api)
    for warning in warnings:
        if warning is not None:
            say(f"syncd: warning: {warning}", error=True)
    return config
