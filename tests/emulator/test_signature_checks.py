"""The emulator's two credential checks as pure functions: consumer tokens and TempURLs.

What each refusal says (the emulator's 401 bodies carry it), the exact boundaries, and the
claims a token carries. Time is passed in, so the emulator's clock (which tests move) and
not the machine's decides expiry.
"""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import jwt
import pytest

from syncd.emulator import tempurl
from syncd.emulator.tempurl import TempUrlInvalid
from syncd.emulator.tokens import ConsumerClaims, TokenError, TokenExpiredError, TokenSigner

SECRET = b"s" * 32
ACCOUNT = "12345678"
PATH = "/v1/AUTH_a/container/object.jpg"


def _forged(payload: dict[str, Any]) -> str:
    """A token signed with the emulator's own secret but with the claims given."""
    return jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": "00001"})


def test_an_issued_token_carries_liveperson_s_header_and_claims() -> None:
    signer = TokenSigner(SECRET, ACCOUNT)
    token = signer.issue("consumer-1", 1_000.7, 30, "https://idp.example")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "00001", "typ": "JWT"}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {key: payload[key] for key in ("sub", "aud", "iss", "iat", "exp")} == {
        "sub": "consumer-1",
        "aud": f"acc:{ACCOUNT}",
        "iss": "https://idp.example",
        "iat": 1000,
        "exp": 1030,
    }
    assert str(uuid.UUID(payload["jti"])) == payload["jti"]
    other = jwt.decode(
        signer.issue("consumer-1", 1_000.7, 30, "x"), options={"verify_signature": False}
    )
    assert other["jti"] != payload["jti"]


def test_expiry_is_judged_by_the_emulator_clock_not_the_machine_s() -> None:
    signer = TokenSigner(SECRET, ACCOUNT)
    # Long expired by the machine's clock, valid by the emulator's (1970).
    old = signer.issue("consumer-1", 1_000, 100, "idp")
    assert signer.verify(old, 1_050) == ConsumerClaims("consumer-1", ACCOUNT, 1_000, 1_100)
    # Issued "in the future" by the machine's clock: still valid by the emulator's.
    future_seconds = int(time.time()) + 100_000
    ahead = signer.issue("consumer-2", future_seconds, 100, "idp")
    assert signer.verify(ahead, future_seconds).issued_at_seconds == future_seconds


def test_a_token_expires_exactly_at_its_exp() -> None:
    signer = TokenSigner(SECRET, ACCOUNT)
    token = signer.issue("consumer-1", 1_000, 100, "idp")
    assert signer.verify(token, 1_099.9).expires_at_seconds == 1_100
    with pytest.raises(TokenExpiredError, match=r"^token has expired$"):
        signer.verify(token, 1_100)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (
            TokenSigner(SECRET, "999").issue("consumer-1", 1_000, 100, "idp"),
            "^token is for another account$",
        ),
        (
            TokenSigner(b"other" * 8, ACCOUNT).issue("consumer-1", 1_000, 100, "idp"),
            "^token is not valid: InvalidSignatureError$",
        ),
        ("not-a-token", "^token is not valid: DecodeError$"),
        (
            _forged({"sub": "", "aud": f"acc:{ACCOUNT}", "iat": 1_000, "exp": 2_000}),
            "^token has no subject$",
        ),
        (
            _forged({"aud": f"acc:{ACCOUNT}", "iat": 1_000, "exp": 2_000}),
            "^token has no subject$",
        ),
        (
            _forged({"sub": "c", "aud": f"acc:{ACCOUNT}", "iat": "1000", "exp": 2_000}),
            "^token lacks integer iat/exp$",
        ),
        (
            _forged({"sub": "c", "aud": f"acc:{ACCOUNT}", "iat": 1_000}),
            "^token lacks integer iat/exp$",
        ),
    ],
    ids=["other-account", "forged", "garbage", "empty-sub", "no-sub", "string-iat", "no-exp"],
)
def test_each_defect_of_a_token_is_refused_with_its_reason(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message) as refused:
        TokenSigner(SECRET, ACCOUNT).verify(token, 1_500)
    assert not isinstance(refused.value, TokenExpiredError)


def test_a_token_with_a_subject_that_is_not_text_is_refused() -> None:
    # PyJWT refuses a non-string sub itself, and the emulator checks it again.
    numeric = _forged({"sub": 42, "aud": f"acc:{ACCOUNT}", "iat": 1_000, "exp": 2_000})
    with pytest.raises(TokenError):
        TokenSigner(SECRET, ACCOUNT).verify(numeric, 1_500)


def _url_signature(key: bytes, method: str, expires: int, path: str) -> str:
    raw = bytes.fromhex(tempurl.sign(key, method, expires, path, "sha256"))
    return "sha256:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_url_safe_base64_signature_with_both_special_characters_is_accepted() -> None:
    # Find an expiry whose signature uses both "-" and "_" in the url-safe alphabet.
    expires = next(
        e
        for e in range(10_000, 20_000)
        if {"-", "_"} <= set(_url_signature(b"key", "GET", e, PATH))
    )
    signature = _url_signature(b"key", "GET", expires, PATH)
    tempurl.verify(b"key", "GET", PATH, signature, str(expires), expires - 1)
    with pytest.raises(TempUrlInvalid, match=r"^signature does not match$"):
        tempurl.verify(b"key", "PUT", PATH, signature, str(expires), expires - 1)


@pytest.mark.parametrize(
    ("path", "expires", "now", "message"),
    [
        (PATH, 100, 100.5, "^temp URL has expired$"),
        ("/v1/AUTH_a/container", 100, 50, "^not an object path$"),
        ("/v1/AUTH_a/container/", 100, 50, "^not an object path$"),
    ],
)
def test_a_temp_url_is_refused_with_swift_s_reason(
    path: str, expires: int, now: float, message: str
) -> None:
    signature = tempurl.sign(b"key", "GET", expires, path)
    with pytest.raises(TempUrlInvalid, match=message):
        tempurl.verify(b"key", "GET", path, signature, str(expires), now)
    tempurl.verify(b"key", "GET", PATH, tempurl.sign(b"key", "GET", 100, PATH), "100", 100)
