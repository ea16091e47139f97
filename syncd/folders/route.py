"""The folders of one route, opened once by descriptor and checked before each use.

The outbox and inbox live in a folder only root and syncd may change (``syncd check``
insists); ``.syncd-work``, ``sent`` and ``failed`` live inside the outbox, which the scanners
group may write. So:

* ``.syncd-work`` is syncd's private folder (0700). One that syncd does not own (made by
  someone else before syncd's first start) is renamed aside and a fresh one made.
* ``verify`` checks that every path still names the folder opened at start. A swapped
  folder stops the route with an error ``syncd status`` shows (``FolderChangedError``),
  except one case that is an operator's, not an attacker's: the outbox replaced by a real
  folder in a parent that only root or syncd can write is adopted (opened again).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import FolderChangedError
from syncd.folders.handles import Folder, rename_noreplace
from syncd.rules import FAILED_DIR_NAME, SENT_DIR_NAME, WORK_DIR_NAME
from syncd.rules.error_kinds import ErrorKind, log_kind

log = logging.getLogger("syncd.folders")
# A route folder swapped, replaced or set aside: filed as a local storage problem.
_ABOUT_FOLDERS = log_kind(ErrorKind.STORAGE)


@dataclass(frozen=True)
class _RouteNames:
    name: str
    outbox: Path
    inbox: Path


# Shared folders: rwx for syncd and the scanners group (setgid is inherited from the outbox).
SHARED_FOLDER_MODE = 0o2770
PRIVATE_FOLDER_MODE = 0o700


def parent_is_private(folder: Path) -> bool:
    """True when only root or this user can add, remove or rename entries in ``folder``'s
    parent (owner root or us, no group or other write bit)."""
    try:
        info = os.stat(folder.parent)
    except OSError:
        return False
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class RouteFolders:
    """Descriptors of a route's outbox, work, sent, failed and inbox folders.

    Thread-safe: the intake, the preparer, the sender and the receiver share one instance.
    """

    def __init__(self, route: str, outbox: Path, inbox: Path) -> None:
        self.route = _RouteNames(route, outbox, inbox)
        self._lock = threading.Lock()
        self._retired: list[Folder] = []
        self.broken: str | None = None
        self._open_all()

    def _open_all(self) -> None:
        """Open (and make when missing) every folder. Raises FolderChangedError, OSError."""
        self.outbox = Folder.open(self.route.outbox, create_mode=SHARED_FOLDER_MODE)
        self.work = self._open_child(WORK_DIR_NAME, PRIVATE_FOLDER_MODE)
        # Made on first use, as before: an outbox that never failed a file has no failed/.
        self._sent: Folder | None = None
        self._failed: Folder | None = None
        self.inbox = Folder.open(self.route.inbox, create_mode=SHARED_FOLDER_MODE)

    @property
    def sent(self) -> Folder:
        """``sent/``, made and opened on first use. Raises OSError."""
        with self._lock:
            if self._sent is None:
                self._sent = self._open_child(SENT_DIR_NAME, SHARED_FOLDER_MODE)
            return self._sent

    @property
    def failed(self) -> Folder:
        """``failed/``, made and opened on first use. Raises OSError."""
        with self._lock:
            if self._failed is None:
                self._failed = self._open_child(FAILED_DIR_NAME, SHARED_FOLDER_MODE)
            return self._failed

    def _opened(self) -> list[Folder]:
        return [f for f in (self.outbox, self.work, self._sent, self._failed) if f is not None]

    def _open_child(self, name: str, mode: int) -> Folder:
        """Open folder ``name`` of the outbox; a symlink or file planted there (or, for the
        private work folder, a folder of another owner) is renamed aside, not trusted."""
        try:
            folder = Folder.open_child(self.outbox, name, create_mode=mode)
        except FolderChangedError:
            self._set_aside(name, "not a folder")
            folder = Folder.open_child(self.outbox, name, create_mode=mode)
        if mode == PRIVATE_FOLDER_MODE:
            if folder.owner_uid != os.geteuid():
                folder.close()
                self._set_aside(name, "owned by another user")
                folder = Folder.open_child(self.outbox, name, create_mode=mode)
            # Older versions made it group-writable: nobody else may plant entries in it.
            os.fchmod(folder.fd, mode)
        return folder

    def _set_aside(self, name: str, why: str) -> None:
        aside = f"{name}.untrusted-{secrets.token_hex(4)}"
        rename_noreplace(self.outbox.fd, name, self.outbox.fd, aside)
        log.warning(
            "route=%s: %s in %s was %s; renamed it to %s and made a fresh one",
            self.route.name,
            name,
            self.route.outbox,
            why,
            aside,
            extra=_ABOUT_FOLDERS,
        )

    def verify(self) -> None:
        """Raise FolderChangedError unless every folder is still the one opened.

        Once a swap was found the route stays stopped (``broken``) until syncd restarts.
        """
        with self._lock:
            if self.broken is not None:
                raise FolderChangedError(self.broken)
            try:
                self.inbox.verify()
                try:
                    self.outbox.verify()
                except FolderChangedError:
                    if not self._outbox_recreated_by_operator():
                        raise
                    self._adopt_new_outbox()
                for folder in self._opened():
                    folder.verify()
            except FolderChangedError as error:
                self.broken = f"route stopped: {error}"
                log.error("route=%s: %s", self.route.name, self.broken, extra=_ABOUT_FOLDERS)
                raise FolderChangedError(self.broken) from error

    def _outbox_recreated_by_operator(self) -> bool:
        try:
            info = os.stat(self.route.outbox, follow_symlinks=False)
        except OSError:
            return False
        return stat.S_ISDIR(info.st_mode) and parent_is_private(self.route.outbox)

    def _adopt_new_outbox(self) -> None:
        log.warning(
            "route=%s: the outbox %s was replaced by a new folder; using the new one",
            self.route.name,
            self.route.outbox,
            extra=_ABOUT_FOLDERS,
        )
        # Other threads may hold the old descriptors this very moment: retire, not close.
        self._retired += [*self._opened(), self.inbox]
        self._open_all()

    def close(self) -> None:
        """Close every descriptor."""
        with self._lock:
            for folder in [*self._retired, *self._opened()]:
                folder.close()
            self.inbox.close()
            self._retired.clear()
