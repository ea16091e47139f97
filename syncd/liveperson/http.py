"""The only module that imports ``requests``: JSON calls and byte transfers over HTTPS.

Every failure leaves this module as one of syncd's exception types:

* connection errors, timeouts, HTTP 429 and 5xx → ``TransientTransferError`` (with the
  server's ``Retry-After`` when it sent one; at least one second for a 429);
* a certificate that does not verify → ``TlsVerificationError`` (a configuration problem);
* any other status outside 2xx (redirects included: they are never followed, so a storage
  URL cannot be bounced to another host) → ``HttpStatusError``;
* a body that is not the JSON that was expected → ``ProtocolError``; one larger than
  ``MAX_JSON_ANSWER_BYTES`` or nested deeper than ``MAX_JSON_DEPTH`` → ``PeerLimitError``;
* a call that did not finish within its overall deadline → ``TransientTransferError``.

Deadlines. Each call also has an overall deadline (``http_deadline.py``), because a read
timeout bounds each read, not the call. JSON calls get ``timeout_seconds``; byte transfers
that plus one second per ``MIN_TRANSFER_BYTES_PER_SECOND`` of their size (the upload's, or
the download's limit).

URLs may carry secrets in their query (Swift's ``temp_url_sig``), and ``requests`` puts the
full URL into its exception text. So no message built here contains a query string, and
library exceptions are not chained (``from None``): a logged traceback cannot leak them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from syncd.errors import ProtocolError, SyncdError, TlsVerificationError, TransientTransferError
from syncd.liveperson.deadlines import shared_watchdog
from syncd.liveperson.http_answers import (
    JsonResponse,
    ResponseTooLargeError,
    is_certificate_failure,
    redact_url,
    sanitize,
    status_error,
)
from syncd.liveperson.http_deadline import CallSockets, current_call, overstayed_error, watch_pools
from syncd.liveperson.limits import (
    MAX_JSON_ANSWER_BYTES,
    MIN_TRANSFER_BYTES_PER_SECOND,
    PeerLimitError,
    load_json,
)
from syncd.rules.failure_text import describe_failure

Result = TypeVar("Result")

BODY_EXCERPT_CHARACTERS = 200
STREAM_CHUNK_BYTES = 64 * 1024
# An upload's answer is read up to this much (Swift's is empty); a longer one is dropped
# with its connection instead.
DRAINED_ANSWER_BYTES = 64 * 1024
# Connections kept alive per host: every route's uploads in its window may run at once, and
# a connection beyond the pool is closed after its request (a new handshake the next time).
CONNECTIONS_KEPT_PER_HOST = 32


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with pools whose connections register their sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watch_pools(self.poolmanager)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        # Any, as requests' stubs declare it: a urllib3 ProxyManager (a PoolManager).
        return watch_pools(super().proxy_manager_for(*args, **kwargs))


class HttpClient:
    """A ``requests.Session`` with TLS verification always on and syncd's error translation.

    ``ca_file`` adds a private CA bundle (it replaces the system store for this client);
    None trusts the system store. ``timeout_seconds`` bounds connecting and each read, and
    is the overall deadline of a JSON call (see the module docstring for transfers).
    Safe to share between threads for independent calls.
    """

    def __init__(self, ca_file: Path | None, timeout_seconds: float, user_agent: str) -> None:
        self._session = requests.Session()
        self._session.headers["User-Agent"] = user_agent
        for prefix in ("https://", "http://"):
            self._session.mount(prefix, _WatchedAdapter(pool_maxsize=CONNECTIONS_KEPT_PER_HOST))
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

        def status(response: requests.Response) -> int:
            self._raise_for_status(response, url)
            # Read the (short) answer so the connection goes back to the pool.
            with contextlib.suppress(ResponseTooLargeError):
                self._read_capped(response, url, DRAINED_ANSWER_BYTES)
            return response.status_code

        options = {"data": data, "headers": headers}
        return self._call("PUT", url, self._transfer_deadline(len(data)), status, options)

    def get_bytes(
        self, url: str, max_bytes: int, headers: Mapping[str, str] | None = None
    ) -> bytes:
        """GET ``url`` streaming the body and return it.

        Raises ``ResponseTooLargeError`` as soon as the announced or received length passes
        ``max_bytes`` (the rest is not read), and ``TransientTransferError`` when the body is
        cut short or does not arrive within the deadline.
        """

        def body(response: requests.Response) -> bytes:
            self._raise_for_status(response, url)
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > max_bytes:
                raise ResponseTooLargeError(
                    f"the file is {announced} bytes, more than the limit of {max_bytes} bytes"
                )
            return self._read_capped(response, url, max_bytes)

        options = {"headers": headers}
        return self._call("GET", url, self._transfer_deadline(max_bytes), body, options)

    # --- internals ---------------------------------------------------------------------

    def _transfer_deadline(self, size_bytes: int) -> float:
        return self._timeout_seconds + size_bytes / MIN_TRANSFER_BYTES_PER_SECOND

    def _read_capped(self, response: requests.Response, url: str, max_bytes: int) -> bytes:
        received = bytearray()
        for chunk in self._chunks(response, url):
            received.extend(chunk)
            if len(received) > max_bytes:
                raise ResponseTooLargeError(
                    f"the answer is larger than the limit of {max_bytes} bytes"
                )
        return bytes(received)

    def _json_call(
        self, method: str, url: str, payload: Any, headers: Mapping[str, str] | None
    ) -> JsonResponse:
        merged = {"Accept": "application/json", **(headers or {})}

        def answer(response: requests.Response) -> JsonResponse:
            self._raise_for_status(response, url)
            what = f"the answer to {method} {redact_url(url)}"
            announced = response.headers.get("Content-Length", "")
            if announced.isdigit() and int(announced) > MAX_JSON_ANSWER_BYTES:
                raise PeerLimitError(
                    f"{what} announces {announced} bytes, more than the limit of "
                    f"{MAX_JSON_ANSWER_BYTES}"
                )
            try:
                raw = self._read_capped(response, url, MAX_JSON_ANSWER_BYTES)
            except ResponseTooLargeError:
                raise PeerLimitError(
                    f"{what} is larger than the limit of {MAX_JSON_ANSWER_BYTES} bytes"
                ) from None
            parsed = load_json(raw, what, MAX_JSON_ANSWER_BYTES) if raw.strip() else None
            return JsonResponse(response.status_code, response.headers, parsed)

        options = {"json": payload, "headers": merged}
        return self._call(method, url, self._timeout_seconds, answer, options)

    def _call(
        self,
        method: str,
        url: str,
        deadline_seconds: float,
        read: Callable[[requests.Response], Result],
        options: Mapping[str, Any],
    ) -> Result:
        """Send, then ``read`` the answer, all within ``deadline_seconds``.

        The answer is always streamed: ``read`` decides how much of it is worth reading.
        """
        sockets = CallSockets()
        alarm = shared_watchdog().arm(deadline_seconds, sockets.abandon)
        current_call.sockets = sockets
        try:
            with self._send(method, url, stream=True, **options) as response:
                result = read(response)
        except (SyncdError, ValueError):
            if alarm.cancel():
                raise overstayed_error(method, url, deadline_seconds, sockets) from None
            raise
        finally:
            current_call.sockets = None
            alarm.cancel()
        if alarm.cancel():
            # What was read may be cut short by the shutdown: it is not the answer.
            raise overstayed_error(method, url, deadline_seconds, sockets)
        return result

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
        if isinstance(error, requests.exceptions.SSLError) and is_certificate_failure(error):
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
        # One clause ("connection refused by host:443"), not urllib3's nested repr.
        description = sanitize(describe_failure(error))
        if isinstance(error, transient):
            return TransientTransferError(f"{where} failed: {description}")
        return ProtocolError(f"{where} could not be sent: {description}")

    def _raise_for_status(self, response: requests.Response, url: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        excerpt = sanitize(_excerpt(response))
        retry_after = response.headers.get("Retry-After")
        raise status_error(status, excerpt, retry_after, url, time.time())


def _excerpt(response: requests.Response) -> str:
    # Bounded read: an error body is for humans and must not cost memory.
    try:
        head = next(response.iter_content(chunk_size=BODY_EXCERPT_CHARACTERS), b"")
    except requests.exceptions.RequestException:
        return ""
    if isinstance(head, str):
        return head[:BODY_EXCERPT_CHARACTERS]
    return head[:BODY_EXCERPT_CHARACTERS].decode("utf-8", errors="replace")
