"""Which kind of problem an exception is: ``kind_of`` (pure).

It lives beside the LivePerson client because whether an error is about LivePerson is the
client's own judgement (``retrying.is_link_failure``) and some of the classes are the
client's (``HttpStatusError``, the storage errors). The outbox, the inbox and the daemon ask
it when they record a route's last error with the exception in hand.
"""

from __future__ import annotations

import errno

from syncd.errors import (
    AuthenticationError,
    ClientClosedError,
    ConfigError,
    FolderChangedError,
    IdentityRejectedError,
    PermanentFileError,
    ProtocolError,
    RequestRejectedError,
    StateError,
    StillWritingError,
    TlsVerificationError,
    TransientError,
    UnsafeRemoteError,
    UploadUrlExpiredError,
)
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.retrying import is_link_failure
from syncd.liveperson.storage import DownloadUrlExpiredError, StoredFileMissingError
from syncd.rules.error_kinds import ErrorKind, log_kind

_CONTENT_TOO_LARGE = 413
_PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})

# Checked in this order: the first class ``error`` is an instance of decides. Subclasses
# come before their bases (a refused identity is an authentication error too).
_BY_CLASS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorKind], ...] = (
    ((StateError, FolderChangedError), ErrorKind.STORAGE),
    ((IdentityRejectedError, ConfigError), ErrorKind.ACCOUNT),
    ((DownloadUrlExpiredError, StoredFileMissingError), ErrorKind.INBOUND),
    ((PermanentFileError, StillWritingError), ErrorKind.FILE),
    (
        (
            TransientError,
            AuthenticationError,
            TlsVerificationError,
            RequestRejectedError,
            HttpStatusError,
            UploadUrlExpiredError,
            ProtocolError,
            UnsafeRemoteError,
            ClientClosedError,
            ConnectionError,
        ),
        ErrorKind.LIVEPERSON,
    ),
)


def kind_of(error: BaseException) -> ErrorKind:
    """The kind of problem ``error`` is.

    A link failure (``is_link_failure``: a lost or refused connection, a timeout, a 429 or
    5xx) is ``liveperson`` whatever step it interrupted; the state database, a swapped route
    folder, ENOSPC, EDQUOT or EIO are ``storage``; EACCES, EPERM and EROFS ``permission``;
    a refused identity or the account's configuration ``account``; a file that can never be
    sent (not an image, unsafe, too large, damaged, or refused by storage with 413) ``file``;
    a file an agent sent that storage no longer has ``inbound``; any other answer or
    refusal from LivePerson ``liveperson``; another ``OSError`` ``storage`` (the local file
    system); anything else ``other``. Pure; raises nothing.
    """
    if is_link_failure(error):
        return ErrorKind.LIVEPERSON
    if isinstance(error, HttpStatusError) and error.status == _CONTENT_TOO_LARGE:
        return ErrorKind.FILE  # storage refused this file's size, not the way to it
    for classes, kind in _BY_CLASS:
        if isinstance(error, classes):
            return kind
    if isinstance(error, OSError):
        # ENOSPC, EDQUOT, EIO and the rest: the local file system, not one file's content.
        return ErrorKind.PERMISSION if error.errno in _PERMISSION_ERRNOS else ErrorKind.STORAGE
    return ErrorKind.OTHER


def log_kind_of(error: BaseException) -> dict[str, ErrorKind]:
    """The ``extra`` of a log call about ``error``: its kind (``kind_of``). Raises nothing."""
    return log_kind(kind_of(error))
