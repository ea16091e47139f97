"""Proof that nothing outside the watched folders is read: real inotify on "outside" paths.

``OutsideGuard`` puts kernel inotify watches (through ctypes, no library in between) on a
folder and on each file in it, before the daemon starts. A watch on a file fires for its
inode whatever name is used to reach it, so a hard link in an outbox that is opened through
the outbox name is still reported here. Events queue in the kernel until ``events()`` reads
them, so no thread is needed.

The guard must be armed after the test made the outside files and before the daemon runs;
the test itself must not open those files while it is armed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

IN_ACCESS = 0x00000001
IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_OPEN = 0x00000020
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# Reads and writes. IN_ATTRIB is left out on purpose: moving a hard link out of an outbox
# (link + unlink, which never opens the file) changes the inode's link count, an attribute.
READ_OR_WRITE = IN_OPEN | IN_ACCESS | IN_MODIFY
# Also any change to the folder's entries.
ANY_TOUCH = READ_OR_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO

_NAMES = {
    IN_ACCESS: "ACCESS",
    IN_MODIFY: "MODIFY",
    IN_ATTRIB: "ATTRIB",
    IN_OPEN: "OPEN",
    IN_MOVED_FROM: "MOVED_FROM",
    IN_MOVED_TO: "MOVED_TO",
    IN_CREATE: "CREATE",
    IN_DELETE: "DELETE",
    IN_Q_OVERFLOW: "Q_OVERFLOW",
}
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


@dataclass(frozen=True)
class Touch:
    """One inotify event on a guarded path: ``path`` (the watched path, plus the entry
    name for events on a folder's children) and the event ``kinds``.
    """

    path: Path
    kinds: tuple[str, ...]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class OutsideGuard:
    """Kernel watches on ``folder`` and every entry in it (see the module docstring).

    ``mask`` is what counts as a touch (``READ_OR_WRITE`` by default). Raises OSError when
    inotify is unavailable.
    """

    def __init__(self, folder: Path, mask: int = READ_OR_WRITE) -> None:
        self._libc = _libc()
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_init1: {os.strerror(code)}")
        self._watches: dict[int, Path] = {}
        self._seen: list[Touch] = []
        for path in [folder, *sorted(folder.iterdir())]:
            self._add(path, mask)

    def _add(self, path: Path, mask: int) -> None:
        # IN_DONT_FOLLOW (0x02000000): watch a symlink itself, never what it points at.
        descriptor = self._libc.inotify_add_watch(self._fd, os.fsencode(path), mask | 0x02000000)
        if descriptor < 0:
            code = ctypes.get_errno()
            raise OSError(code, f"inotify_add_watch({path}): {os.strerror(code)}")
        self._watches[descriptor] = path

    @property
    def watched(self) -> list[Path]:
        """The guarded paths."""
        return sorted(self._watches.values())

    def events(self) -> list[Touch]:
        """Every event since the guard was armed (cumulative), oldest first."""
        while True:
            try:
                buffer = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno == errno.EAGAIN:
                    break
                raise
            offset = 0
            while offset < len(buffer):
                descriptor, mask, _cookie, length = _HEADER.unpack_from(buffer, offset)
                offset += _HEADER.size
                name = buffer[offset : offset + length].rstrip(b"\0")
                offset += length
                base = self._watches.get(descriptor, Path("?"))
                path = base / os.fsdecode(name) if name else base
                kinds = tuple(label for bit, label in _NAMES.items() if mask & bit)
                if kinds:
                    self._seen.append(Touch(path, kinds))
        return list(self._seen)

    def close(self) -> None:
        """Drop every watch (closing the descriptor does it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OutsideGuard:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
