"""Whether every route's outbox and inbox are there and usable, before anything runs.

``syncd check`` prints these problems and ``syncd run`` refuses to start on them (exit 78),
so a misspelt folder path is reported instead of being created as a new folder that no
scanner writes to. A route with ``create_folders = true`` may name folders that do not exist
yet, as long as they can be made.
"""

from __future__ import annotations

import os
from pathlib import Path

from syncd.config import Config


def _nearest_existing(folder: Path) -> Path:
    path = folder
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def route_folder_problems(config: Config) -> list[str]:
    """One line per unusable outbox or inbox, each starting with its key (``route[0].inbox``).

    Goes in: the config; looks at the file system only (creates nothing). Problems: a folder
    that does not exist (unless ``create_folders``), one that cannot be made because a file
    is in the way, one that is not a folder, one this user cannot write. Raises nothing.
    """
    problems = []
    for index, route in enumerate(config.routes):
        for key, folder in (("outbox", route.outbox), ("inbox", route.inbox)):
            where = f"route[{index}].{key}: {folder}"
            existing = _nearest_existing(folder)
            if existing != folder and not route.create_folders:
                problems.append(
                    f"{where} does not exist; create it (see README.md, 'Installing as a "
                    "service') or set create_folders = true for this route"
                )
            elif not existing.is_dir():
                what = (
                    "is not a folder"
                    if existing == folder
                    else f"cannot be made: {existing} is a file"
                )
                problems.append(f"{where} {what}")
            elif not os.access(existing, os.W_OK | os.X_OK):
                problems.append(f"{where} is not writable by this user")
    return problems
