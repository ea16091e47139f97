"""Domain API (CSDS) lookups and IdP signup tokens."""

from __future__ import annotations

import re
import time

import pytest
import requests

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import SERVICE_NAMES
from syncd.emulator.tokens import TokenError, TokenExpiredError, TokenSigner
from tests.emulator.wire import jwt_part, signup


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_resolves_to_the_emulator_host_and_port(
    emulator: RunningEmulator, service: str
) -> None:
    response = requests.get(
        f"{emulator.base_url}/api/account/{emulator.account}/service/{service}/baseURI.json?version=1.0",
        timeout=5,
    )
    assert response.status_code == 200
    assert response.json() == {
        "service": service,
        "account": emulator.account,
        "baseURI": emulator.host_port,
    }
    assert "://" not in response.json()["baseURI"]


@pytest.mark.parametrize("prefix", ["api", "csdr"])
def test_all_services_form_lists_every_base_uri(emulator: RunningEmulator, prefix: str) -> None:
    response = requests.get(
        f"{emulator.base_url}/{prefix}/account/{emulator.account}/service/baseURI.json?version=1.0",
        timeout=5,
    )
    assert response.status_code == 200
    base_uris = response.json()["baseURIs"]
    assert {entry["service"]: entry["baseURI"] for entry in base_uris} == dict.fromkeys(
        SERVICE_NAMES, emulator.host_port
    )
    assert {entry["account"] for entry in base_uris} == {emulator.account}


def test_unknown_service_or_account_is_404(emulator: RunningEmulator) -> None:
    base = f"{emulator.base_url}/api/account"
    case_changed = requests.get(
        f"{base}/{emulator.account}/service/AsyncMessagingEnt/baseURI.json", timeout=5
    )
    assert case_changed.status_code == 404
    assert (
        requests.get(f"{base}/{emulator.account}/service/nope/baseURI.json", timeout=5).status_code
        == 404
    )
    assert requests.get(f"{base}/999/service/idp/baseURI.json", timeout=5).status_code == 404
    assert requests.get(f"{base}/999/service/baseURI.json", timeout=5).status_code == 404
    assert requests.post(f"{base}/999/signup", timeout=5).status_code == 404


def test_signup_token_has_liveperson_shape_and_a_13_year_life(emulator: RunningEmulator) -> None:
    token = signup(emulator)
    header = jwt_part(token, 0)
    payload = jwt_part(token, 1)
    assert header == {"kid": "00001", "typ": "JWT", "alg": "HS256"}
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", payload["sub"]
    )
    assert payload["aud"] == f"acc:{emulator.account}"
    assert payload["iss"]
    assert payload["exp"] - payload["iat"] == 410_240_040
    assert signup(emulator) != token
    assert jwt_part(signup(emulator), 1)["sub"] != payload["sub"]


def test_signup_token_lifetime_follows_the_knob(emulator: RunningEmulator) -> None:
    emulator.set_faults(signup_token_ttl_seconds=30)
    payload = jwt_part(signup(emulator), 1)
    assert payload["exp"] - payload["iat"] == 30


def test_token_signer_refuses_forged_foreign_and_expired_tokens() -> None:
    signer = TokenSigner(b"k" * 32, "123")
    now = time.time()
    token = signer.issue("consumer", now, 60, "issuer")
    assert signer.verify(token, now).consumer_id == "consumer"
    with pytest.raises(TokenExpiredError):
        signer.verify(token, now + 61)
    with pytest.raises(TokenError):
        TokenSigner(b"x" * 32, "123").verify(token, now)
    with pytest.raises(TokenError):
        TokenSigner(b"k" * 32, "456").verify(token, now)
    header, payload, signature = token.split(".")
    with pytest.raises(TokenError):
        signer.verify(f"{header}.{payload}x.{signature}", now)
    for malformed in ("", "a.b", "a.b.c.d", "!!.!!.!!"):
        with pytest.raises(TokenError):
            signer.verify(malformed, now)
