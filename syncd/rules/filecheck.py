"""Pure checks on directory entries and file bytes, made before a scan is claimed.

Nothing here opens a file: callers pass ``os.stat_result`` values and byte strings, so the
rules can be tested without a file system and reused by the intake and by ``syncd check``.
"""

from __future__ import annotations

import stat

# The last bytes a complete file of each format ends with. A scanner that is still writing
# (or one that crashed mid-file) leaves a file without them.
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_PNG_IEND_CHUNK = b"IEND\xaeB`\x82"
_GIF_TRAILER = b"\x3b"
# A PDF ends with %%EOF (its last trailer); writers may add a line end or a little padding.
PDF_END_OF_FILE = b"%%EOF"
# How far from the end a PDF's %%EOF may be and still count (scanners pad to blocks).
PDF_END_WINDOW_BYTES = 1024

# Bytes of tail to hand to ``looks_complete``: enough for the PNG IEND chunk and for the
# few padding bytes some scanners append after a JPEG's EOI marker.
TAIL_BYTES = 64


def unsafe_entry_reason(entry_stat: object) -> str | None:
    """Return why a directory entry must never be read, or None when it is a plain file.

    ``entry_stat`` is an ``os.stat_result`` taken with ``follow_symlinks=False``. Symlinks
    could point outside the watched folder, FIFOs block readers forever, devices are not
    documents, and a file with several hard links may be changed through its other name
    while syncd sends it.
    """
    mode = getattr(entry_stat, "st_mode", 0)
    if stat.S_ISLNK(mode):
        return "symbolic link: syncd never follows links out of a watched folder"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO), not a file"
    if stat.S_ISSOCK(mode):
        return "socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device node, not a file"
    if stat.S_ISDIR(mode):
        return "directory, not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if getattr(entry_stat, "st_nlink", 1) > 1:
        return (
            f"file has {getattr(entry_stat, 'st_nlink', 0)} hard links; syncd only sends files "
            "that have a single name"
        )
    return None


def looks_complete(head: bytes, tail: bytes) -> bool | None:
    """Say whether an image file's last bytes show that it was written to the end.

    ``head`` is the start of the file (at least 8 bytes), ``tail`` its last ``TAIL_BYTES``.
    Returns True or False for JPEG, PNG, GIF and PDF, and None for anything else (the image
    step decides what to do with content it does not recognise). False only says the end
    marker is not among the last bytes: the intake then walks the whole file, since a
    complete photo may carry a trailer after it. This check is cheap, which is why it runs
    before the claim: a half-written scan must stay in the outbox.
    """
    if head.startswith(b"%PDF-"):
        return PDF_END_OF_FILE in tail
    if head.startswith(b"\xff\xd8\xff"):
        # Some devices pad after EOI with zeros or newlines; accept EOI among the last bytes.
        return _JPEG_END_OF_IMAGE in tail.rstrip(b"\x00\r\n ")[-4:] or tail.endswith(
            _JPEG_END_OF_IMAGE
        )
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return tail.endswith(_PNG_IEND_CHUNK)
    if head.startswith((b"GIF87a", b"GIF89a")):
        return tail.endswith(_GIF_TRAILER)
    return None


def same_file_version(before: object, after: object) -> bool:
    """True when two stat results describe the same inode with the same size and mtime.

    Used to make sure a file was not replaced or changed between settling and claiming.
    """
    return (
        getattr(before, "st_ino", None) == getattr(after, "st_ino", None)
        and getattr(before, "st_dev", None) == getattr(after, "st_dev", None)
        and getattr(before, "st_size", None) == getattr(after, "st_size", None)
        and getattr(before, "st_mtime_ns", None) == getattr(after, "st_mtime_ns", None)
    )
