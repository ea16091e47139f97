"""Swift temp-URL transfers (LivePerson file storage), pinned to the CSDS ``swift`` host.

LivePerson hands out a ``relativePath`` plus ``temp_url_sig``/``temp_url_expires``; the host
is not part of the answer. syncd builds the URL from the host the Domain API gave for the
``swift`` service and nothing else, and refuses any ``relativePath`` that could steer the
request elsewhere (scheme, host, ``..``, ``//``, query, fragment, escapes, control
characters) before a single byte is sent.

The signature is a credential until it expires: it never appears in a log line or an error.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from syncd.errors import PermanentFileError, UnsafeRemoteError, UploadUrlExpiredError
from syncd.liveperson.domains import validate_host_port
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.response_bodies import TempUrl
from syncd.liveperson.retrying import RetryPolicy, retry_transient

logger = logging.getLogger(__name__)

MAX_RELATIVE_PATH_CHARACTERS = 1024
# /v1/AUTH_<swift account>/<container>/<object>, the object possibly in "folders".
_RELATIVE_PATH = re.compile(
    r"^/v1/AUTH_[A-Za-z0-9_.-]+/[A-Za-z0-9_.~-]+/[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*$"
)
# Swift accepts hex HMACs (40/64/128 characters) or "<digest>:<base64>".
_SIGNATURE = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$")
_SIGNATURE_PREFIXED = re.compile(r"^(?:sha1|sha256|sha512):[A-Za-z0-9_+/=-]{20,200}$")
_EXPIRES = re.compile(r"^[0-9]{1,12}$")


class DownloadUrlExpiredError(UploadUrlExpiredError):
    """Swift refused a download temp URL (401): ask LivePerson for a new one."""


class StoredFileMissingError(PermanentFileError):
    """Swift has no object at that path (404); asking again will not make it appear."""


def check_temp_url(temp_url: TempUrl) -> None:
    """Raise UnsafeRemoteError unless ``temp_url`` has a plain Swift object path.

    Accepted: ``/v1/AUTH_<x>/<container>/<object>`` with letters, digits, ``_ . ~ -`` in each
    segment; no ``.``/``..`` segment; a hex (or ``digest:base64``) signature; digit expiry.
    """
    path = temp_url.relative_path
    if len(path) > MAX_RELATIVE_PATH_CHARACTERS or not _RELATIVE_PATH.fullmatch(path):
        raise UnsafeRemoteError(f"refusing storage path {path[:120]!r}: not /v1/AUTH_x/c/o")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise UnsafeRemoteError(f"refusing storage path {path[:120]!r}: dot segment")
    signature = temp_url.signature
    if not (_SIGNATURE.fullmatch(signature) or _SIGNATURE_PREFIXED.fullmatch(signature)):
        raise UnsafeRemoteError("refusing a storage URL whose signature is not hex")
    if not _EXPIRES.fullmatch(temp_url.expires):
        raise UnsafeRemoteError("refusing a storage URL whose expiry is not a Unix time")


class SwiftStorage:
    """PUT and GET of LivePerson hosted files through Swift temp URLs.

    ``swift_host_port`` is the CSDS ``swift`` baseURI and ``scheme`` ``https`` (``http`` only
    with the loopback emulator). Transient failures (429, 5xx, network) are retried in the
    call under ``retry_policy``; a 401 is not: the URL expired and only LivePerson can
    issue a new one.
    """

    def __init__(
        self,
        http: HttpClient,
        swift_host_port: str,
        scheme: str,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if scheme not in ("https", "http"):
            raise ValueError(f"storage scheme must be https or http, not {scheme!r}")
        self._http = http
        self._host_port = validate_host_port(swift_host_port, "swift host")
        self._scheme = scheme
        self._retry_policy = retry_policy or RetryPolicy()

    def url_for(self, temp_url: TempUrl) -> str:
        """Return the full URL for ``temp_url`` on the pinned host; raises UnsafeRemoteError."""
        check_temp_url(temp_url)
        url = urlunsplit(
            (self._scheme, self._host_port, temp_url.relative_path, urlencode(temp_url.query()), "")
        )
        # Belt and braces: whatever the path was, the URL must still point at the pinned host.
        parts = urlsplit(url)
        if parts.scheme != self._scheme or parts.netloc != self._host_port or parts.username:
            raise UnsafeRemoteError("the storage URL does not point at the configured host")
        return url

    def upload(self, temp_url: TempUrl, data: bytes) -> None:
        """PUT ``data`` to the object of ``temp_url``; Swift answers 201 Created.

        Raises UnsafeRemoteError (path refused, nothing sent), UploadUrlExpiredError (401:
        ask for a new URL), TransientTransferError (still failing after the in-call
        retries), HttpStatusError (any other refusal), TlsVerificationError.
        """
        url = self.url_for(temp_url)

        def put_once() -> None:
            try:
                status = self._http.put_bytes(url, data)
            except HttpStatusError as error:
                if error.status == 401:
                    raise UploadUrlExpiredError(
                        f"storage refused the upload URL for {temp_url.relative_path} (401)"
                    ) from None
                raise
            if status != 201:
                raise HttpStatusError(status, "expected 201 Created from the upload", url)

        retry_transient(self._retry_policy, "storage upload")(put_once)
        logger.info("uploaded %d bytes to %s", len(data), temp_url.relative_path)

    def download(self, temp_url: TempUrl, max_bytes: int) -> bytes:
        """GET the object of ``temp_url`` and return its bytes (at most ``max_bytes``).

        Raises UnsafeRemoteError (nothing sent), DownloadUrlExpiredError (401: ask again),
        StoredFileMissingError (404), ResponseTooLargeError (over ``max_bytes``; reading
        stops there), TransientTransferError, HttpStatusError, TlsVerificationError.
        """
        url = self.url_for(temp_url)

        def get_once() -> bytes:
            try:
                return self._http.get_bytes(url, max_bytes)
            except HttpStatusError as error:
                if error.status == 401:
                    raise DownloadUrlExpiredError(
                        f"storage refused the download URL for {temp_url.relative_path} (401)"
                    ) from None
                if error.status == 404:
                    raise StoredFileMissingError(
                        f"the file {temp_url.relative_path} is not in LivePerson's storage"
                    ) from None
                raise

        data: bytes = retry_transient(self._retry_policy, "storage download")(get_once)
        return data
