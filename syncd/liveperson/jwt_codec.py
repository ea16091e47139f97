"""The only client-side importer of PyJWT and ``cryptography``: read tokens, sign external JWTs.

Two jobs:

* read the claims of a token LivePerson gave us (``sub``, ``iat``, ``exp``) without verifying
  its signature: syncd is the token's bearer, not its audience, and only needs them for
  bookkeeping (who we are, when to renew);
* sign the *external* JWT of the authenticated flow with the brand's RSA private key (RS256),
  as LivePerson's "OAuth 2.0 authentication (implicit)" connector expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from syncd.errors import ProtocolError

__all__ = ["PrivateKey", "load_private_key", "sign_rs256", "unverified_claims"]

# The smallest RSA key LivePerson's sample uses is 1024 bits; anything shorter is a mistake.
MIN_RSA_BITS = 1024


class PrivateKey:
    """An RSA private key loaded from PEM; opaque outside this module (never printed)."""

    def __init__(self, key: RSAPrivateKey) -> None:
        self._key = key

    @property
    def bits(self) -> int:
        """The key size in bits."""
        return int(self._key.key_size)

    def __repr__(self) -> str:
        return f"PrivateKey(RSA {self.bits} bits)"


def load_private_key(pem: bytes) -> PrivateKey:
    """Parse an unencrypted PEM RSA private key (PKCS#1 or PKCS#8).

    Raises ValueError with a sentence for a file that is not one (an encrypted key, a
    public key, another algorithm, a key under ``MIN_RSA_BITS``). The key bytes never
    appear in the message.
    """
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("the private key is encrypted; store it without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key (expected BEGIN PRIVATE KEY)") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("not an RSA key: LivePerson verifies RS256 signatures")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"the RSA key has {key.key_size} bits; use at least 2048")
    return PrivateKey(key)


def sign_rs256(claims: Mapping[str, Any], key: PrivateKey) -> str:
    """Return the compact RS256 JWT of ``claims`` signed with ``key``."""
    return jwt.encode(dict(claims), key._key, algorithm="RS256", headers={"typ": "JWT"})


def unverified_claims(token: str) -> Mapping[str, Any]:
    """Return the payload of a compact JWT without checking its signature or times.

    Raises ProtocolError when ``token`` is not a JWT with a JSON object payload; the token
    itself is never part of the message.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ProtocolError("the token is not a readable JWT") from None
    if not isinstance(claims, Mapping):
        raise ProtocolError("the token's payload is not a JSON object")
    return claims
