"""TLS is always verified: a private CA works only when configured as ``ca_file``.

The emulator serves every service over HTTPS/WSS with a certificate from a trustme CA.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from syncd.errors import TlsVerificationError
from syncd.liveperson.consumer import ConsumerClient, ConsumerSettings
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity, signup
from syncd.liveperson.retrying import RetryPolicy
from syncd.liveperson.session import MessagingConnection
from syncd.liveperson.storage import SwiftStorage
from tests.helpers.tls import tls_emulator as running_tls_emulator
from tests.helpers.tls import write_ca_file

# The client's own threads are daemon threads the shared leak check ignores.
pytestmark = pytest.mark.usefixtures("no_leaked_client_threads")

NO_WAITS = RetryPolicy(max_attempts=2).without_waits()


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(certificate_authority: trustme.CA, tmp_path: Path) -> Path:
    return write_ca_file(certificate_authority, tmp_path)


@pytest.fixture
def tls_emulator(certificate_authority: trustme.CA, tmp_path: Path) -> Iterator[Any]:
    with running_tls_emulator(certificate_authority, tmp_path) as running:
        yield running


def test_private_ca_configured_as_ca_file_is_trusted_end_to_end(
    tls_emulator: Any, ca_file: Path
) -> None:
    http = HttpClient(ca_file, 5.0, "syncd-tests")
    resolver = DomainResolver(http, tls_emulator.base_url, tls_emulator.account)
    stored: list[ConsumerIdentity] = []
    client = ConsumerClient(
        resolver=resolver,
        http=http,
        account=tls_emulator.account,
        skill_id=None,
        load_identity=lambda: stored[-1] if stored else None,
        save_identity=stored.append,
        resume_sequence=lambda conversation_id: 0,
        on_messaging_event=lambda event: None,
        on_conversation_change=lambda change: None,
        settings=ConsumerSettings(ca_file=ca_file, retry_policy=NO_WAITS),
    )
    try:
        assert resolver.ws_url("asyncMessagingEnt").startswith("wss://")
        client.ensure_open_conversation()
        temp_url = client.request_upload_url(4, "PNG")
        storage = SwiftStorage(http, resolver.base_uri("swift"), resolver.http_scheme, NO_WAITS)
        storage.upload(temp_url, b"\x89PNG")
        assert resolver.http_scheme == "https"
        assert client.connection_state == "connected"
    finally:
        client.close()
        http.close()


def test_https_without_the_private_ca_fails_with_a_hint_to_set_ca_file(tls_emulator: Any) -> None:
    http = HttpClient(None, 5.0, "syncd-tests")
    resolver = DomainResolver(http, tls_emulator.base_url, tls_emulator.account)
    try:
        with pytest.raises(TlsVerificationError, match=r"liveperson\.ca_file"):
            resolver.base_uri("idp")
    finally:
        http.close()


def test_wss_without_the_private_ca_fails_with_a_hint_to_set_ca_file(
    tls_emulator: Any, ca_file: Path
) -> None:

    trusting = HttpClient(ca_file, 5.0, "syncd-tests")
    try:
        resolver = DomainResolver(trusting, tls_emulator.base_url, tls_emulator.account)
        identity = signup(trusting, resolver, tls_emulator.account)
        url = (
            f"{resolver.ws_url('asyncMessagingEnt')}/ws_api/account/"
            f"{tls_emulator.account}/messaging/consumer?v=3"
        )
    finally:
        trusting.close()
    connection = MessagingConnection()

    with pytest.raises(TlsVerificationError, match=r"liveperson\.ca_file"):
        connection.connect(url, identity.jwt, 5.0, None, 30.0, lambda n: None, lambda e: None)

    connection.close()
