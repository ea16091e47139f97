"""Problems that only show when routes are looked at together.

Each rule stops a loop or a collision: two routes claiming the same scans, received files
landing where a route would send them back, a route watching another route's ``sent/``
folder, or the state database sitting in a folder syncd empties.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from syncd.config.model import RouteConfig


def _real(path: Path) -> Path:
    # Compare where folders really are, so a symlinked alias of an outbox is caught too.
    # realpath works for folders that do not exist yet.
    return Path(os.path.realpath(path))


def _within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or somewhere inside it."""
    return path == folder or path.is_relative_to(folder)


def route_relation_problems(
    routes: Sequence[tuple[int, RouteConfig]], database: Path | None
) -> list[str]:
    """Check routes against each other and against the state database.

    ``routes`` pairs each route with its index in the file, ``database`` is the state file
    (None when it was not given). Returns problem lines keyed like ``route[1].outbox``.
    Raises nothing.
    """
    problems: list[str] = []
    first_index_by_name: dict[str, int] = {}
    for index, route in routes:
        earlier = first_index_by_name.setdefault(route.name, index)
        if earlier != index:
            problems.append(
                f"route[{index}].name: {route.name!r} is already used by route[{earlier}]"
            )

    outboxes = [(index, _real(route.outbox)) for index, route in routes]
    for index, route in routes:
        outbox = _real(route.outbox)
        inbox = _real(route.inbox)
        if inbox == outbox:
            problems.append(f"route[{index}].inbox: must differ from route[{index}].outbox")
        for other_index, other_outbox in outboxes:
            if other_index < index and other_outbox == outbox:
                problems.append(
                    f"route[{index}].outbox: route[{other_index}] already watches {route.outbox}"
                )
            if inbox != outbox and _within(inbox, other_outbox):
                problems.append(
                    f"route[{index}].inbox: inside route[{other_index}].outbox, so received "
                    "files could be sent back"
                )
        problems.extend(_outbox_in_own_folders_problems(index, outbox, routes))
    if database is not None:
        real_database = _real(database)
        for index, outbox in outboxes:
            if _within(real_database, outbox):
                problems.append(
                    f"state.database: inside route[{index}].outbox; keep it in its own folder"
                )
    return problems


def _outbox_in_own_folders_problems(
    index: int, outbox: Path, routes: Sequence[tuple[int, RouteConfig]]
) -> list[str]:
    """An outbox inside some route's work, sent or failed folder would re-send its files."""
    problems: list[str] = []
    for other_index, other in routes:
        for folder in (other.work_dir, other.sent_dir, other.failed_dir):
            if _within(outbox, _real(folder)):
                problems.append(
                    f"route[{index}].outbox: inside route[{other_index}]'s own folder {folder}"
                )
    return problems
