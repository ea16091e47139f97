"""The files around the state database: its private folder and mode, and the instance lock.

Only the standard library: ``state.py`` calls these before SQLite opens anything.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from syncd.errors import AlreadyRunningError, StateError


def lock_path(database: Path) -> Path:
    """The instance lock of the state database ``database``: ``<database>.lock``."""
    return database.with_name(database.name + ".lock")


def take_lock(path: Path) -> int:
    """Creates the parent folder and holds an exclusive ``flock`` on ``<path>.lock``.

    Returns the lock's file descriptor, which holds the lock until it is closed. Raises
    ``AlreadyRunningError`` when another process holds it, ``StateError`` on I/O errors.
    """
    lock = lock_path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise StateError(f"cannot create the lock {lock}: {error}") from error
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        os.close(lock_fd)
        raise AlreadyRunningError(
            f"state database {path} is in use by another syncd process (it holds {lock});"
            " stop that one first, or use a command that only reads"
        ) from error
    except OSError as error:
        os.close(lock_fd)
        raise StateError(f"cannot lock {lock}: {error}") from error
    return lock_fd


def create_private_file(path: Path) -> None:
    """Creates ``path`` readable by its owner only (SQLite gives its WAL the same mode)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            # The JWTs inside are secrets: tighten a file some earlier tool left readable.
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as error:
        raise StateError(f"cannot create the state database {path}: {error}") from error
