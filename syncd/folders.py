"""File-system moves and reads that never overwrite, never follow links and survive crashes.

Every move syncd makes (claim into the work folder, archive into ``sent/``, quarantine into
``failed/``) goes through here, so the rules live in one place:

* a move never replaces an existing name (``link`` + ``unlink`` instead of ``rename``, whose
  replace-on-collision would silently destroy an earlier scan with the same name);
* after a move, the folders involved are fsynced so the move survives a power cut;
* files are opened with ``O_NOFOLLOW | O_NONBLOCK`` so a symlink or FIFO swapped in at the
  last moment is refused instead of followed or blocked on.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from syncd.errors import PermanentFileError, UnsafeFileError
from syncd.rules import candidate_names
from syncd.rules.filecheck import TAIL_BYTES, unsafe_entry_reason

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def fsync_directory(folder: Path) -> None:
    """Flush a folder's entries to disk so a rename or link in it is durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def link_without_clobber(source: Path, folder: Path, name: str) -> Path:
    """Give ``source`` a new name in ``folder`` (same file system), never replacing a file.

    Tries ``name``, then ``name-2``, ``name-3``… Returns the new path. The source keeps its
    name too; the caller unlinks it. ``link`` does not follow a symlink source, so even an
    unsafe entry can be moved into quarantine without being opened.
    """
    for candidate in candidate_names(name):
        target = folder / candidate
        try:
            os.link(source, target, follow_symlinks=False)
        except FileExistsError:
            if _same_inode(source, target):
                return target  # an earlier, interrupted move already made this link
            continue
        return target
    raise OSError(errno.EEXIST, f"no free name for {name!r} in {folder}")


def _same_inode(first: Path, second: Path) -> bool:
    try:
        a = os.lstat(first)
        b = os.lstat(second)
    except OSError:
        return False
    return (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)


def move_without_clobber(source: Path, folder: Path, name: str) -> Path:
    """Move ``source`` into ``folder`` as ``name`` (or a numbered variant); return the path.

    Creates the folder when missing, and fsyncs both folders afterwards.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = link_without_clobber(source, folder, name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(source)
    fsync_directory(folder)
    if source.parent != folder:
        fsync_directory(source.parent)
    return target


def write_text_durably(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file, fsync, then rename it into place."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


@dataclass(frozen=True)
class FileRead:
    """What the intake learns by reading a settled file once."""

    size_bytes: int
    mtime_ns: int
    inode: int
    device: int
    sha256: str
    head: bytes
    tail: bytes


def read_regular_file(path: Path, max_bytes: int) -> FileRead:
    """Read a file that must be a single-link regular file, hashing it on the way.

    Raises UnsafeFileError for a symlink, FIFO, device or hard-linked file (checked on the
    open descriptor, so nothing can be swapped in between the check and the read),
    PermanentFileError when it is larger than ``max_bytes`` or cannot be read (for example
    permission denied), and FileNotFoundError when it vanished.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(
                "symbolic link: syncd never follows links out of a watched folder"
            ) from error
        raise PermanentFileError(f"cannot read the file: {error.strerror}") from error
    try:
        info = os.fstat(descriptor)
        reason = unsafe_entry_reason(info)
        if reason is not None:
            raise UnsafeFileError(reason)
        if info.st_size > max_bytes:
            raise PermanentFileError(
                f"file is {info.st_size} bytes, more than the {max_bytes} bytes syncd accepts"
            )
        # Regular files ignore O_NONBLOCK; clear it anyway so reads behave normally.
        os.set_blocking(descriptor, True)
        digest = hashlib.sha256()
        head = b""
        window = b""
        while True:
            chunk = os.read(descriptor, 1 << 20)
            if not chunk:
                break
            if len(head) < 64:
                head += chunk[: 64 - len(head)]
            digest.update(chunk)
            window = (window + chunk)[-TAIL_BYTES:]
        return FileRead(
            size_bytes=info.st_size,
            mtime_ns=info.st_mtime_ns,
            inode=info.st_ino,
            device=info.st_dev,
            sha256=digest.hexdigest(),
            head=head,
            tail=window,
        )
    except OSError as error:
        raise PermanentFileError(f"cannot read the file: {error.strerror}") from error
    finally:
        os.close(descriptor)


def read_own_file(path: Path) -> bytes:
    """Read a file from syncd's own work folder, refusing anything but a single-link file.

    Raises UnsafeFileError for a symlink, FIFO, device or hard-linked entry (a file claimed
    during start-up reconciliation has not been checked yet), FileNotFoundError when missing.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(
                "symbolic link: syncd never follows links out of a watched folder"
            ) from error
        raise
    try:
        reason = unsafe_entry_reason(os.fstat(descriptor))
        if reason is not None:
            raise UnsafeFileError(reason)
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(descriptor)
