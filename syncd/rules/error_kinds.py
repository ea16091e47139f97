"""The kinds of problem a route's last error is filed under (pure).

A kind is what an alert or a dashboard groups by (``syncd_last_error_info{kind}``). It is
decided by the code that records the error, which knows what failed, never from the
wording of the message: wording changes, the failing step does not. The set is closed;
adding a kind is a change of the metrics' meaning and belongs in README's metrics section.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What a recorded problem was about; the value is the metric's ``kind`` label.

    * ``account``: the LivePerson account or identity configuration (an unknown account, an
      identity LivePerson refuses as configured) — a person must change the configuration;
    * ``permission``: the operating system refused access (EACCES, EPERM, a read-only file
      system) to a folder or file;
    * ``storage``: local storage (a full disk or quota, an I/O error, the state database,
      a route folder swapped or gone);
    * ``file``: one outbox file itself (not an image, unreadable, too large, unsafe);
    * ``inbound``: a file an agent sent could not be brought into the inbox;
    * ``liveperson``: LivePerson or the way to it (a refused or lost connection, a timeout,
      an HTTP or request error, a refused token);
    * ``other``: anything else (a bug, a surprise).
    """

    ACCOUNT = "account"
    PERMISSION = "permission"
    STORAGE = "storage"
    FILE = "file"
    INBOUND = "inbound"
    LIVEPERSON = "liveperson"
    OTHER = "other"


# The attribute of a logging record that carries its kind (``logger.warning(...,
# extra=log_kind(kind))``): the daemon records each route's newest logged problem as its last
# error (``service/route_errors.py``) and takes the kind from there.
LOG_RECORD_KIND = "error_kind"


def log_kind(kind: ErrorKind) -> dict[str, ErrorKind]:
    """The ``extra`` of a log call whose problem is of ``kind``. Pure; raises nothing."""
    return {LOG_RECORD_KIND: kind}


def parse_error_kind(text: str | None) -> ErrorKind | None:
    """The kind stored as ``text``; None for None (a row recorded before kinds were stored)
    or for a value this version does not know. Raises nothing."""
    if text is None:
        return None
    try:
        return ErrorKind(text)
    except ValueError:
        return None
