"""Writing a received file into an inbox folder: atomic, durable, never overwriting.

The bytes go to a hidden temp file in the inbox itself (same file system), are fsynced,
then ``link()``ed to the final name, which fails instead of replacing an existing file; the
temp name is unlinked and the folder fsynced. A reader of the inbox therefore sees either
nothing or the whole file, never a partial one, and never loses an earlier file.

The final name is always made by syncd from local facts (``rules.inbox_file_name``); a
remote caption or path never becomes a path here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from syncd.folders import fsync_directory
from syncd.rules import candidate_names


def _same_content(path: Path, digest: str) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        hasher = hashlib.sha256()
        while chunk := os.read(descriptor, 1 << 20):
            hasher.update(chunk)
        return hasher.hexdigest() == digest
    finally:
        os.close(descriptor)


def write_into_inbox(inbox: Path, name: str, data: bytes, temp_tag: str) -> Path:
    """Write ``data`` as ``inbox/name`` (or ``name-2``, ``name-3``… when taken); return it.

    If a file with that name (or a numbered variant) already holds exactly these bytes, it
    is returned instead of writing a second copy: that is the case after a crash between
    the link and the state commit, and it keeps "once" true across restarts.
    ``temp_tag`` makes the hidden temp name unique per caller (for example the row id).
    Raises OSError on write failures (the temp file is removed).
    """
    if "/" in name or name in ("", ".", "..") or name.startswith("."):
        raise ValueError(f"unsafe inbox file name {name!r}")
    digest = hashlib.sha256(data).hexdigest()
    temporary = inbox / f".syncd-{temp_tag}.part"
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640
    )
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(descriptor, view)
                view = view[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        for candidate in candidate_names(name):
            target = inbox / candidate
            if os.path.lexists(target):
                if _same_content(target, digest):
                    return target
                continue
            try:
                os.link(temporary, target, follow_symlinks=False)
            except FileExistsError:
                continue  # another writer took the name between the check and the link
            fsync_directory(inbox)
            return target
        raise OSError(f"no free name for {name!r} in {inbox}")
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        fsync_directory(inbox)


def remove_stale_temp_files(inbox: Path) -> int:
    """Delete temp files a crash left in ``inbox``; returns how many were removed."""
    removed = 0
    try:
        entries = list(os.scandir(inbox))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name.startswith(".syncd-") and entry.name.endswith(".part"):
            os.unlink(entry.path)
            removed += 1
    return removed
