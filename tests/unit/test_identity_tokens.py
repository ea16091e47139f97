"""Pure parts of the identity flows: when to renew, what the external JWT says, key files."""

from __future__ import annotations

from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from syncd.errors import ProtocolError
from syncd.liveperson.identity import consumer_id_of, renew_due_at
from syncd.liveperson.identity_flows import AuthenticatedFlow
from syncd.liveperson.identity_setup import default_consumer_id
from syncd.liveperson.jwt_codec import load_private_key, sign_rs256
from syncd.liveperson.notifications import MessagingEvent

NOW = 1_800_000_000
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )


def _token(**claims: Any) -> str:
    return jwt.encode(claims, "test-secret-of-at-least-32-bytes!!", algorithm="HS256")


@pytest.mark.parametrize(
    ("lifetime_seconds", "renew_before_exp_seconds"),
    [(10, 2.5), (600, 60.0), (3600, 60.0), (2, 0.5)],
)
def test_a_token_is_renewed_with_a_quarter_of_its_life_left_at_most_a_minute_early(
    lifetime_seconds: int, renew_before_exp_seconds: float
) -> None:
    token = _token(sub="c", iat=NOW, exp=NOW + lifetime_seconds)
    assert renew_due_at(token, obtained_at=0) == NOW + lifetime_seconds - renew_before_exp_seconds


def test_without_iat_the_time_it_was_obtained_counts_and_without_exp_there_is_no_due_time() -> None:
    assert renew_due_at(_token(sub="c", exp=NOW + 8), obtained_at=NOW) == NOW + 6
    assert renew_due_at(_token(sub="c"), obtained_at=NOW) is None
    assert renew_due_at("not a token", obtained_at=NOW) is None


def test_the_consumer_id_is_the_tokens_sub_and_a_token_without_one_is_refused() -> None:
    assert consumer_id_of(_token(sub="4f1c")) == "4f1c"
    with pytest.raises(ProtocolError):
        consumer_id_of(_token(exp=NOW))
    with pytest.raises(ProtocolError):
        consumer_id_of("a.b")


def test_the_external_jwt_carries_the_sub_names_and_sdes_and_verifies_with_the_public_key() -> None:
    flow = AuthenticatedFlow(
        cast(Any, None),
        cast(Any, None),
        "12345678",
        private_key=load_private_key(_pem(RSA_KEY)),
        issuer="https://scans.example",
        subject="scanner-12",
        display_name="Claims scanner",
        route_name="branch-12",
    )
    token = sign_rs256(flow.external_claims(NOW), load_private_key(_pem(RSA_KEY)))
    claims = jwt.decode(
        token,
        RSA_KEY.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
    )
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (claims["sub"], claims["iss"], claims["aud"]) == (
        "scanner-12",
        "https://scans.example",
        "acc:12345678",
    )
    assert (claims["given_name"], claims["family_name"]) == ("Claims scanner", "branch-12")
    assert claims["iat"] == NOW and claims["exp"] > NOW
    sdes = {entry["type"]: entry for entry in claims["lp_sdes"]}
    assert sdes["ctmrinfo"]["info"]["customerId"] == "scanner-12"
    assert sdes["personal"]["personal"] == {"firstname": "Claims scanner", "lastname": "branch-12"}


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        (_pem(RSA_KEY, b"secret"), "encrypted"),
        (_pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
        (
            RSA_KEY.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "not a PEM private key",
        ),
        (b"hello", "not a PEM private key"),
    ],
    ids=["encrypted", "ec", "public-key", "garbage"],
)
def test_a_file_that_is_not_an_unencrypted_rsa_private_key_is_refused_with_a_reason(
    pem: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_private_key(pem)


def test_a_loaded_key_never_prints_its_material() -> None:
    assert repr(load_private_key(_pem(RSA_KEY))) == "PrivateKey(RSA 2048 bits)"


def test_the_default_consumer_id_is_the_short_host_name_and_the_route() -> None:
    assert default_consumer_id("scanpc.branch12.example", "claims") == "scanpc-claims"
    assert default_consumer_id("", "claims") == "syncd-claims"


def _event(originator_id: str, role: str | None) -> MessagingEvent:
    return MessagingEvent("d", 1, originator_id, role, None, "ContentEvent", "hosted/file", {})


def test_our_own_events_are_recognised_by_consumer_id_or_by_the_consumer_role() -> None:
    # Authenticated consumers' originatorId is not documented to equal the token's sub.
    assert _event("hashed-sub", "CONSUMER").is_from_consumer("token-sub")
    assert _event("token-sub", None).is_from_consumer("token-sub")
    assert not _event("agent-7", "ASSIGNED_AGENT").is_from_consumer("token-sub")
    assert not _event("agent-7", None).is_from_consumer(None)
