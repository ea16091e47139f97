"""What an HTTPS call hands its caller, and the redaction that keeps secrets out of it.

A 2xx JSON answer is a ``JsonResponse``; a status that is neither 2xx nor transient is an
``HttpStatusError``; a streamed body over the caller's limit is a ``ResponseTooLargeError``.
URLs may carry secrets in their query (Swift's ``temp_url_sig``), so every message built from
a URL or a library's error text goes through ``redact_url`` or ``sanitize`` first.
``status_error`` decides which error a status outside 2xx becomes. Pure: ``http.py`` is the
adapter that reads the answers and raises these.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from syncd.errors import PermanentFileError, SyncdError, TransientTransferError
from syncd.rules.retry import parse_retry_after

# 429 without Retry-After: LivePerson asks for at least one second between retries.
RATE_LIMIT_MIN_WAIT_SECONDS = 1.0
_QUERY_IN_TEXT = re.compile(r"\?[^\s'\")]*")


class HttpStatusError(SyncdError):
    """The server answered with a status that is neither 2xx nor transient (429/5xx).

    ``status`` is the HTTP status and ``body_excerpt`` the start of the body (for humans).
    """

    def __init__(self, status: int, body_excerpt: str, url: str = "") -> None:
        self.status = status
        self.body_excerpt = body_excerpt
        where = f" from {redact_url(url)}" if url else ""
        super().__init__(f"HTTP {status}{where}: {body_excerpt!r}")


class ResponseTooLargeError(PermanentFileError):
    """A streamed body was longer than the caller's ``max_bytes``; reading stopped there."""


@dataclass(frozen=True)
class JsonResponse:
    """A 2xx answer: ``status``, ``headers`` (case-insensitive lookup) and parsed ``json``.

    ``json`` is None when the body is empty.
    """

    status: int
    headers: Mapping[str, str]
    json: Any


def status_error(
    status: int, excerpt: str, retry_after: str | None, url: str, now: float
) -> SyncdError:
    """The error a non-2xx ``status`` becomes: ``TransientTransferError`` for 429 and 5xx
    (waiting as ``retry_after``, the header's text at ``now``, asks; at least one second
    for a 429), ``HttpStatusError`` for any other. ``excerpt`` is the body's start, redacted.
    """
    if status == 429 or status >= 500:
        wait_seconds = parse_retry_after(retry_after, now)
        if status == 429:
            wait_seconds = max(wait_seconds or 0.0, RATE_LIMIT_MIN_WAIT_SECONDS)
        return TransientTransferError(
            f"HTTP {status} from {redact_url(url)}: {excerpt!r}", wait_seconds
        )
    return HttpStatusError(status, excerpt, url)


def redact_url(url: str) -> str:
    """Return ``url`` without its query and fragment (they may carry signatures or tokens)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def sanitize(text: str) -> str:
    """Return ``text`` with every query string in it (``?...``) replaced by ``?<redacted>``."""
    return _QUERY_IN_TEXT.sub("?<redacted>", text)


def is_certificate_failure(error: BaseException) -> bool:
    """True when ``error``, or any error nested in it, is a failed certificate verification."""
    # requests → urllib3 → ssl nest their errors in args, ``reason`` and ``__cause__``.
    pending: list[object] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        pending.extend(current.args)
        pending.extend([getattr(current, "reason", None), current.__cause__, current.__context__])
    return "CERTIFICATE_VERIFY_FAILED" in str(error)
