"""The immutable flag (``chattr +i``): a file or folder even root cannot rename, move into or
delete, for tests of what syncd does when the file system refuses a move."""

from __future__ import annotations

import array
import fcntl
import os
from pathlib import Path

FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x00000010


def set_immutable(path: Path, immutable: bool) -> bool:
    """Set or clear ``path``'s immutable flag; False where the file system or user refuses."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        flags = array.array("l", [0])
        fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, flags, True)
        flags[0] = flags[0] | FS_IMMUTABLE_FL if immutable else flags[0] & ~FS_IMMUTABLE_FL
        fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, flags, True)
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return True
