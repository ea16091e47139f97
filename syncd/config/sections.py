"""The top-level sections of the configuration: [liveperson], [state] and [metrics].

Each ``parse_*`` function reads its table from the top-level ``TableReader``, records every
problem with its key and returns the section's frozen config (or None when a required key
is missing). ``SECTION_HINTS`` and ``hints_outside`` tell a user where a key written in the
wrong table belongs; ``config.routes`` uses them for the ``[[route]]`` tables too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from syncd.config.fields import TableReader
from syncd.config.identity import parse_flow_keys, parse_identity
from syncd.config.model import (
    DEFAULT_DOMAIN_API,
    SECTION_KEYS,
    LivePersonConfig,
    MetricsConfig,
    StateConfig,
)
from syncd.rules import is_allowed_transport

_USERINFO_PATTERN = re.compile(r"//[^/@]*@")

# LivePerson closes a WebSocket that has been idle for 60 s (protocol.md §3.2).
_IDLE_CLOSE_SECONDS = 60.0

# A top-level key that belongs in a section: point at where it should go.
SECTION_HINTS = {key: f"{section}.{key}" for section, keys in SECTION_KEYS.items() for key in keys}
SECTION_HINTS["routes"] = "[[route]]"


def hints_outside(section: str) -> dict[str, str]:
    """Where the keys of every other table belong, for a key written in ``section`` by mistake."""
    return {key: where for key, where in SECTION_HINTS.items() if key not in SECTION_KEYS[section]}


def read_section(top: TableReader, name: str) -> TableReader:
    """The reader of the top-level table ``name``, pointing misplaced keys to their table."""
    return top.section(name, SECTION_KEYS[name], hints_outside(name))


_LISTEN_PATTERN = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})")


def parse_metrics(top: TableReader) -> MetricsConfig:
    """``[metrics] listen = "HOST:PORT"``; absent means no metrics endpoint."""
    table = top.section("metrics", SECTION_KEYS["metrics"])
    listen = table.string("listen")
    if listen is None:
        return MetricsConfig()
    found = _LISTEN_PATTERN.fullmatch(listen)
    if found is None or not 1 <= int(found.group("port")) <= 65535:
        table.problem("listen", f"expected HOST:PORT such as 127.0.0.1:9464, got {listen!r}")
        return MetricsConfig()
    return MetricsConfig(host=found.group("host").strip("[]"), port=int(found.group("port")))


def parse_liveperson(
    top: TableReader,
    base_dir: Path,
    check_files: bool,
    check_secrets: bool,
    environment: Mapping[str, str],
) -> LivePersonConfig | None:
    """``[liveperson]``: account, API domain, TLS, timeouts and the identity flow's keys;
    None when the account is missing (its problem is recorded)."""
    table = read_section(top, "liveperson")
    account = table.digits("account", required=True)
    problems_before = len(top.problems)
    domain_api = _domain_api(table)
    # Which host an identity is for is only known for a usable URL in a real table.
    host_known = len(top.problems) == problems_before and bool(table.table)
    ca_file = table.path("ca_file", base_dir)
    if ca_file is not None and check_files:
        if not ca_file.is_file():
            table.problem("ca_file", f"no such file: {ca_file}")
        elif not os.access(ca_file, os.R_OK):
            table.problem("ca_file", f"not readable by this user: {ca_file}")
    request_timeout_seconds = table.number(
        "request_timeout_seconds", 30.0, minimum=0.0, above_minimum=True
    )
    keepalive_seconds = table.number("keepalive_seconds", 30.0, minimum=0.0, above_minimum=True)
    if keepalive_seconds >= _IDLE_CLOSE_SECONDS:
        table.problem(
            "keepalive_seconds",
            f"must be below {_IDLE_CLOSE_SECONDS:g} (LivePerson closes idle connections "
            f"after {_IDLE_CLOSE_SECONDS:g} s), got {keepalive_seconds:g}",
        )
    identity = parse_identity(table, domain_api if host_known else None)
    private_key_file, issuer, connector_id = parse_flow_keys(
        table, identity, base_dir, check_files and check_secrets, environment
    )
    if account is None:
        return None
    return LivePersonConfig(
        account,
        domain_api,
        ca_file,
        request_timeout_seconds,
        keepalive_seconds,
        identity,
        private_key_file,
        issuer,
        connector_id,
    )


def _domain_api(table: TableReader) -> str:
    url = table.string("domain_api", default=DEFAULT_DOMAIN_API) or DEFAULT_DOMAIN_API
    # Echo the URL in messages without any password someone may have put in it.
    shown = repr(_USERINFO_PATTERN.sub("//***@", url))
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        table.problem("domain_api", f"not a valid URL: {shown}")
        return DEFAULT_DOMAIN_API
    if parts.scheme not in ("https", "http") or not parts.hostname:
        table.problem("domain_api", f"expected an https:// URL with a host, got {shown}")
    elif parts.username is not None or parts.query or parts.fragment:
        table.problem("domain_api", "must not contain credentials, a query or a fragment")
    elif not is_allowed_transport(url):
        table.problem(
            "domain_api",
            "plain http is only allowed to this machine (127.0.0.0/8, ::1, localhost), "
            f"got {shown}; use https://",
        )
    return url.rstrip("/")


def parse_state(top: TableReader, base_dir: Path, check_files: bool) -> StateConfig | None:
    """``[state] database``; None when it is missing (its problem is recorded)."""
    table = read_section(top, "state")
    database = table.path("database", base_dir, required=True)
    if database is None:
        return None
    if check_files:
        problem = _database_folder_problem(database.parent)
        if problem:
            table.problem("database", problem)
    return StateConfig(database)


def _database_folder_problem(folder: Path) -> str | None:
    """Say why ``folder`` cannot hold the database, or None when it exists or can be made."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder, so {folder} cannot hold the database"
    if not os.access(existing, os.W_OK | os.X_OK):
        action = "write in" if existing == folder else f"create {folder} in"
        return f"this user cannot {action} {existing}"
    return None
