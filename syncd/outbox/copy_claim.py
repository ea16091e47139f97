"""Claiming by copy: for a scan syncd may read but not move out of the outbox.

In the layout the unit describes (2770, not sticky) every scan can be renamed into the work
folder. Where the outbox is sticky, or a file is otherwise not syncd's to move, the bytes
are copied into the work folder instead (checked against the hash taken when the file
settled) and sent from there. The original stays where the scanner left it; its row
remembers its version, so it is never sent again, and ``syncd status`` says it could not
be archived and why.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os

from syncd.errors import PermanentFileError
from syncd.folders import Folder, create_temp_file, open_entry, rename_noreplace, write_all

# The errors that mean "not yours to move" rather than "gone" or "broken".
NOT_MOVABLE_ERRNOS = frozenset({errno.EPERM, errno.EACCES})
_CHUNK_BYTES = 1 << 20


def claim_by_copy(outbox: Folder, name: str, work: Folder, claimed_name: str, sha256: str) -> None:
    """Copy outbox entry ``name`` into ``work`` as ``claimed_name`` (0600), streaming.

    Raises PermanentFileError when the bytes are not the ones that settled (changed since),
    UnsafeFileError for a link or special file, FileExistsError when ``claimed_name`` is
    taken, OSError otherwise. Nothing is left behind on failure.
    """
    source = open_entry(outbox, name)
    target, temporary = create_temp_file(work, "copy")
    try:
        digest = hashlib.sha256()
        try:
            while chunk := os.read(source, _CHUNK_BYTES):
                digest.update(chunk)
                write_all(target, chunk)
            os.fsync(target)
        finally:
            os.close(target)
            os.close(source)
        if digest.hexdigest() != sha256:
            raise PermanentFileError("the file changed while it was being copied")
        rename_noreplace(work.fd, temporary, work.fd, claimed_name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=work.fd)
        raise
    work.fsync()


def original_left_in_outbox(outbox: Folder, name: str, inode: int) -> bool:
    """True when the outbox still holds the very file (same inode) a row was copied from."""
    try:
        return os.stat(name, dir_fd=outbox.fd, follow_symlinks=False).st_ino == inode
    except OSError:
        return False
