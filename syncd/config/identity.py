"""The ``identity`` keys: which LivePerson consumer flow each route speaks through.

``[liveperson] identity`` is ``authenticated`` (``private_key_file``, ``issuer``; per route
``consumer_id`` and ``display_name``), ``unauthenticated`` (``connector_id``) or ``signup``
(LivePerson's demonstration call, for the emulator). It has no default for a real host:
only a Domain API on this machine (the emulator) falls back to ``signup``.

``private_key_file`` is a secret. A relative path is looked up in ``$CREDENTIALS_DIRECTORY``
when systemd set it (``LoadCredential=``), else next to the config file; the file must not
be readable by group or others, like the admin password credential.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from syncd.config.fields import TableReader
from syncd.config.model import IDENTITY_CHOICES, IdentityMode
from syncd.rules import is_loopback_host

_CONNECTOR_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FLOW_KEYS: dict[str, IdentityMode] = {
    "private_key_file": "authenticated",
    "issuer": "authenticated",
    "connector_id": "unauthenticated",
}

SIGNUP_WARNING = (
    'liveperson.identity = "signup" against {host}: LivePerson documents signup as "only a '
    'demonstration… Please do not use the below method in your production environments"; '
    'set identity = "authenticated" or "unauthenticated"'
)


def domain_host(domain_api: str) -> str:
    """The host name of the Domain API URL (empty when it has none)."""
    return urlsplit(domain_api).hostname or ""


def parse_identity(table: TableReader, domain_api: str | None) -> IdentityMode:
    """Return the configured flow; a missing key is a problem unless the host is loopback.

    ``domain_api`` is None when it is itself wrong (already reported): then no more is said.
    """
    if "identity" in table.table:
        return table.choice("identity", IDENTITY_CHOICES, "signup")
    if domain_api is None:
        return "signup"
    host = domain_host(domain_api)
    if not is_loopback_host(host):
        table.problem(
            "identity",
            f'required for {host}: set "authenticated" (brand-signed JWTs) or '
            '"unauthenticated" (an anonymous connector); see the README',
        )
    return "signup"


def parse_flow_keys(
    table: TableReader,
    identity: IdentityMode,
    base_dir: Path,
    check_files: bool,
    environment: Mapping[str, str],
) -> tuple[Path | None, str | None, str | None]:
    """Return ``(private_key_file, issuer, connector_id)``, each checked for ``identity``."""
    for key, flow in _FLOW_KEYS.items():
        if key in table.table and identity != flow:
            table.problem(key, f'only used with identity = "{flow}"')
    private_key_file = _key_file(table, base_dir, environment)
    issuer = table.string("issuer")
    connector_id = table.string("connector_id")
    if identity == "authenticated":
        if private_key_file is None and "private_key_file" not in table.table:
            table.problem("private_key_file", 'required with identity = "authenticated"')
        if issuer is None and "issuer" not in table.table:
            table.problem("issuer", 'required with identity = "authenticated"')
        if private_key_file is not None and check_files:
            problem = private_key_problem(private_key_file)
            if problem:
                table.problem("private_key_file", problem)
    if identity == "unauthenticated" and "connector_id" not in table.table:
        table.problem("connector_id", 'required with identity = "unauthenticated"')
    if connector_id is not None and not _CONNECTOR_ID_PATTERN.fullmatch(connector_id):
        table.problem("connector_id", f"expected the id LivePerson gave, got {connector_id!r}")
    return private_key_file, issuer, connector_id


def _key_file(table: TableReader, base_dir: Path, environment: Mapping[str, str]) -> Path | None:
    credentials = environment.get("CREDENTIALS_DIRECTORY")
    text = table.string("private_key_file")
    if text is not None and credentials and not os.path.isabs(text):
        return Path(os.path.abspath(Path(credentials) / text))
    return table.path("private_key_file", base_dir)


def private_key_problem(path: Path) -> str | None:
    """Why ``path`` cannot be the private key (missing, unreadable, too open), or None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no such file: {path}"
    except OSError as error:
        return f"cannot examine {path}: {error.strerror or error}"
    if not stat.S_ISREG(mode):
        return f"not a regular file: {path}"
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"{path} is readable by other users (mode {mode & 0o777:o}); chmod 600 it"
    if not os.access(path, os.R_OK):
        return f"not readable by this user: {path}"
    return None


def parse_route_identity(
    table: TableReader, identity: IdentityMode
) -> tuple[str | None, str | None]:
    """Return a route's ``(consumer_id, display_name)`` (authenticated flow only)."""
    for key in ("consumer_id", "display_name"):
        if key in table.table and identity != "authenticated":
            table.problem(key, 'only used with identity = "authenticated"')
    consumer_id = table.string("consumer_id")
    if consumer_id is not None and not consumer_id.strip():
        table.problem("consumer_id", "must not be empty")
    display_name = table.string("display_name")
    return consumer_id, display_name


def identity_warnings(identity: IdentityMode, domain_api: str) -> list[str]:
    """Warnings (not errors) about the identity: signup used against a real host."""
    host = domain_host(domain_api)
    if identity == "signup" and not is_loopback_host(host):
        return [SIGNUP_WARNING.format(host=host)]
    return []
