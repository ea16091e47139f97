"""The emulated IdP's production flows, spoken to with raw HTTP as LivePerson documents them.

Authenticated (Tutorials/authentication.md): ``POST .../authenticate {"authCode": <RS256
external JWT>}`` → ``{"jwt"}``. Unauthenticated (APIReference/unauthenticated-messaging.md):
``POST .../anonymous/authorize`` → ``{"token"}``, ``POST .../app/{id}/authenticate?v=3.0
{"id_token"}`` → ``{"token"}``, refresh by posting the previous ``id_token`` to
``anonymous/authorize``. The external JWTs are made here with PyJWT, not with syncd's client.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from tests.emulator.wire import (
    WAIT_SECONDS,
    Consumer,
    jwt_part,
    open_socket,
    read_close_code,
    request_conversation,
)

CONNECTOR = "2470021030"
ISSUER = "https://idp.brand.example"


def _key_pair() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, public_pem


BRAND_KEY, BRAND_PUBLIC_PEM = _key_pair()
OTHER_KEY, _ = _key_pair()


@pytest.fixture
def emulator_settings(tmp_path: Path) -> EmulatorSettings:
    public_key = tmp_path / "connector-public.pem"
    public_key.write_bytes(BRAND_PUBLIC_PEM)
    return EmulatorSettings(
        port=0, auth_public_key=public_key, auth_issuer=ISSUER, unauth_connector_id=CONNECTOR
    )


def _idp(emulator: RunningEmulator, path: str, body: Any = None) -> requests.Response:
    url = f"{emulator.base_url}/api/account/{emulator.account}/{path}"
    return requests.post(url, json=body, timeout=WAIT_SECONDS)


def external_jwt(
    sub: str = "scanner-7",
    key: rsa.RSAPrivateKey = BRAND_KEY,
    lifetime_seconds: int = 300,
    issuer: str = ISSUER,
    **extra: Any,
) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iss": issuer, "iat": now, "exp": now + lifetime_seconds, **extra}
    return jwt.encode(claims, key, algorithm="RS256")


def _authenticate(emulator: RunningEmulator, code: str) -> requests.Response:
    return _idp(emulator, "authenticate", {"authCode": code})


def _log_calls(emulator: RunningEmulator) -> list[tuple[str, bool]]:
    return [(entry["call"], entry["ok"]) for entry in emulator.state()["identityLog"]]


# --- authenticated ------------------------------------------------------------------------


def test_a_good_external_jwt_gives_a_token_whose_consumer_is_stable_for_its_sub(
    emulator: RunningEmulator,
) -> None:
    first = _authenticate(emulator, external_jwt(given_name="Claims scanner"))
    second = _authenticate(emulator, external_jwt())
    other = _authenticate(emulator, external_jwt(sub="scanner-8"))

    assert first.status_code == second.status_code == other.status_code == 200
    token_sub = jwt_part(first.json()["jwt"], 1)["sub"]
    assert jwt_part(second.json()["jwt"], 1)["sub"] == token_sub
    assert jwt_part(other.json()["jwt"], 1)["sub"] != token_sub
    # LivePerson's token carries a hash, not the brand's sub.
    assert token_sub != "scanner-7" and len(token_sub) == 64
    records = {c["tokenSub"]: c for c in emulator.state()["consumers"]}
    assert records[token_sub]["sub"] == "scanner-7"
    assert records[token_sub]["name"] == "Claims scanner"
    # The consumer (participant, originatorId) is yet another id.
    assert records[token_sub]["consumerId"] != token_sub
    assert _log_calls(emulator) == [("authenticate", True)] * 3


def test_the_authenticated_token_opens_a_socket_and_a_conversation(
    emulator: RunningEmulator,
) -> None:
    token = _authenticate(emulator, external_jwt()).json()["jwt"]
    consumer = Consumer.connect(emulator, token)
    try:
        conversation_id = request_conversation(consumer)
    finally:
        consumer.close()
    state = emulator.state()
    conversation = state["conversations"][0]
    assert conversation["id"] == conversation_id
    (record,) = state["consumers"]
    assert record["tokenSub"] == jwt_part(token, 1)["sub"]
    assert conversation["consumerId"] == record["consumerId"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (lambda: external_jwt(key=OTHER_KEY), "not valid"),
        (lambda: external_jwt(lifetime_seconds=-5), "expired"),
        (lambda: external_jwt(issuer="https://someone.else"), "issuer"),
        (lambda: "not-a-jwt", "not valid"),
    ],
    ids=["wrong-signature", "expired", "wrong-issuer", "garbage"],
)
def test_a_bad_external_jwt_is_refused_with_401(
    emulator: RunningEmulator, code: Any, reason: str
) -> None:
    response = _authenticate(emulator, code())
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert emulator.state()["consumers"] == []
    assert _log_calls(emulator) == [("authenticate", False)]


def test_an_hs256_jwt_made_with_the_public_key_as_secret_is_refused(
    emulator: RunningEmulator,
) -> None:
    # The classic algorithm-confusion forgery (PyJWT will not make one, so it is built here).
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    claims = {"sub": "scanner-7", "iss": ISSUER, "exp": int(time.time()) + 300}
    signing_input = (
        segment(b'{"alg":"HS256","typ":"JWT"}') + "." + segment(json.dumps(claims).encode())
    )
    signature = hmac.new(BRAND_PUBLIC_PEM, signing_input.encode(), hashlib.sha256).digest()
    assert _authenticate(emulator, f"{signing_input}.{segment(signature)}").status_code == 401


# --- unauthenticated ----------------------------------------------------------------------


def _anonymous(emulator: RunningEmulator, previous: str | None = None) -> requests.Response:
    body = None if previous is None else {"id_token": previous}
    return _idp(emulator, "anonymous/authorize", body)


def _exchange(
    emulator: RunningEmulator, external: str, connector: str = CONNECTOR
) -> requests.Response:
    return _idp(emulator, f"app/{connector}/authenticate?v=3.0", {"id_token": external})


def test_by_default_an_anonymous_token_is_not_refreshed_before_it_expires(
    emulator: RunningEmulator,
) -> None:
    external = _anonymous(emulator).json()["token"]
    early = _anonymous(emulator, external)
    assert early.status_code == 401
    assert "not expired yet" in early.json()["error"]
    # The refused token still works until it expires.
    assert _exchange(emulator, external).status_code == 200


def test_with_early_refresh_allowed_a_refresh_keeps_the_consumer(
    emulator_settings: EmulatorSettings,
) -> None:
    lenient = dataclasses.replace(emulator_settings, unauth_refresh_only_expired=False)
    with start_emulator(lenient) as emulator:
        external = _anonymous(emulator).json()["token"]
        first = _exchange(emulator, external)
        refreshed = _anonymous(emulator, external)
        second = _exchange(emulator, refreshed.json()["token"])

        assert first.status_code == refreshed.status_code == second.status_code == 200
        consumer = jwt_part(first.json()["token"], 1)["sub"]
        assert jwt_part(second.json()["token"], 1)["sub"] == consumer
        assert jwt_part(refreshed.json()["token"], 1)["sub"] == jwt_part(external, 1)["sub"]
        assert _log_calls(emulator) == [
            ("anonymous/authorize", True),
            ("connector/authenticate", True),
            ("anonymous/refresh", True),
            ("connector/authenticate", True),
        ]
        # A new anonymous token is somebody else.
        stranger = _exchange(emulator, _anonymous(emulator).json()["token"]).json()["token"]
        assert jwt_part(stranger, 1)["sub"] != consumer


def test_an_unknown_connector_is_404_and_a_foreign_token_401(emulator: RunningEmulator) -> None:
    external = _anonymous(emulator).json()["token"]
    assert _exchange(emulator, external, connector="999").status_code == 404
    assert _exchange(emulator, external_jwt()).status_code == 401
    assert _anonymous(emulator, external_jwt()).status_code == 401


def _expired_anonymous_emulator(
    base: EmulatorSettings, refresh_window_seconds: float
) -> RunningEmulator:
    # A negative lifetime hands out tokens that are already expired.
    settings = dataclasses.replace(
        base,
        external_token_lifetime_seconds=-10,
        unauth_refresh_window_seconds=refresh_window_seconds,
    )
    return start_emulator(settings)


def test_an_expired_anonymous_token_is_refused_but_refreshed_inside_the_window(
    emulator_settings: EmulatorSettings,
) -> None:
    with _expired_anonymous_emulator(emulator_settings, 3600) as emulator:
        external = _anonymous(emulator).json()["token"]
        assert _exchange(emulator, external).status_code == 401
        refreshed = _anonymous(emulator, external)
        assert refreshed.status_code == 200
        assert jwt_part(refreshed.json()["token"], 1)["sub"] == jwt_part(external, 1)["sub"]


def test_a_refresh_outside_the_window_is_refused(emulator_settings: EmulatorSettings) -> None:
    with _expired_anonymous_emulator(emulator_settings, 5) as emulator:
        external = _anonymous(emulator).json()["token"]
        response = _anonymous(emulator, external)
        assert response.status_code == 401
        assert "refresh window" in response.json()["error"]


# --- token lifetimes, signup ----------------------------------------------------------------


def test_a_short_lived_token_closes_its_socket_with_4401_and_is_then_refused_at_upgrade(
    emulator_settings: EmulatorSettings,
) -> None:
    settings = dataclasses.replace(emulator_settings, token_lifetime_seconds=1)
    with start_emulator(settings) as emulator:
        token = _authenticate(emulator, external_jwt()).json()["jwt"]
        claims = jwt_part(token, 1)
        assert claims["exp"] - claims["iat"] == 1
        ws = open_socket(emulator, token)
        assert read_close_code(ws) == 4401
        with pytest.raises(Exception, match="401"):
            open_socket(emulator, token)


def test_an_anonymous_consumers_expiring_token_closes_its_socket_with_4407(
    emulator_settings: EmulatorSettings,
) -> None:
    # LivePerson: 4407 tells an unauthenticated identity to ask the IdP to extend it.
    settings = dataclasses.replace(emulator_settings, token_lifetime_seconds=1)
    with start_emulator(settings) as emulator:
        token = _exchange(emulator, _anonymous(emulator).json()["token"]).json()["token"]
        ws = open_socket(emulator, token)
        assert read_close_code(ws) == 4407
        with pytest.raises(Exception, match="401"):
            open_socket(emulator, token)


def test_a_connector_token_never_outlives_its_external_token(
    emulator_settings: EmulatorSettings,
) -> None:
    settings = dataclasses.replace(emulator_settings, external_token_lifetime_seconds=30)
    with start_emulator(settings) as emulator:
        external = _anonymous(emulator).json()["token"]
        token = _exchange(emulator, external).json()["token"]
        assert jwt_part(token, 1)["exp"] <= jwt_part(external, 1)["exp"]


def test_signup_disabled_is_refused_with_403(emulator_settings: EmulatorSettings) -> None:
    settings = dataclasses.replace(emulator_settings, signup_disabled=True)
    with start_emulator(settings) as emulator:
        response = _idp(emulator, "signup")
        assert response.status_code == 403
        assert _log_calls(emulator) == [("signup", False)]


def test_the_connector_flows_are_off_unless_configured() -> None:
    with start_emulator(EmulatorSettings(port=0)) as emulator:
        assert _authenticate(emulator, external_jwt()).status_code == 401
        assert _anonymous(emulator).status_code == 403


def test_the_console_shows_the_consumer_identity(emulator: RunningEmulator) -> None:
    token = _authenticate(
        emulator,
        external_jwt(
            given_name="Claims scanner",
            family_name="Branch 12",
            lp_sdes=[{"type": "ctmrinfo", "info": {"customerId": "scanner-7"}}],
        ),
    ).json()["jwt"]
    consumer = Consumer.connect(emulator, token)
    try:
        request_conversation(consumer)
    finally:
        consumer.close()
    page = requests.get(f"{emulator.base_url}/_emulator/", timeout=WAIT_SECONDS).text
    assert "Claims scanner Branch 12" in page
    assert "scanner-7" in page
    assert "ctmrinfo" in page
