"""The only module that imports ``requests``: JSON calls and byte transfers over HTTPS.

Every failure leaves this module as one of syncd's exception types:

* connection errors, timeouts, HTTP 429 and 5xx → ``TransientTransferError`` (with the
  server's ``Retry-After`` when it sent one; at least one second for a 429);
* a certificate that does not verify → ``TlsVerificationError`` (a configuration problem);
* any other status outside 2xx (redirects included: they are never followed, so a storage
  URL cannot be bounced to another host) → ``HttpStatusError``;
* a body that is not the JSON that was expected → ``ProtocolError``.

URLs may carry secrets in their query (Swift's ``temp_url_sig``), and ``requests`` puts the
full URL into its exception text. So no message built here contains a query string, and
library exceptions are not chained (``from None``): a logged traceback cannot leak them.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from syncd.errors import (
    PermanentFileError,
    ProtocolError,
    SyncdError,
    TlsVerificationError,
    TransientTransferError,
)
from syncd.rules.retry import parse_retry_after

# 429 without Retry-After: LivePerson asks for at least one second between retries.
RATE_LIMIT_MIN_WAIT_SECONDS = 1.0
BODY_EXCERPT_CHARACTERS = 200
STREAM_CHUNK_BYTES = 64 * 1024
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


def redact_url(url: str) -> str:
    """Return ``url`` without its query and fragment (they may carry signatures or tokens)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _sanitize(text: str) -> str:
    return _QUERY_IN_TEXT.sub("?<redacted>", text)


def _is_certificate_failure(error: BaseException) -> bool:
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


class HttpClient:
    """A ``requests.Session`` with TLS verification always on and syncd's error translation.

    ``ca_file`` adds a private CA bundle (it replaces the system store for this client);
    None trusts the system store. ``timeout_seconds`` bounds connecting and each read.
    Safe to share between threads for independent calls.
    """

    def __init__(self, ca_file: Path | None, timeout_seconds: float, user_agent: str) -> None:
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent
        # Verification is never switched off; a private CA is added, not a bypass.
        self._verify: str | bool = str(ca_file) if ca_file is not None else True
        self._timeout_seconds = timeout_seconds
        self._ca_file = ca_file

    def close(self) -> None:
        """Release pooled connections."""
        self._session.close()

    def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> JsonResponse:
        """GET ``url`` and parse a JSON answer; raises as described in the module docstring."""
        return self._json_call("GET", url, None, headers)

    def post_json(
        self, url: str, payload: Any = None, headers: Mapping[str, str] | None = None
    ) -> JsonResponse:
        """POST ``payload`` as JSON (no body when None) and parse a JSON answer."""
        return self._json_call("POST", url, payload, headers)

    def put_json(
        self, url: str, payload: Any, headers: Mapping[str, str] | None = None
    ) -> JsonResponse:
        """PUT ``payload`` as JSON and parse a JSON answer."""
        return self._json_call("PUT", url, payload, headers)

    def put_bytes(self, url: str, data: bytes, headers: Mapping[str, str] | None = None) -> int:
        """PUT ``data`` as the body and return the 2xx status."""
        with self._send("PUT", url, data=data, headers=headers, stream=False) as response:
            self._raise_for_status(response, url)
            return response.status_code

    def get_bytes(
        self, url: str, max_bytes: int, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """GET ``url`` streaming the body and return it.

        Raises ``ResponseTooLargeError`` as soon as the announced or received length passes
        ``max_bytes`` (the rest is not read), and ``TransientTransferError`` when the body is
        cut short.
        """
        with self._send("GET", url, headers=headers, stream=True) as response:
            self._raise_for_status(response, url)
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise ResponseTooLargeError(
                    f"the file is {announced} bytes, more than the limit of {max_bytes} bytes"
                )
            received = bytearray()
            for chunk in self._chunks(response, url):
                received.extend(chunk)
                if len(received) > max_bytes:
                    raise ResponseTooLargeError(
                        f"the file is larger than the limit of {max_bytes} bytes"
                    )
            return bytes(received)

    # --- internals ---------------------------------------------------------------------

    def _json_call(
        self, method: str, url: str, payload: Any, headers: Mapping[str, str] | None
    ) -> JsonResponse:
        merged = {"Accept": "application/json", **(headers or {})}
        with self._send(method, url, json=payload, headers=merged, stream=False) as response:
            self._raise_for_status(response, url)
            text = response.text
            try:
                parsed = response.json() if text.strip() else None
            except ValueError:
                raise ProtocolError(
                    f"{method} {redact_url(url)} answered {response.status_code} with a body "
                    f"that is not JSON: {text[:BODY_EXCERPT_CHARACTERS]!r}"
                ) from None
            return JsonResponse(response.status_code, response.headers, parsed)

    def _send(self, method: str, url: str, **options: Any) -> requests.Response:
        try:
            return self._session.request(
                method,
                url,
                timeout=self._timeout_seconds,
                verify=self._verify,
                allow_redirects=False,
                **options,
            )
        except requests.exceptions.RequestException as error:
            raise self._translate(method, url, error) from None

    def _chunks(self, response: requests.Response, url: str) -> Iterator[bytes]:
        try:
            yield from response.iter_content(chunk_size=STREAM_CHUNK_BYTES)
        except requests.exceptions.RequestException as error:
            raise self._translate("GET", url, error) from None

    def _translate(
        self, method: str, url: str, error: requests.exceptions.RequestException
    ) -> SyncdError:
        where = f"{method} {redact_url(url)}"
        if isinstance(error, requests.exceptions.SSLError) and _is_certificate_failure(error):
            hint = (
                f"the configured liveperson.ca_file ({self._ca_file}) does not trust it"
                if self._ca_file is not None
                else "if the server uses a private CA, set liveperson.ca_file to its bundle"
            )
            return TlsVerificationError(
                f"{where}: the server's TLS certificate could not be verified; {hint}"
            )
        transient = (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        )
        description = f"{type(error).__name__}: {_sanitize(str(error))}"
        if isinstance(error, transient):
            return TransientTransferError(f"{where} failed: {description}")
        return ProtocolError(f"{where} could not be sent: {description}")

    def _raise_for_status(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        excerpt = _sanitize(_excerpt(response))
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
            if status == 429:
                retry_after = max(retry_after or 0.0, RATE_LIMIT_MIN_WAIT_SECONDS)
            raise TransientTransferError(
                f"HTTP {status} from {redact_url(url)}: {excerpt!r}", retry_after
            )
        raise HttpStatusError(status, excerpt, url)


def _excerpt(response: requests.Response) -> str:
    # Bounded read: an error body is for humans and must not cost memory.
    try:
        head = next(response.iter_content(chunk_size=BODY_EXCERPT_CHARACTERS), b"")
    except requests.exceptions.RequestException:
        return ""
    if isinstance(head, str):
        return head[:BODY_EXCERPT_CHARACTERS]
    return head[:BODY_EXCERPT_CHARACTERS].decode("utf-8", errors="replace")
