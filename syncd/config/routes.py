"""The ``[[route]]`` tables of the configuration: one ``RouteConfig`` per outbox/inbox pair.

Every problem is recorded with its key path (``route[2].caption``) and parsing goes on, so
one run lists them all; the problems that only show when routes are looked at together
(shared or looping folders) are ``config.relations``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from syncd.config.fields import TableReader, describe_value
from syncd.config.identity import parse_route_identity
from syncd.config.model import (
    AFTER_SEND_CHOICES,
    DEFAULT_CAPTION,
    DEFAULT_DOCUMENT_CAPTION,
    DEFAULT_MAX_PAGES,
    DEFAULT_UPLOAD_WINDOW_FILES,
    MAX_UPLOAD_WINDOW_FILES,
    SECTION_KEYS,
    WATCH_CHOICES,
    IdentityMode,
    RouteConfig,
)
from syncd.config.sections import hints_outside
from syncd.rules import validate_caption_template

# A route name shows up in logs, captions and the state database; keep it plain. It may not
# start with "." or "-" so that it never reads as a hidden name or a command-line option.
_ROUTE_NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


def parse_routes(
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
            elsewhere=hints_outside("route"),
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
