"""``syncd enable-file-sharing``: step 1 of LivePerson's file-sharing flow.

Logs in as an account admin and sets the site setting ``messaging.file.sharing.enabled`` to
true, printing the old and new values. The password never appears in the config or on the
command line: it is read from systemd's credential ``lp-admin-password``, else from
``SYNCD_ADMIN_PASSWORD``, else asked for on the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from syncd.cli.common import EX_NOPERM, say
from syncd.config import Config
from syncd.errors import AuthenticationError, ConfigError

CREDENTIAL_NAME = "lp-admin-password"


def read_admin_password(env: Mapping[str, str] = os.environ) -> str:
    """Return the admin password from the credential file, the environment, or a prompt.

    Raises ConfigError when the credential file is readable by other users (a secret that
    leaks must not be used silently) or when no password is available without a terminal.
    """
    directory = env.get("CREDENTIALS_DIRECTORY")
    if directory:
        path = Path(directory) / CREDENTIAL_NAME
        if path.exists():
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(
                    [
                        f"credential {path}: readable by other users (mode {mode & 0o777:o}); "
                        "chmod 600 it"
                    ]
                )
            return path.read_text(encoding="utf-8").rstrip("\n")
    password = env.get("SYNCD_ADMIN_PASSWORD")
    if password:
        return password
    try:
        return getpass.getpass("LivePerson admin password: ")
    except EOFError as error:
        raise ConfigError(
            [
                "admin password: none in $CREDENTIALS_DIRECTORY/lp-admin-password, "
                "SYNCD_ADMIN_PASSWORD, or a terminal"
            ]
        ) from error


def enable_file_sharing(config: Config, username: str) -> int:
    """Log in as ``username`` and turn file sharing on; prints old and new values.

    Returns 0. Raises SyncdError subclasses when LivePerson refuses or cannot be reached.
    """
    from syncd.liveperson import admin
    from syncd.liveperson.domains import DomainResolver
    from syncd.liveperson.http import HttpClient
    from syncd.service.wiring import USER_AGENT

    password = read_admin_password()
    http = HttpClient(
        config.liveperson.ca_file, config.liveperson.request_timeout_seconds, USER_AGENT
    )
    try:
        resolver = DomainResolver(http, config.liveperson.domain_api, config.liveperson.account)
        account = config.liveperson.account
        session = admin.login(http, resolver, account, username, password)
        old, new = admin.enable_file_sharing(http, resolver, account, session)
    finally:
        http.close()
    say(f"messaging.file.sharing.enabled: {old!r} → {new!r}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--username`` (default: ``[admin] username`` of the config)."""
    parser.add_argument(
        "--username", help="LivePerson admin login name (default: [admin] username)"
    )


def run(config: Config, args: argparse.Namespace) -> int:
    """Log in and turn file sharing on; 77 when LivePerson refuses the login.

    Raises ConfigError when neither ``--username`` nor ``[admin] username`` names the admin.
    """
    username = args.username or config.admin.username
    if not username:
        raise ConfigError(["admin.username: not set; set it or pass --username"])
    try:
        return enable_file_sharing(config, username)
    except AuthenticationError as error:
        # A wrong password is for a person to fix, not a LivePerson outage (69).
        say(f"syncd: {error}", error=True)
        return EX_NOPERM
