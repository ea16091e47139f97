"""Storage URLs stay on the pinned host, hosts from CSDS are plain, and secrets stay out of errors.

The "storage host" here is a real listening socket on loopback: a refused path must not even
open a connection to it, while a good path does.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from syncd.errors import ProtocolError, TransientTransferError, UnsafeRemoteError
from syncd.liveperson.domains import DomainResolver, validate_host_port
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import redact_url
from syncd.liveperson.response_bodies import TempUrl
from syncd.liveperson.retrying import RetryPolicy
from syncd.liveperson.storage import SwiftStorage
from syncd.rules.retry import parse_retry_after

GOOD_PATH = (
    "/v1/AUTH_async-images/12345678/8ccc728c-2cac-4a81-878a-ab482d3f37b7_uuid_"
    "4d91eedb-2eda-433c-b469-06244fd1c3fa_17-04-2018_09-37-15-082.JPG"
)
GOOD_SIGNATURE = "0cff08d2d5618d100bc1353f32872c002180711f"
SECRET_SIGNATURE = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7"
ONE_ATTEMPT = RetryPolicy(max_attempts=1).without_waits()

HOSTILE_PATHS = [
    "https://evil.example/v1/AUTH_a/c/o",
    "//evil.example/v1/AUTH_a/c/o",
    "@evil.example/v1/AUTH_a/c/o",
    "/v1/AUTH_a/c/o@evil.example",
    "/v1/AUTH_a/c/../../../etc/passwd",
    "/v1/AUTH_a/c/%2e%2e/o",
    "/v1/AUTH_a/./o",
    "/v1/AUTH_a/c//o",
    "/v1/AUTH_a/c/o?x=1",
    "/v1/AUTH_a/c/o#fragment",
    "/v1/AUTH_a/c/o\r\nHost: evil.example",
    "/v1/AUTH_a/c/o\x00",
    "/v1/AUTH_a/c/o o",
    "/v1/AUTH_a/c/\u00f6",
    "/v1/AUTH_a/c",
    "/v2/AUTH_a/c/o",
    "/v1/a/c/o",
    "v1/AUTH_a/c/o",
    "",
    "/v1/AUTH_a/c/" + "o" * 1100,
]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture
def storage(listener: socket.socket) -> Iterator[SwiftStorage]:
    http = HttpClient(None, 0.5, "syncd-tests")
    host, port = listener.getsockname()
    yield SwiftStorage(http, f"{host}:{port}", "http", ONE_ATTEMPT)
    http.close()


def connections_received(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


@pytest.mark.parametrize("relative_path", HOSTILE_PATHS)
def test_hostile_relative_path_is_refused_before_any_connection(
    storage: SwiftStorage, listener: socket.socket, relative_path: str
) -> None:
    temp_url = TempUrl(relative_path, GOOD_SIGNATURE, "1523947094")

    with pytest.raises(UnsafeRemoteError):
        storage.upload(temp_url, b"data")
    with pytest.raises(UnsafeRemoteError):
        storage.download(temp_url, 100)

    assert connections_received(listener) == 0


@pytest.mark.parametrize(
    ("signature", "expires"),
    [
        ("not-hex", "1523947094"),
        (GOOD_SIGNATURE + "&temp_url_prefix=", "1523947094"),
        (GOOD_SIGNATURE, "1523947094&x=1"),
        (GOOD_SIGNATURE, "2018-04-17T09:38:14Z"),
        (GOOD_SIGNATURE, ""),
    ],
)
def test_malformed_signature_or_expiry_is_refused_before_any_connection(
    storage: SwiftStorage, listener: socket.socket, signature: str, expires: str
) -> None:
    with pytest.raises(UnsafeRemoteError):
        storage.upload(TempUrl(GOOD_PATH, signature, expires), b"data")

    assert connections_received(listener) == 0


def test_documented_relative_path_goes_to_the_pinned_host_only(
    storage: SwiftStorage, listener: socket.socket
) -> None:
    host, port = listener.getsockname()
    url = storage.url_for(TempUrl(GOOD_PATH, GOOD_SIGNATURE, "1523947094"))

    assert url == (
        f"http://{host}:{port}{GOOD_PATH}?temp_url_sig={GOOD_SIGNATURE}&temp_url_expires=1523947094"
    )
    # The listener never answers, so the PUT times out, but it did reach the pinned host.
    with pytest.raises(TransientTransferError):
        storage.upload(TempUrl(GOOD_PATH, GOOD_SIGNATURE, "1523947094"), b"data")
    assert connections_received(listener) == 1


def test_transfer_errors_never_carry_the_signature(storage: SwiftStorage) -> None:
    with pytest.raises(TransientTransferError) as raised:
        storage.upload(TempUrl(GOOD_PATH, SECRET_SIGNATURE, "1523947094"), b"data")

    assert SECRET_SIGNATURE not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_refused_connection_is_transient_and_its_message_has_no_query() -> None:
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    host, port = unused.getsockname()
    unused.close()
    http = HttpClient(None, 2.0, "syncd-tests")
    try:
        with pytest.raises(TransientTransferError) as raised:
            http.get_bytes(f"http://{host}:{port}/x?temp_url_sig={SECRET_SIGNATURE}", 10)
    finally:
        http.close()

    assert SECRET_SIGNATURE not in str(raised.value)
    assert f"http://{host}:{port}/x" in str(raised.value)


def test_redact_url_drops_query_and_fragment() -> None:
    assert redact_url(f"https://h:1/v1/a?temp_url_sig={SECRET_SIGNATURE}#x") == "https://h:1/v1/a"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_accepts_seconds_and_http_dates(
    header: str | None, seconds: float | None
) -> None:
    assert parse_retry_after(header, now=2_000_000_000.0) == seconds


def test_retry_after_date_in_the_future_counts_the_seconds_until_then() -> None:
    now = 1_445_412_400.0  # 2015-10-21 07:26:40 GMT
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 80.0


@pytest.mark.parametrize(
    "base_uri", ["lo.le1.liveperson.net", "va.idp.liveperson.net:443", "127.0.0.1:8080"]
)
def test_plain_host_and_port_base_uris_are_accepted(base_uri: str) -> None:
    assert validate_host_port(base_uri) == base_uri


@pytest.mark.parametrize(
    "base_uri",
    [
        "https://va.idp.liveperson.net",
        "va.idp.liveperson.net/path",
        "user@va.idp.liveperson.net",
        "va.idp.liveperson.net:99999",
        "va.idp.liveperson.net:",
        "va..liveperson.net",
        "-evil.example",
        "host?x=1",
        "",
        None,
        42,
    ],
)
def test_base_uris_that_are_not_a_plain_host_are_protocol_errors(base_uri: object) -> None:
    with pytest.raises(ProtocolError):
        validate_host_port(base_uri)


def _serve_base_uri(base_uri: str) -> ThreadingHTTPServer:
    """A plain-HTTP Domain API on loopback that resolves every service to ``base_uri``."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(
                {"baseURIs": [{"service": "asyncMessagingEnt", "baseURI": base_uri}]}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, name="domain-api", daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("base_uri", "allowed"),
    [
        ("localhost:8443", True),
        ("127.0.0.1:8443", True),
        ("127.9.9.9", True),
        ("va.msg.liveperson.net", False),
        ("localhost.example.com:443", False),
        ("10.0.0.7:80", False),
    ],
)
def test_a_plain_http_domain_api_may_only_resolve_services_to_this_machine(
    base_uri: str, allowed: bool
) -> None:
    server = _serve_base_uri(base_uri)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        resolver = DomainResolver(HttpClient(None, 5.0, "syncd-tests"), url, "12345678")
        if allowed:
            assert resolver.base_uri("asyncMessagingEnt") == base_uri
        else:
            with pytest.raises(UnsafeRemoteError, match="not loopback"):
                resolver.base_uri("asyncMessagingEnt")
    finally:
        server.shutdown()
        server.server_close()
