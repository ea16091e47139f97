"""LivePerson consumer tokens of the emulated IdP: issue and verify them with PyJWT.

LivePerson signs its tokens with RS256; the emulator signs with HS256 and a secret that lives
as long as the emulator, which is enough to tell its own tokens from forged ones. The header
keeps LivePerson's ``kid`` and the payload carries ``sub`` (the consumer id), ``aud``
(``acc:{account}``), ``iss``, ``iat``, ``exp`` and ``jti``. Time comes in as an argument.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

# exp - iat of every signup token LivePerson has been seen to issue (about 13 years).
SIGNUP_TOKEN_LIFETIME_SECONDS = 410_240_040

_KEY_ID = "00001"


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
    # True for a consumer of the anonymous (unauthenticated) flow: its socket closes with
    # 4407 ("extend the validity of the current identity") instead of 4401 when it expires.
    anonymous: bool = False


class TokenSigner:
    """Issues and verifies the consumer tokens of one emulated account.

    ``secret`` is the HMAC key (keep it for the emulator's lifetime so tokens survive a
    restart); ``account`` is the LivePerson account the tokens are for.
    """

    def __init__(self, secret: bytes, account: str) -> None:
        self._secret = secret
        self._account = account

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
        return jwt.encode(payload, self._secret, algorithm="HS256", headers={"kid": _KEY_ID})

    def verify(self, token: str, now_seconds: float) -> ConsumerClaims:
        """Return the claims of ``token`` if this emulator issued it and it has not expired.

        Raises TokenExpiredError when ``exp`` is not in the future, and TokenError for any
        other defect (shape, algorithm, signature, audience, missing claims).
        """
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=f"acc:{self._account}",
                # Expiry is judged by the emulator's clock (tests may set it), below.
                options={"verify_exp": False, "verify_iat": False},
            )
        except jwt.InvalidAudienceError as error:
            raise TokenError("token is for another account") from error
        except jwt.PyJWTError as error:
            raise TokenError(f"token is not valid: {type(error).__name__}") from error
        return self._claims(payload, now_seconds)

    def _claims(self, payload: dict[str, Any], now_seconds: float) -> ConsumerClaims:
        consumer_id = payload.get("sub")
        issued_at = payload.get("iat")
        expires_at = payload.get("exp")
        if not isinstance(consumer_id, str) or not consumer_id:
            raise TokenError("token has no subject")
        if not isinstance(issued_at, int) or not isinstance(expires_at, int):
            raise TokenError("token lacks integer iat/exp")
        if expires_at <= now_seconds:
            raise TokenExpiredError("token has expired")
        return ConsumerClaims(consumer_id, self._account, issued_at, expires_at)
