"""Folders held open by descriptor, and the no-clobber rename the kernel offers for them.

A folder shared with the ``scanners`` group can have any entry replaced between two calls
by anyone in that group: a name checked a moment ago may be a symlink now. So syncd opens
each route folder once, with ``O_DIRECTORY | O_NOFOLLOW``, and every later operation names
an entry *relative to that descriptor* (``openat``, ``renameat2``, ``unlinkat``): a folder
swapped for a symlink afterwards is not followed, and ``verify`` notices the swap.

Python has no ``renameat2``; it is called from libc through ``ctypes``. Some file systems
(several network ones) refuse ``RENAME_NOREPLACE`` with EINVAL; the fallback is
``linkat`` + ``unlinkat`` (which never replaces a name either), and where the kernel refuses
the link too (``fs.protected_hardlinks`` for a file syncd does not own) a plain rename after
checking the target name is free: the one narrow race left, on file systems that offer
nothing better.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import stat
from pathlib import Path

from syncd.errors import FolderChangedError

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# syncd.service has RestrictSUIDSGID=yes, whose filter fails any mkdir asking for a setuid,
# setgid or sticky bit with EPERM, even for a folder that exists (found by tests/system). A
# new folder inherits the setgid bit of a setgid parent anyway, so it is never asked for.
_PLAIN_MODE_BITS = 0o777
_RENAME_NOREPLACE = 1
# errno values meaning "this file system or kernel cannot do RENAME_NOREPLACE".
_NOREPLACE_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM})

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    _renameat2.argtypes += [ctypes.c_uint]
    _renameat2.restype = ctypes.c_int


def renameat2_noreplace(source_fd: int, source: str, target_fd: int, target: str) -> None:
    """``renameat2(..., RENAME_NOREPLACE)``: raises OSError (FileExistsError when taken).

    Raises ``OSError(ENOSYS)`` when libc has no ``renameat2``.
    """
    if _renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    result = _renameat2(source_fd, os.fsencode(source), target_fd, os.fsencode(target), 1)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def rename_noreplace(source_fd: int, source: str, target_fd: int, target: str) -> None:
    """Move entry ``source`` (relative to ``source_fd``) to ``target`` without replacing.

    Never follows a symlink: the entry itself moves. Raises FileExistsError when ``target``
    exists, FileNotFoundError when ``source`` is gone, OSError otherwise.
    """
    try:
        renameat2_noreplace(source_fd, source, target_fd, target)
        return
    except OSError as error:
        if error.errno not in _NOREPLACE_UNSUPPORTED:
            raise
    rename_noreplace_fallback(source_fd, source, target_fd, target)


def rename_noreplace_fallback(source_fd: int, source: str, target_fd: int, target: str) -> None:
    """``rename_noreplace`` for file systems without ``RENAME_NOREPLACE`` (same errors)."""
    try:
        os.link(source, target, src_dir_fd=source_fd, dst_dir_fd=target_fd, follow_symlinks=False)
    except PermissionError:
        # protected_hardlinks: the file is not ours to link. Check, then rename.
        if entry_exists(target_fd, target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from None
        os.rename(source, target, src_dir_fd=source_fd, dst_dir_fd=target_fd)
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(source, dir_fd=source_fd)


def entry_exists(folder_fd: int, name: str) -> bool:
    """True when ``name`` (any type, a dangling symlink included) exists in the folder."""
    try:
        os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


class Folder:
    """A directory opened once, by descriptor; ``path`` is only what it was opened as.

    Close it with ``close`` (or use it as a context manager).
    """

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self.fd = descriptor
        info = os.fstat(descriptor)
        self.identity = (info.st_dev, info.st_ino)
        self.owner_uid = info.st_uid

    @classmethod
    def open(cls, path: Path, *, create_mode: int | None = None) -> Folder:
        """Open ``path`` (its last component must not be a symlink).

        With ``create_mode`` the folder is made first when missing (parents too), with its
        permission bits only (setgid comes from a setgid parent). Raises
        FolderChangedError when ``path`` is a symlink or not a folder, OSError otherwise.
        """
        if create_mode is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, create_mode & _PLAIN_MODE_BITS)
        return cls(path, _open_directory(path, None, str(path)))

    @classmethod
    def open_child(cls, parent: Folder, name: str, *, create_mode: int | None = None) -> Folder:
        """Open folder ``name`` inside ``parent`` by descriptor (made when missing with
        ``create_mode``). Raises FolderChangedError for a symlink or a non-folder."""
        if create_mode is not None:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, create_mode & _PLAIN_MODE_BITS, dir_fd=parent.fd)
        path = parent.path / name
        return cls(path, _open_directory(name, parent.fd, str(path)))

    def verify(self) -> None:
        """Raise FolderChangedError unless ``path`` still names the folder that was opened."""
        try:
            info = os.stat(self.path, follow_symlinks=False)
        except OSError as error:
            raise FolderChangedError(
                f"{self.path} is gone ({error.strerror}); it was replaced or removed while "
                "syncd was using it"
            ) from error
        if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino) != self.identity:
            what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "another entry"
            raise FolderChangedError(
                f"{self.path} was replaced by {what} while syncd was using it; check who "
                "changed it, then restart syncd"
            )

    def fsync(self) -> None:
        """Make renames and links in this folder durable."""
        os.fsync(self.fd)

    def close(self) -> None:
        """Close the descriptor; calling it again is harmless."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _open_directory(name: str | Path, parent_fd: int | None, shown: str) -> int:
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise FolderChangedError(
                f"{shown} is not a folder (a symbolic link or a file); syncd refuses to follow "
                "it. Remove it so syncd can make the folder"
            ) from error
        raise
