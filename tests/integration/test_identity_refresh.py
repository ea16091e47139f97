"""Renewing an anonymous identity against an IdP that refreshes only expired tokens.

LivePerson documents refreshing an external token "once the external token is expired"
(developer-center APIReference/unauthenticated-messaging.md); the emulator's
``--unauth-refresh-only-expired`` refuses earlier refreshes. These tests drive the real
``IdentityKeeper`` and ``UnauthenticatedFlow`` against the real emulator IdP, and make the
timing that used to turn such a refusal into a new consumer happen every time:

* a refresh refused as "not expired yet" whose answer arrives after the token expired (the
  ``idp_refusal_delay_ms`` knob holds the refusal past ``exp``);
* a renewal that could not extend the token (refused early, the still valid token exchanged
  again) is not repeated before the token expires, nor at once when syncd's clock is past
  the token's end while the IdP's is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from syncd.emulator.server import RunningEmulator, start_emulator
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity, jwt_expires_at
from syncd.liveperson.identity_flows import UnauthenticatedFlow
from syncd.liveperson.identity_keeper import IdentityKeeper, IdentityStore
from syncd.liveperson.retrying import RetryPolicy
from tests.helpers.identity import CONNECTOR_ID, BrandKeys, identity_settings, idp_calls

NOT_EXPIRED_YET = "The external token has not expired yet"


@dataclass
class StoredIdentity:
    """The route's stored identity, and every reason given for replacing it."""

    identity: ConsumerIdentity | None = None
    replaced: list[str] = field(default_factory=list)

    def store(self) -> IdentityStore:
        return IdentityStore(
            load=lambda: self.identity, save=self._save, replaced=self.replaced.append
        )

    def _save(self, identity: ConsumerIdentity) -> None:
        self.identity = identity


def _keeper(
    http: HttpClient,
    emulator: RunningEmulator,
    stored: StoredIdentity,
    clock: Callable[[], float] = time.time,
) -> IdentityKeeper:
    resolver = DomainResolver(http, emulator.base_url, emulator.account)
    flow = UnauthenticatedFlow(http, resolver, emulator.account, connector_id=CONNECTOR_ID)
    retry_policy = RetryPolicy(max_attempts=3).without_waits()
    return IdentityKeeper(flow, stored.store(), retry_policy, clock=clock)


def _expires_at(token: str | None) -> float:
    assert token is not None
    expires_at = jwt_expires_at(token)
    assert expires_at is not None
    return expires_at


def test_a_refresh_refused_as_not_expired_that_arrives_after_expiry_keeps_the_consumer(
    http: HttpClient, brand_keys: BrandKeys
) -> None:
    lifetime_seconds = 2
    settings = identity_settings(
        brand_keys,
        unauth_refresh_only_expired=True,
        external_token_lifetime_seconds=lifetime_seconds,
        token_lifetime_seconds=lifetime_seconds,
    )
    stored = StoredIdentity()
    with start_emulator(settings) as emulator:
        keeper = _keeper(http, emulator, stored)
        first = keeper.current()
        # The IdP judges the refresh when it arrives (not expired yet) but its refusal reaches
        # syncd a second after the token's end: by syncd's clock the token has expired.
        emulator.set_faults(idp_refusal_delay_ms=(lifetime_seconds + 1) * 1000)
        renewed = keeper.renew(first)
        refused = idp_calls(emulator, "anonymous/refresh", ok=False)
        refreshed = idp_calls(emulator, "anonymous/refresh", ok=True)
        consumers = emulator.state()["consumers"]
    expired_at = _expires_at(first.external_token)
    # The timing happened: refused before the token's end, answered after it.
    assert [entry["error"] for entry in refused] == [NOT_EXPIRED_YET]
    assert refused[0]["at"] < expired_at
    # Refreshed once it had expired, as LivePerson documents: the same consumer.
    assert len(refreshed) == 1 and refreshed[0]["at"] >= expired_at
    assert renewed.consumer_id == first.consumer_id
    assert renewed.external_token != first.external_token
    assert _expires_at(renewed.external_token) > expired_at
    assert stored.identity == renewed
    assert stored.replaced == []
    assert len(consumers) == 1


@pytest.mark.parametrize("clock_ahead_seconds", [50, 70])
def test_a_renewal_the_idp_would_not_extend_is_not_repeated_at_once(
    http: HttpClient, brand_keys: BrandKeys, clock_ahead_seconds: int
) -> None:
    lifetime_seconds = 60
    settings = identity_settings(
        brand_keys,
        unauth_refresh_only_expired=True,
        external_token_lifetime_seconds=lifetime_seconds,
        token_lifetime_seconds=lifetime_seconds,
    )
    stored = StoredIdentity()
    with start_emulator(settings) as emulator:
        # syncd's clock runs ahead of the IdP's: the token is in the last quarter of its life
        # (50 s) or past its end (70 s) for syncd, but far from expired for the IdP.
        keeper = _keeper(http, emulator, stored, clock=lambda: time.time() + clock_ahead_seconds)
        first = keeper.current()
        assert keeper.seconds_until_renewal() == 0.0
        renewed = keeper.current()
        # Due again at once would make the link renew (and open a socket) in a loop until the
        # token expires; the next renewal is when a refresh can succeed.
        seconds_left = keeper.seconds_until_renewal()
        again = keeper.current()
        refused = idp_calls(emulator, "anonymous/refresh", ok=False)
        exchanges = idp_calls(emulator, "connector/authenticate")
    assert [entry["error"] for entry in refused] == [NOT_EXPIRED_YET]
    assert renewed.consumer_id == first.consumer_id
    assert renewed.external_token == first.external_token
    assert _expires_at(renewed.jwt) == _expires_at(first.external_token)
    assert seconds_left is not None and seconds_left > 0
    assert again == renewed
    # One exchange for the first token, one for the renewal, none after.
    assert len(exchanges) == 2
    assert stored.replaced == []
