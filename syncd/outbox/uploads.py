"""Prepared uploads in the work folder: private (0600), hashed, checked before sending.

The bytes the image step made wait in ``.syncd-work/NNNNNNNN.upload`` until they are sent.
The file ends with a trailer holding the SHA-256 of the bytes before it, so the sender can
prove, right before the PUT, that what it sends is exactly what was prepared: a file
changed or damaged in between is thrown away and prepared again, never sent. Keeping the
hash in the file (not in the state) makes file and hash one atomic rename.
"""

from __future__ import annotations

import hashlib

from syncd.errors import PermanentFileError
from syncd.folders import read_own_file, write_file
from syncd.folders.handles import Folder
from syncd.state.model import OutboundRow

_TRAILER_MAGIC = b"\nsyncd-sha256:"
_TRAILER_BYTES = len(_TRAILER_MAGIC) + 32
# LivePerson takes at most 3,000,000 bytes; anything far larger in the work folder is not
# a prepared upload.
MAX_UPLOAD_FILE_BYTES = 8_000_000


class UploadDamagedError(PermanentFileError):
    """A prepared upload does not match its hash (changed or damaged since preparing)."""


def upload_name(row_id: int) -> str:
    """The work-folder name of a row's prepared upload."""
    return f"{row_id:08d}.upload"


def row_id_from_upload_name(name: str) -> int | None:
    """Inverse of ``upload_name``; None for names syncd did not make."""
    stem, dot, suffix = name.partition(".")
    if dot and suffix == "upload" and stem.isdigit():
        return int(stem)
    return None


def page_upload_name(document_id: int, page: int) -> str:
    """The work-folder name of the prepared upload of page ``page`` of ``document_id``."""
    return f"{document_id:08d}-p{page:04d}.upload"


def page_from_upload_name(name: str) -> tuple[int, int] | None:
    """Inverse of ``page_upload_name``: (document id, page); None for other names."""
    stem, dot, suffix = name.partition(".")
    document, separator, page = stem.partition("-p")
    if dot and suffix == "upload" and separator and document.isdigit() and page.isdigit():
        return int(document), int(page)
    return None


def upload_name_of(row: OutboundRow) -> str:
    """The upload name of ``row``: its own, or its page's for a page row."""
    if row.document_id is not None and row.page is not None:
        return page_upload_name(row.document_id, row.page)
    return upload_name(row.id)


def write_upload(work: Folder, row_id: int, data: bytes) -> None:
    """Write ``data`` and its hash as row ``row_id``'s upload (0600, through a fresh temp
    file, so a crash never leaves half a file). No fsync: a lost upload file after a power
    cut is simply prepared again. Raises OSError."""
    write_named_upload(work, upload_name(row_id), data)


def write_named_upload(work: Folder, name: str, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` and its hash as the upload called ``name`` (see ``write_upload``).

    ``durable`` (document pages, whose rows exist only once every page is written) fsyncs
    the file and the folder. Raises OSError.
    """
    trailer = _TRAILER_MAGIC + hashlib.sha256(data).digest()
    write_file(work, name, data + trailer, mode=0o600, durable=durable)


def read_upload(work: Folder, row_id: int) -> bytes:
    """The prepared bytes of row ``row_id``, checked against their hash.

    Raises FileNotFoundError when there is none, UploadDamagedError when the hash does not
    match, UnsafeFileError for a link or special file.
    """
    return read_named_upload(work, upload_name(row_id))


def read_named_upload(work: Folder, name: str) -> bytes:
    """The prepared bytes of the upload called ``name``, checked against their hash.

    Raises what ``read_upload`` raises.
    """
    content = read_own_file(work, name, MAX_UPLOAD_FILE_BYTES)
    data, trailer = content[:-_TRAILER_BYTES], content[-_TRAILER_BYTES:]
    if not trailer.startswith(_TRAILER_MAGIC) or len(content) < _TRAILER_BYTES:
        raise UploadDamagedError(f"{name} has no hash trailer")
    if hashlib.sha256(data).digest() != trailer[len(_TRAILER_MAGIC) :]:
        raise UploadDamagedError(f"{name} changed since it was prepared")
    return data
