"""Writing a received file into an inbox folder: atomic, durable, never overwriting.

The bytes go to a fresh temp file with a random hidden name in the inbox itself (same
file system, made with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so nothing planted there is ever
written through), are fsynced, then renamed to the final name with ``RENAME_NOREPLACE``,
which fails instead of replacing an existing file; the folder is fsynced. A reader of the
inbox therefore sees either nothing or the whole file, never a partial one, and never
loses an earlier file. Everything is relative to the inbox's open descriptor.

The final name is always made by syncd (``rules.inbox_file_name``): the receive time,
conversation and sequence, then the agent's caption cut down to letters, digits and a few
safe marks, as one path component. A remote caption can add words to that name but never a
separator, a folder or a leading dot; a remote path or file name is never used.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat

from syncd.folders import TEMP_PREFIX, create_temp_file, write_all
from syncd.folders.handles import Folder, rename_noreplace
from syncd.rules import candidate_names

# Received files are for the scanners group to read (and, by the folder, to remove).
INBOX_FILE_MODE = 0o640


def _same_content(inbox: Folder, name: str, digest: str) -> bool:
    try:
        descriptor = os.open(
            name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=inbox.fd
        )
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        hasher = hashlib.sha256()
        while chunk := os.read(descriptor, 1 << 20):
            hasher.update(chunk)
        return hasher.hexdigest() == digest
    finally:
        os.close(descriptor)


def write_into_inbox(inbox: Folder, name: str, data: bytes, temp_tag: str) -> str:
    """Write ``data`` as ``name`` (or ``name-2``, ``name-3``… when taken) in ``inbox``;
    return the name it got.

    If a file with that name (or a numbered variant) already holds exactly these bytes, it
    is returned instead of writing a second copy: that is the case after a crash between
    the rename and the state commit, and it keeps "once" true across restarts.
    ``temp_tag`` goes into the temp name (for example the row id), to tell whose it was.
    Raises OSError on write failures (the temp file is removed).
    """
    if "/" in name or name in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"unsafe inbox file name {name!r}")
    digest = hashlib.sha256(data).hexdigest()
    descriptor, temporary = create_temp_file(inbox, temp_tag, INBOX_FILE_MODE)
    try:
        try:
            write_all(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        for candidate in candidate_names(name):
            if _same_content(inbox, candidate, digest):
                return candidate
            try:
                rename_noreplace(inbox.fd, temporary, inbox.fd, candidate)
            except FileExistsError:
                continue
            inbox.fsync()
            return candidate
        raise OSError(errno.EEXIST, f"no free name for {name!r} in {inbox.path}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=inbox.fd)


def remove_stale_temp_files(inbox: Folder) -> int:
    """Delete syncd's own temp files a crash left in ``inbox``; returns how many.

    Only regular files owned by this user are removed; anything else at a temp-like name
    (a folder, a link, someone else's file) is left alone, never a reason to stop.
    """
    removed = 0
    for name in os.listdir(inbox.fd):
        if not name.startswith(TEMP_PREFIX) or not name.endswith((".part", ".tmp")):
            continue
        try:
            info = os.stat(name, dir_fd=inbox.fd, follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                os.unlink(name, dir_fd=inbox.fd)
                removed += 1
        except OSError:
            continue
    return removed
