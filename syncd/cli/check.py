"""``syncd check``: the config, the folders and the state, and with ``--online`` LivePerson too.

The same config code path as ``syncd run``; prints every problem with its key.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import stat
from pathlib import Path

from syncd.cli.common import EX_CONFIG, EX_OK, EX_UNAVAILABLE, say
from syncd.config import Config
from syncd.errors import ConfigError, StateError
from syncd.service.route_folders import route_folder_problems
from syncd.state.model import DatabaseMissingError
from syncd.state.store import StateStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--online``."""
    parser.add_argument(
        "--online",
        action="store_true",
        help=(
            "also resolve LivePerson's domains, sign up a throwaway consumer and open the "
            "consumer WebSocket (exit 69 when LivePerson is unreachable, 78 when its TLS "
            "certificate does not verify)"
        ),
    )


def folder_problems(config: Config) -> list[str]:
    """Every route's outbox and inbox problems (missing without ``create_folders``, not a
    folder, not writable: ``route_folder_problems``), and parents others may write."""
    problems = route_folder_problems(config)
    for index, route in enumerate(config.routes):
        for key, folder in (("outbox", route.outbox), ("inbox", route.inbox)):
            parent_problem = _unsafe_parent(folder)
            if parent_problem is not None:
                problems.append(f"route[{index}].{key}: {parent_problem}")
    return problems


def _trusted_owners() -> set[int]:
    owners = {0, os.geteuid()}
    with contextlib.suppress(KeyError):
        owners.add(pwd.getpwnam("syncd").pw_uid)
    return owners


def _unsafe_parent(folder: Path) -> str | None:
    """Why ``folder``'s parent lets someone other than root and syncd swap ``folder`` (for a
    symbolic link to a place syncd must not write), or None when it does not."""
    parent = folder.parent
    try:
        info = os.stat(parent)
    except OSError:
        return None  # missing: syncd makes it, owned by itself
    if info.st_uid not in _trusted_owners():
        who = f"its owner (uid {info.st_uid})"
    elif info.st_mode & stat.S_IWOTH:
        who = "every user"
    elif info.st_mode & stat.S_IWGRP:
        who = f"the members of group {info.st_gid}"
    else:
        return None
    return (
        f"the parent folder {parent} is writable by {who}, who could swap {folder.name} for "
        f"a link to a place syncd must not write. Fix: chown root:root {parent} && "
        f"chmod 0755 {parent} (keep the group access on {folder} itself)"
    )


def _identity_key_problems(config: Config) -> list[str]:
    """The private key of the authenticated flow must parse (the daemon would refuse it)."""
    key_file = config.liveperson.private_key_file
    if config.liveperson.identity != "authenticated" or key_file is None:
        return []
    from syncd.liveperson.identity_setup import read_private_key

    try:
        read_private_key(key_file)
    except ConfigError as error:
        return error.problems
    return []


def run(config: Config, args: argparse.Namespace) -> int:
    """Print the problems found (exit 78) or that the config is valid (exit 0, or the online
    check's code)."""
    problems = folder_problems(config) + _identity_key_problems(config)
    try:
        with StateStore.open(config.state.database, exclusive=False) as store:
            damage = store.integrity_problems()
        if damage:
            problems.append(
                f"state.database: {config.state.database} is damaged (SQLite quick_check: "
                f"{'; '.join(damage[:3])}); stop syncd, move it aside and restore a backup"
            )
    except DatabaseMissingError:
        pass  # a fresh install: `syncd run` creates it
    except StateError as error:
        problems.append(f"state.database: {error}")
    if problems:
        for problem in problems:
            say(f"syncd: {problem}", error=True)
        return EX_CONFIG
    say(f"configuration {config.source_path} is valid: {len(config.routes)} route(s)")
    if args.online:
        return _check_online(config)
    return EX_OK


def _check_online(config: Config) -> int:
    """Run the online steps; 0 when all worked, 78 when the fix is in the config (TLS
    trust, a refused token), 69 when LivePerson cannot be reached or answers wrongly."""
    from syncd.cli.online_check import OnlineCheckError, check_online

    try:
        check_online(config, say)
    except OnlineCheckError as error:
        if error.is_config:
            say(f"syncd: LivePerson refused the configuration: {error}", error=True)
            return EX_CONFIG
        say(f"syncd: LivePerson is not reachable: {error}", error=True)
        return EX_UNAVAILABLE
    return EX_OK
