"""``describe_failure`` on the exceptions real failing connections raise over loopback:
a closed port, a TLS server whose CA the client does not trust, a peer that never answers.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import trustme
import websocket

from syncd.errors import TransientTransferError
from syncd.liveperson.http import HttpClient
from syncd.rules.failure_text import MAX_FALLBACK_CHARACTERS, describe_failure
from tests.helpers.tls import write_ca_file, write_server_certificate

# What a person reads in one glance; urllib3's own text for a refused connection is ~300.
SHORT = 100


def _caught(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except Exception as error:  # any library error is the input here
        return error
    raise AssertionError("the connection did not fail")


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


@contextmanager
def _tls_server(folder: Path) -> Iterator[int]:
    """A TLS listener with a certificate from a CA of its own; handshakes until closed."""
    cert_path, key_path = write_server_certificate(trustme.CA(), folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the test is over
            # The client refuses our certificate, as intended.
            with connection, contextlib.suppress(ssl.SSLError, OSError):
                context.wrap_socket(connection, server_side=True).close()

    thread = threading.Thread(target=serve, name="tls-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def test_a_refused_http_connection_is_one_clause_naming_the_peer(closed_port: int) -> None:
    error = _caught(lambda: requests.get(f"http://127.0.0.1:{closed_port}/x?sig=s", timeout=5))
    assert len(str(error)) > 2 * SHORT  # what was logged before: urllib3's nested repr

    assert describe_failure(error) == f"connection refused by 127.0.0.1:{closed_port}"


def test_a_refused_websocket_uses_the_peer_the_caller_names(closed_port: int) -> None:
    error = _caught(lambda: websocket.create_connection(f"ws://127.0.0.1:{closed_port}/"))

    assert describe_failure(error) == "connection refused"
    assert describe_failure(error, "lp.example:443") == "connection refused by lp.example:443"


def test_a_certificate_from_an_unknown_ca_says_tls_verify_failed(tmp_path: Path) -> None:
    other_ca = write_ca_file(trustme.CA(), tmp_path)
    with _tls_server(tmp_path) as port:
        error = _caught(
            lambda: requests.get(f"https://127.0.0.1:{port}/", verify=str(other_ca), timeout=5)
        )

    text = describe_failure(error)
    assert text.startswith(f"TLS certificate verify failed for 127.0.0.1:{port} (")
    assert "issuer" in text  # OpenSSL's reason: unable to get local issuer certificate
    assert len(text) < SHORT


def test_a_peer_that_never_answers_is_a_read_timeout(black_hole: int) -> None:
    http_error = _caught(lambda: requests.get(f"http://127.0.0.1:{black_hole}/", timeout=0.3))
    ws_error = _caught(
        lambda: websocket.create_connection(f"ws://127.0.0.1:{black_hole}/", timeout=0.3)
    )

    assert describe_failure(http_error) == f"read timed out waiting for 127.0.0.1:{black_hole}"
    assert describe_failure(ws_error, "lp:443") == "read timed out waiting for lp:443"


def test_the_http_client_names_the_request_and_one_clause(closed_port: int) -> None:
    client = HttpClient(None, 5.0, "syncd-tests")
    try:
        error = _caught(lambda: client.get_json(f"http://127.0.0.1:{closed_port}/api?token=t"))
    finally:
        client.close()

    assert isinstance(error, TransientTransferError)
    assert str(error) == (
        f"GET http://127.0.0.1:{closed_port}/api failed: connection refused by "
        f"127.0.0.1:{closed_port}"
    )


def test_an_unknown_error_keeps_its_class_and_a_bounded_first_line() -> None:
    inner = ValueError("odd answer " + "x" * 500 + "\nsecond line")
    outer = RuntimeError("wrapper (Caused by ValueError(...))")
    outer.__cause__ = inner

    text = describe_failure(outer)

    assert text.startswith("ValueError: odd answer xxx")
    assert text.endswith("…")
    assert len(text) == len("ValueError: ") + MAX_FALLBACK_CHARACTERS
    assert "second line" not in text


def test_a_chain_that_loops_ends() -> None:
    first, second = OSError("first"), OSError("second")
    first.__cause__, second.__cause__ = second, first

    assert describe_failure(first) == "OSError: second"
