"""Consumer JWTs of the emulated IdP: issue and verify, with the standard library only.

LivePerson signs its signup tokens with RS256; the emulator signs with HS256 and a secret that
lives as long as the emulator, which is enough to tell its own tokens from forged ones. The
header keeps LivePerson's shape (``{"kid":"00001","typ":"JWT","alg":...}``) and the payload
carries ``sub`` (the consumer id), ``aud`` (``acc:{account}``), ``iss``, ``iat``, ``exp`` and
``jti``. Pure: no I/O, time comes in as an argument.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

# exp - iat of every signup token LivePerson has been seen to issue (about 13 years).
SIGNUP_TOKEN_LIFETIME_SECONDS = 410_240_040

_HEADER = {"kid": "00001", "typ": "JWT", "alg": "HS256"}


class TokenError(Exception):
    """The token is malformed, not signed by this emulator, or for another account."""


class TokenExpiredError(TokenError):
    """The token was genuine but its ``exp`` has passed."""


@dataclass(frozen=True)
class ConsumerClaims:
    """What a verified token says: who the consumer is and until when (unix seconds)."""

    consumer_id: str
    account: str
    issued_at_seconds: int
    expires_at_seconds: int


def _encode_segment(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_segment(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as error:
        raise TokenError("token segment is not base64url") from error


def _json_segment(value: dict[str, Any]) -> str:
    return _encode_segment(json.dumps(value, separators=(",", ":")).encode("utf-8"))


class TokenSigner:
    """Issues and verifies the consumer tokens of one emulated account.

    ``secret`` is the HMAC key (keep it for the emulator's lifetime so tokens survive a
    restart); ``account`` is the LivePerson account the tokens are for.
    """

    def __init__(self, secret: bytes, account: str) -> None:
        self._secret = secret
        self._account = account

    def _signature(self, signing_input: str) -> str:
        digest = hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return _encode_segment(digest)

    def issue(
        self,
        consumer_id: str,
        now_seconds: float,
        lifetime_seconds: int,
        issuer: str,
    ) -> str:
        """Return a signed token for ``consumer_id`` valid ``lifetime_seconds`` from now.

        A zero or negative lifetime gives a token that is already expired (for tests).
        """
        issued_at = int(now_seconds)
        payload = {
            "sub": consumer_id,
            "aud": f"acc:{self._account}",
            "iss": issuer,
            "exp": issued_at + lifetime_seconds,
            "iat": issued_at,
            "jti": str(uuid.uuid4()),
        }
        signing_input = f"{_json_segment(_HEADER)}.{_json_segment(payload)}"
        return f"{signing_input}.{self._signature(signing_input)}"

    def verify(self, token: str, now_seconds: float) -> ConsumerClaims:
        """Return the claims of ``token`` if this emulator issued it and it has not expired.

        Raises TokenExpiredError when ``exp`` is not in the future, and TokenError for any
        other defect (shape, algorithm, signature, audience, missing claims).
        """
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("token does not have three segments")
        header_segment, payload_segment, signature = parts
        expected = self._signature(f"{header_segment}.{payload_segment}")
        if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii", "replace")):
            raise TokenError("token signature does not match")
        try:
            header = json.loads(_decode_segment(header_segment))
            payload = json.loads(_decode_segment(payload_segment))
        except ValueError as error:
            raise TokenError("token segment is not JSON") from error
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise TokenError("token algorithm is not HS256")
        if not isinstance(payload, dict):
            raise TokenError("token payload is not an object")
        return self._claims(payload, now_seconds)

    def _claims(self, payload: dict[str, Any], now_seconds: float) -> ConsumerClaims:
        consumer_id = payload.get("sub")
        issued_at = payload.get("iat")
        expires_at = payload.get("exp")
        if not isinstance(consumer_id, str) or not consumer_id:
            raise TokenError("token has no subject")
        if payload.get("aud") != f"acc:{self._account}":
            raise TokenError("token is for another account")
        if not isinstance(issued_at, int) or not isinstance(expires_at, int):
            raise TokenError("token lacks integer iat/exp")
        if expires_at <= now_seconds:
            raise TokenExpiredError("token has expired")
        return ConsumerClaims(consumer_id, self._account, issued_at, expires_at)
