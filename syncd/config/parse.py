"""Turn parsed TOML (a mapping) into a ``Config``, reporting every problem at once.

Outbox and inbox folders need not exist here (``syncd check`` looks at them separately), so
the example file parses on any machine. The CA bundle, which must already exist, and the
database's folder are checked unless ``check_files`` is False.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from syncd.config.fields import TableReader, describe_value
from syncd.config.identity import parse_flow_keys, parse_identity, parse_route_identity
from syncd.config.model import (
    AFTER_SEND_CHOICES,
    DEFAULT_CAPTION,
    DEFAULT_DOCUMENT_CAPTION,
    DEFAULT_DOMAIN_API,
    DEFAULT_MAX_PAGES,
    DEFAULT_UPLOAD_WINDOW_FILES,
    LOG_LEVEL_CHOICES,
    MAX_UPLOAD_WINDOW_FILES,
    SECTION_KEYS,
    WATCH_CHOICES,
    AdminConfig,
    Config,
    DaemonConfig,
    IdentityMode,
    LivePersonConfig,
    MetricsConfig,
    RouteConfig,
    StateConfig,
)
from syncd.config.relations import route_relation_problems
from syncd.errors import ConfigError
from syncd.rules import is_allowed_transport, validate_caption_template

# A route name shows up in logs, captions and the state database; keep it plain. It may not
# start with "." or "-" so that it never reads as a hidden name or a command-line option.
_ROUTE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

_USERINFO_PATTERN = re.compile(r"//[^/@]*@")

# LivePerson closes a WebSocket that has been idle for 60 s (protocol.md §3.2).
_IDLE_CLOSE_SECONDS = 60.0

# A top-level key that belongs in a section: point at where it should go.
_SECTION_HINTS = {key: f"{section}.{key}" for section, keys in SECTION_KEYS.items() for key in keys}
_SECTION_HINTS["routes"] = "[[route]]"


def _hints_outside(section: str) -> dict[str, str]:
    """Where the keys of every other table belong, for a key written in ``section`` by mistake."""
    return {key: where for key, where in _SECTION_HINTS.items() if key not in SECTION_KEYS[section]}


def _section(top: TableReader, name: str) -> TableReader:
    return top.section(name, SECTION_KEYS[name], _hints_outside(name))


def parse_config(
    data: Mapping[str, Any],
    base_dir: Path,
    *,
    source_path: Path | None = None,
    check_files: bool = True,
    check_secrets: bool = True,
    environment: Mapping[str, str] | None = None,
) -> Config:
    """Check ``data`` (as ``tomllib`` returns it) and build the configuration.

    Relative paths are resolved against ``base_dir`` (the config file's folder).
    ``source_path`` is recorded in the result. With ``check_files`` False, the CA file and the
    database folder are not looked at; with ``check_secrets`` False, neither is the private key
    file (commands that never sign a token, such as ``status``, run without it).
    ``environment`` (default ``os.environ``) supplies ``$CREDENTIALS_DIRECTORY``. Raises
    ConfigError listing every problem found.
    """
    problems: list[str] = []
    top = TableReader(data, "", SECTION_KEYS, problems, hints=_SECTION_HINTS)
    base_dir = Path(os.path.abspath(base_dir))
    environment = os.environ if environment is None else environment
    liveperson = _parse_liveperson(top, base_dir, check_files, check_secrets, environment)
    state = _parse_state(top, base_dir, check_files)
    daemon_table = _section(top, "daemon")
    daemon = DaemonConfig(
        prepare_workers=daemon_table.integer("prepare_workers", 2, minimum=1, maximum=32),
        log_level=daemon_table.choice("log_level", LOG_LEVEL_CHOICES, "info"),
    )
    admin_table = _section(top, "admin")
    admin = AdminConfig(username=admin_table.string("username"))
    identity = liveperson.identity if liveperson else "signup"
    metrics = _parse_metrics(top)
    routes = _parse_routes(top, base_dir, identity)
    problems.extend(route_relation_problems(routes, state.database if state else None))
    if problems or liveperson is None or state is None:
        raise ConfigError(problems)
    return Config(
        liveperson,
        state,
        daemon,
        admin,
        tuple(route for _, route in routes),
        source_path,
        metrics,
    )


_LISTEN_PATTERN = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):(?P<port>[0-9]{1,5})")


def _parse_metrics(top: TableReader) -> MetricsConfig:
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


def _parse_liveperson(
    top: TableReader,
    base_dir: Path,
    check_files: bool,
    check_secrets: bool,
    environment: Mapping[str, str],
) -> LivePersonConfig | None:
    table = _section(top, "liveperson")
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


def _parse_state(top: TableReader, base_dir: Path, check_files: bool) -> StateConfig | None:
    table = _section(top, "state")
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


def _parse_routes(
    top: TableReader, base_dir: Path, identity: IdentityMode
) -> list[tuple[int, RouteConfig]]:
    """Return each parsed route with its index in the file (for problem key paths)."""
    if "route" not in top.table:
        top.problem("route", "at least one [[route]] table is required")
        return []
    tables = top.table["route"]
    if not isinstance(tables, list) or not tables:
        top.problem("route", f"expected one or more [[route]] tables, got {describe_value(tables)}")
        return []
    routes: list[tuple[int, RouteConfig]] = []
    for index, route_table in enumerate(tables):
        path = f"route[{index}]"
        if not isinstance(route_table, Mapping):
            top.problem(path, f"expected a table, got {describe_value(route_table)}")
            continue
        reader = TableReader(
            route_table,
            path,
            SECTION_KEYS["route"],
            top.problems,
            elsewhere=_hints_outside("route"),
        )
        route = _parse_route(reader, base_dir, identity)
        if route is not None:
            routes.append((index, route))
    return routes


def _parse_route(table: TableReader, base_dir: Path, identity: IdentityMode) -> RouteConfig | None:
    name = table.string("name", required=True)
    if name is not None and not _ROUTE_NAME_PATTERN.fullmatch(name):
        table.problem(
            "name",
            "use 1-64 letters, digits, '_', '.' or '-', not starting with '.' or '-', "
            f"got {name!r}",
        )
    outbox = table.path("outbox", base_dir, required=True)
    inbox = table.path("inbox", base_dir, required=True)
    caption = table.string("caption", default=DEFAULT_CAPTION) or DEFAULT_CAPTION
    caption_problem = validate_caption_template(caption)
    if caption_problem:
        table.problem("caption", caption_problem)
    document_caption = (
        table.string("document_caption", default=DEFAULT_DOCUMENT_CAPTION)
        or DEFAULT_DOCUMENT_CAPTION
    )
    document_caption_problem = validate_caption_template(document_caption)
    if document_caption_problem:
        table.problem("document_caption", document_caption_problem)
    max_pages = table.integer("max_pages", DEFAULT_MAX_PAGES, 1, 10_000)
    upload_window_files = table.integer(
        "upload_window_files", DEFAULT_UPLOAD_WINDOW_FILES, 1, MAX_UPLOAD_WINDOW_FILES
    )
    skill_id = table.digits("skill_id")
    after_send = table.choice("after_send", AFTER_SEND_CHOICES, "archive")
    watch = table.choice("watch", WATCH_CHOICES, "auto")
    settle_seconds = table.number("settle_seconds", 2.0, 0.1, above_minimum=False)
    poll_seconds = table.number("poll_seconds", 5.0, 0.0, above_minimum=True)
    rescan_seconds = table.number("rescan_seconds", 300.0, 0.0, above_minimum=True)
    max_download_bytes = table.integer("max_download_bytes", 5_242_880, 1, 2**40)
    send_accept_receipts = table.boolean("send_accept_receipts", True)
    consumer_id, display_name = parse_route_identity(table, identity)
    create_folders = table.boolean("create_folders", False)
    save_agent_text = table.boolean("save_agent_text", True)
    close_after_idle_minutes: float | None = None
    if "close_after_idle_minutes" in table.table:
        close_after_idle_minutes = table.number(
            "close_after_idle_minutes", 0.0, 0.0, above_minimum=True
        )
    if name is None or outbox is None or inbox is None:
        return None
    return RouteConfig(
        name,
        outbox,
        inbox,
        skill_id,
        caption,
        after_send,
        watch,
        settle_seconds,
        poll_seconds,
        rescan_seconds,
        max_download_bytes,
        send_accept_receipts,
        consumer_id,
        display_name,
        create_folders,
        save_agent_text,
        close_after_idle_minutes or None,
        document_caption=document_caption,
        max_pages=max_pages,
        upload_window_files=upload_window_files,
    )
