"""The consumer client renews refused tokens by the configured flow and keeps its consumer.

A 4401/4407 close or an HTTP 401 at the upgrade is answered by a renewal (authenticate again,
or refresh and exchange), not by a new consumer: same consumer id, same conversation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_flows import AuthenticatedFlow, IdentityFlow, UnauthenticatedFlow
from syncd.liveperson.identity_setup import read_private_key
from syncd.liveperson.link_sockets import ConsumerSettings
from syncd.liveperson.retrying import RetryPolicy
from tests.helpers.identity import (
    CONNECTOR_ID,
    ISSUER,
    BrandKeys,
    identity_settings,
    idp_calls,
)
from tests.helpers.waiting import wait_until

SETTINGS = ConsumerSettings(
    request_timeout_seconds=5.0,
    connect_timeout_seconds=5.0,
    retry_policy=RetryPolicy(max_attempts=3).without_waits(),
    reconnect_policy=RetryPolicy(first_wait_seconds=0.05, max_wait_seconds=0.2, jitter_seconds=0),
)


@pytest.fixture
def emulator_settings(brand_keys: BrandKeys) -> EmulatorSettings:
    return identity_settings(brand_keys)


def _flow(
    name: str, http: HttpClient, resolver: DomainResolver, account: str, keys: BrandKeys
) -> IdentityFlow:
    if name == "authenticated":
        return AuthenticatedFlow(
            http,
            resolver,
            account,
            private_key=read_private_key(keys.private_key_file),
            issuer=ISSUER,
            subject="scanner-3",
            display_name="Scanner 3",
            route_name="front-desk",
        )
    return UnauthenticatedFlow(http, resolver, account, connector_id=CONNECTOR_ID)


class Box:
    """An in-memory identity store that remembers every save and replacement."""

    def __init__(self, identity: ConsumerIdentity | None = None) -> None:
        self.identity = identity
        self.saved: list[ConsumerIdentity] = []
        self.replaced: list[str] = []

    def save(self, identity: ConsumerIdentity) -> None:
        self.identity = identity
        self.saved.append(identity)


@pytest.fixture
def make_client(
    http: HttpClient, resolver: DomainResolver, emulator: RunningEmulator, brand_keys: BrandKeys
) -> Iterator[Any]:
    clients: list[ConsumerClient] = []

    def build(flow: str, box: Box) -> ConsumerClient:
        client = ConsumerClient(
            resolver=resolver,
            http=http,
            account=emulator.account,
            skill_id=None,
            load_identity=lambda: box.identity,
            save_identity=box.save,
            resume_sequence=lambda _conversation: 0,
            on_messaging_event=lambda _event: None,
            on_conversation_change=lambda _change: None,
            settings=SETTINGS,
            identity_flow=_flow(flow, http, resolver, emulator.account, brand_keys),
            on_identity_replaced=box.replaced.append,
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


def _token_calls(emulator: RunningEmulator, flow: str) -> int:
    call = "authenticate" if flow == "authenticated" else "connector/authenticate"
    return len(idp_calls(emulator, call))


@pytest.mark.parametrize("flow", ["authenticated", "unauthenticated"])
@pytest.mark.parametrize("code", [4401, 4407])
def test_an_auth_close_renews_the_token_and_keeps_the_consumer_and_conversation(
    make_client: Any, emulator: RunningEmulator, flow: str, code: int
) -> None:
    box = Box()
    client = make_client(flow, box)
    conversation_id = client.ensure_open_conversation()
    consumer_id = client.consumer_id
    calls = _token_calls(emulator, flow)

    assert emulator.close_sockets(code) == 1
    wait_until(lambda: _token_calls(emulator, flow) > calls, 10, "a renewal")
    wait_until(lambda: client.connection_state == "connected", 10, "the reconnection")

    assert client.consumer_id == consumer_id
    assert client.ensure_open_conversation() == conversation_id
    assert {identity.consumer_id for identity in box.saved} == {consumer_id}
    assert len(box.saved) >= 2
    assert box.replaced == []
    assert len(emulator.state()["consumers"]) == 1


def test_a_token_refused_at_the_upgrade_is_renewed_for_the_same_sub(
    make_client: Any, emulator: RunningEmulator
) -> None:
    first = Box()
    client = make_client("authenticated", first)
    client.ensure_open_conversation()
    consumer_id = client.consumer_id
    client.close()
    # A stored token LivePerson no longer accepts (revoked): the next start renews it.
    assert first.identity is not None
    revoked = ConsumerIdentity(consumer_id, first.identity.jwt[:-4] + "AAAA", "authenticated")
    second = Box(revoked)
    restarted = make_client("authenticated", second)
    restarted.ensure_open_conversation()
    assert restarted.consumer_id == consumer_id
    assert [identity.consumer_id for identity in second.saved] == [consumer_id]
    assert second.replaced == []


def test_a_stored_signup_identity_is_replaced_when_the_config_names_another_flow(
    make_client: Any, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    signup_token = emulator.issue_token(3600)
    stored = ConsumerIdentity("old-signup-consumer", signup_token, "signup")
    box = Box(stored)
    with caplog.at_level("WARNING", logger="syncd.liveperson"):
        client = make_client("unauthenticated", box)
        client.ensure_open_conversation()
    assert client.consumer_id != "old-signup-consumer"
    assert box.identity is not None and box.identity.flow == "unauthenticated"
    assert box.replaced == ["the configured identity changed from signup to unauthenticated"]
    assert any("NEW consumer" in record.getMessage() for record in caplog.records)


def test_an_idp_that_refreshes_only_expired_tokens_still_keeps_the_anonymous_consumer(
    http: HttpClient, resolver: DomainResolver, brand_keys: BrandKeys
) -> None:
    settings = identity_settings(
        brand_keys,
        unauth_refresh_only_expired=True,
        external_token_lifetime_seconds=3,
        token_lifetime_seconds=3,
    )
    with start_emulator(settings) as emulator:
        box = Box()
        client = ConsumerClient(
            resolver=DomainResolver(http, emulator.base_url, emulator.account),
            http=http,
            account=emulator.account,
            skill_id=None,
            load_identity=lambda: box.identity,
            save_identity=box.save,
            resume_sequence=lambda _conversation: 0,
            on_messaging_event=lambda _event: None,
            on_conversation_change=lambda _change: None,
            settings=SETTINGS,
            identity_flow=UnauthenticatedFlow(
                http,
                DomainResolver(http, emulator.base_url, emulator.account),
                emulator.account,
                connector_id=CONNECTOR_ID,
            ),
            on_identity_replaced=box.replaced.append,
        )
        try:
            conversation_id = client.ensure_open_conversation()
            consumer_id = client.consumer_id
            wait_until(
                lambda: len(idp_calls(emulator, "anonymous/refresh")) >= 2,
                30,
                "two refreshes of the expired token",
            )
            wait_until(lambda: client.connection_state == "connected", 10, "connected")
            assert client.ensure_open_conversation() == conversation_id
            assert client.consumer_id == consumer_id
        finally:
            client.close()
        refused = idp_calls(emulator, "anonymous/refresh", ok=False)
        # Early refreshes were refused (and answered by using the still-valid token).
        assert refused
        assert {entry["error"] for entry in refused} == {"The external token has not expired yet"}
        assert box.replaced == []
        assert len(emulator.state()["consumers"]) == 1
