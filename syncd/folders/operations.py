"""File operations inside route folders: relative to an open folder, never following links.

Every move, write and read syncd makes in a folder it shares with the scanners group goes
through here, so the rules live in one place:

* entries are named relative to a ``Folder`` descriptor (``folders.handles``), never by a
  path resolved again at each use;
* a move never replaces an existing name (``renameat2(RENAME_NOREPLACE)``: a rename, so
  ``fs.protected_hardlinks`` does not stop it for files syncd does not own);
* files syncd writes are made under a fresh random name with ``O_CREAT | O_EXCL |
  O_NOFOLLOW`` (a planted symlink or file at a predictable name is never written through),
  then renamed into place;
* files are opened with ``O_NOFOLLOW | O_NONBLOCK`` so a symlink or FIFO swapped in at the
  last moment is refused instead of followed or blocked on.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from dataclasses import dataclass

from syncd.errors import PermanentFileError, UnsafeFileError
from syncd.folders.handles import Folder, rename_noreplace
from syncd.rules import candidate_names, fitting_name
from syncd.rules.filecheck import TAIL_BYTES, unsafe_entry_reason

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Prefix of every temp file syncd makes; hidden, so the intake ignores it.
TEMP_PREFIX = ".syncd-"
_CHUNK_BYTES = 1 << 20


def move_without_clobber(source: Folder, name: str, target: Folder, wanted_name: str) -> str:
    """Move entry ``name`` of ``source`` into ``target`` as ``wanted_name`` (shortened to
    fit, numbered when taken); return the name it got. Fsyncs both folders.

    The entry moves as it is (a symlink stays a symlink, nothing is opened). Raises
    FileNotFoundError when ``name`` is gone, OSError for other refusals.
    """
    for candidate in candidate_names(fitting_name(wanted_name)):
        try:
            rename_noreplace(source.fd, name, target.fd, candidate)
        except FileExistsError:
            continue
        target.fsync()
        if source.fd != target.fd:
            source.fsync()
        return candidate
    raise OSError(errno.EEXIST, f"no free name for {wanted_name!r} in {target.path}")


def create_temp_file(folder: Folder, tag: str, mode: int = 0o600) -> tuple[int, str]:
    """Create a new, empty file with a random hidden name in ``folder``; return its
    descriptor (open for writing) and name. Nothing existing is ever opened."""
    while True:
        name = f"{TEMP_PREFIX}{tag}-{secrets.token_hex(8)}.tmp"
        try:
            return os.open(name, _CREATE_FLAGS, mode, dir_fd=folder.fd), name
        except FileExistsError:
            continue  # someone planted that exact name; draw another


def write_all(descriptor: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``descriptor``."""
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def write_file(
    folder: Folder, name: str, data: bytes, *, mode: int = 0o600, durable: bool = True
) -> None:
    """Write ``data`` as ``name`` in ``folder`` through a fresh temp file, replacing the
    *entry* ``name`` if one exists (a symlink there is replaced, never followed).

    Raises OSError (the temp file is removed).
    """
    descriptor, temporary = create_temp_file(folder, "write", mode)
    try:
        try:
            write_all(descriptor, data)
            if durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder.fd)
        raise
    if durable:
        folder.fsync()


def remove_entry(folder: Folder, name: str) -> None:
    """Remove file entry ``name`` (a symlink itself, never its target); missing is fine.

    Raises IsADirectoryError for a folder, OSError for other refusals.
    """
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=folder.fd)


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


def open_entry(folder: Folder, name: str) -> int:
    """Open entry ``name`` for reading, refusing a symlink, FIFO, device or hard-linked file.

    Checked on the open descriptor, so nothing can be swapped in between check and read.
    Raises UnsafeFileError, FileNotFoundError, PermanentFileError (cannot be opened).
    """
    try:
        descriptor = os.open(name, _OPEN_FLAGS, dir_fd=folder.fd)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeFileError(
                "symbolic link: syncd never follows links out of a watched folder"
            ) from error
        raise PermanentFileError(f"cannot read the file: {error.strerror}") from error
    try:
        reason = unsafe_entry_reason(os.fstat(descriptor))
        if reason is not None:
            raise UnsafeFileError(reason)
        # Regular files ignore O_NONBLOCK; clear it anyway so reads behave normally.
        os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def read_entry(folder: Folder, name: str, max_bytes: int) -> FileRead:
    """Read and hash entry ``name`` of ``folder``, streaming (memory stays at one chunk).

    Raises UnsafeFileError (see ``open_entry``), PermanentFileError when it is larger than
    ``max_bytes`` or cannot be read, FileNotFoundError when it vanished.
    """
    descriptor = open_entry(folder, name)
    try:
        info = os.fstat(descriptor)
        if info.st_size > max_bytes:
            raise PermanentFileError(
                f"file is {info.st_size} bytes, more than the {max_bytes} bytes syncd accepts"
            )
        digest = hashlib.sha256()
        head = b""
        window = b""
        while chunk := os.read(descriptor, _CHUNK_BYTES):
            if len(head) < 64:
                head += chunk[: 64 - len(head)]
            digest.update(chunk)
            window = (window[-TAIL_BYTES:] + chunk[-TAIL_BYTES:])[-TAIL_BYTES:]
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


def read_own_file(folder: Folder, name: str, max_bytes: int) -> bytes:
    """Read a whole file of syncd's work folder (a prepared upload: at most a few MB).

    Raises UnsafeFileError (see ``open_entry``), PermanentFileError when it is larger than
    ``max_bytes``, FileNotFoundError when missing.
    """
    descriptor = open_entry(folder, name)
    try:
        size = os.fstat(descriptor).st_size
        if size > max_bytes:
            raise PermanentFileError(f"{name} is {size} bytes, more than {max_bytes}")
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` as hex."""
    return hashlib.sha256(data).hexdigest()
