"""The emulated IdP's consumer identities: signup, authenticated and unauthenticated flows.

LivePerson documents (developer-center Tutorials/authentication.md and
APIReference/unauthenticated-messaging.md):

* authenticated: the brand's external JWT, RS256-signed with its private key, is checked
  against the public key of the account's "OAuth 2.0 authentication (implicit)" connector;
  the same external ``sub`` is always the same consumer;
* unauthenticated: ``anonymous/authorize`` issues an external token (10 minutes by default),
  refreshable by posting the previous one within a window (730 hours by default); the
  ACR0 connector exchanges it for a LivePerson token.

Choices where LivePerson is silent, made here: the refresh window counts from the presented
token's ``exp``; a refreshed token stays refreshable (so a client that crashed before storing
the new one can refresh the old one again); the consumer id is a random uuid per external
identity, not the external ``sub``; every refusal is HTTP 401 except an unknown connector
(404) and a disabled signup (403).

Authenticated tokens carry a hashed ``sub`` (as in LivePerson's tutorial), and LivePerson
does not document that an authenticated consumer's ``originatorId`` equals it. The emulator
takes the unkind reading: the token's ``sub`` is a SHA-256 of the account and external
``sub``, while the consumer's participant and ``originatorId`` is its uuid. A client must
recognise its own events by ``originatorMetadata.role``, as LivePerson's samples do.

PyJWT and ``cryptography`` do the signing and verifying. Pure apart from key generation;
time comes in as an argument. No aiohttp here.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from syncd.emulator.rejection import Rejection
from syncd.emulator.settings import EmulatorSettings

AUTHENTICATED = "authenticated"
UNAUTHENTICATED = "unauthenticated"
SIGNUP = "signup"


@dataclass
class ConsumerRecord:
    """One consumer as the agent console shows it: how it was identified and its details."""

    consumer_id: str
    flow: str
    subject: str | None = None
    token_subject: str | None = None
    name: str | None = None
    sdes: list[Any] = field(default_factory=list)
    tokens_issued: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON form of ``/_emulator/state``."""
        return {
            "consumerId": self.consumer_id,
            "flow": self.flow,
            "sub": self.subject,
            "tokenSub": self.token_subject or self.consumer_id,
            "name": self.name,
            "sdes": self.sdes,
            "tokensIssued": self.tokens_issued,
        }


def load_public_key(path: Path) -> RSAPublicKey:
    """Read a PEM RSA public key; raises ValueError (OSError when unreadable)."""
    try:
        key = load_pem_public_key(path.read_bytes())
    except ValueError:
        raise ValueError(f"--auth-public-key {path}: not a PEM public key") from None
    if not isinstance(key, RSAPublicKey):
        raise ValueError(f"--auth-public-key {path}: not an RSA public key")
    return key


def _display_name(claims: Mapping[str, Any]) -> str | None:
    parts = [claims.get("given_name"), claims.get("family_name")]
    words = [part for part in parts if isinstance(part, str) and part]
    if words:
        return " ".join(words)
    name = claims.get("name")
    return name if isinstance(name, str) else None


class IdentityService:
    """Every consumer identity of one emulated account, and a log of each IdP call."""

    def __init__(self, settings: EmulatorSettings, public_key: RSAPublicKey | None) -> None:
        self._settings = settings
        self._public_key = public_key
        # Signs the anonymous external tokens (the IdP's own key).
        self._anonymous_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.consumers: dict[str, ConsumerRecord] = {}
        self._by_subject: dict[tuple[str, str], str] = {}
        self._by_token_subject: dict[str, str] = {}
        self.log: list[dict[str, Any]] = []

    # --- the log --------------------------------------------------------------------------

    def record(self, call: str, now: float, consumer_id: str | None, error: str | None) -> None:
        """Append one IdP call to the log (``ok`` is False with the refusal's reason)."""
        entry: dict[str, Any] = {"call": call, "at": now, "consumerId": consumer_id}
        entry.update(ok=error is None, error=error)
        self.log.append(entry)

    def is_anonymous(self, consumer_id: str) -> bool:
        """True when ``consumer_id`` was identified by the anonymous (unauthenticated) flow."""
        record = self.consumers.get(consumer_id)
        return record is not None and record.flow == UNAUTHENTICATED

    def counted(self, consumer_id: str) -> None:
        """Count one LivePerson token issued to ``consumer_id``."""
        record = self.consumers.get(consumer_id)
        if record is not None:
            record.tokens_issued += 1

    def consumer_for_token_subject(self, token_subject: str) -> str:
        """The consumer (participant, ``originatorId``) a LivePerson token's ``sub`` stands for."""
        return self._by_token_subject.get(token_subject, token_subject)

    def _consumer_for(self, flow: str, subject: str) -> ConsumerRecord:
        consumer_id = self._by_subject.get((flow, subject))
        if consumer_id is None:
            consumer_id = str(uuid.uuid4())
            self._by_subject[(flow, subject)] = consumer_id
            record = ConsumerRecord(consumer_id, flow, subject)
            if flow == AUTHENTICATED:
                hashed = f"{self._settings.account}:{subject}".encode()
                record.token_subject = hashlib.sha256(hashed).hexdigest()
                self._by_token_subject[record.token_subject] = consumer_id
            self.consumers[consumer_id] = record
        return self.consumers[consumer_id]

    # --- signup ---------------------------------------------------------------------------

    def signup(self) -> ConsumerRecord:
        """A new anonymous consumer; Rejection(403) when signup is disabled."""
        if self._settings.signup_disabled:
            raise Rejection(403, "Signup is disabled for this account")
        record = ConsumerRecord(str(uuid.uuid4()), SIGNUP)
        self.consumers[record.consumer_id] = record
        return record

    # --- authenticated --------------------------------------------------------------------

    def authenticate(self, auth_code: Any, now: float) -> tuple[ConsumerRecord, float]:
        """Verify a brand-signed external JWT; return its consumer and the JWT's ``exp``.

        Raises Rejection(401) when no connector key is configured, or for a bad signature,
        an expired token, a missing ``sub``/``exp``, or another issuer than the configured one.
        """
        if self._public_key is None:
            raise Rejection(401, "No authentication connector is configured")
        if not isinstance(auth_code, str) or not auth_code:
            raise Rejection(401, "'authCode' must be the external JWT")
        issuer = self._settings.auth_issuer
        try:
            claims = jwt.decode(
                auth_code,
                self._public_key,
                algorithms=["RS256"],
                issuer=issuer,
                # Expiry is judged below by the emulator's clock, which tests may set.
                options={"require": ["exp", "sub"], "verify_aud": False, "verify_exp": False},
            )
        except jwt.InvalidIssuerError:
            raise Rejection(401, "The external JWT has another issuer") from None
        except jwt.PyJWTError as error:
            raise Rejection(401, f"The external JWT is not valid: {type(error).__name__}") from None
        expires_at = float(claims["exp"])
        if expires_at <= now:
            raise Rejection(401, "The external JWT has expired")
        record = self._consumer_for(AUTHENTICATED, str(claims["sub"]))
        record.name = _display_name(claims) or record.name
        sdes = claims.get("lp_sdes")
        if isinstance(sdes, list):
            record.sdes = sdes
        return record, expires_at

    # --- unauthenticated ------------------------------------------------------------------

    def anonymous_token(self, previous: Any, now: float, issuer: str) -> str:
        """Issue an anonymous external token: a new identity, or (with ``previous``) the
        same identity refreshed. Rejection(401) for a foreign token or a passed window."""
        if previous is None:
            subject = str(uuid.uuid4())
        else:
            # developer-center APIReference/unauthenticated-messaging.md, "Step 4 — Refresh
            # an External Token": "Once the external token is expired (10 minutes by
            # default), you can refresh it for a certain period of time (730 hours by
            # default)". The window runs from the presented token's ``exp``; refreshing
            # before it is the page's silence: refused by default (no kinder than the page),
            # allowed with ``unauth_refresh_only_expired = False``.
            claims = self._anonymous_claims(previous, now, allow_expired=True)
            window = self._settings.unauth_refresh_window_seconds
            if float(claims["exp"]) + window <= now:
                raise Rejection(401, "The refresh window of this identity has passed")
            if self._settings.unauth_refresh_only_expired and float(claims["exp"]) > now:
                raise Rejection(401, "The external token has not expired yet")
            subject = str(claims["sub"])
        issued_at = int(now)
        claims = {
            "sub": subject,
            "iss": issuer,
            "aud": f"acc:{self._settings.account}",
            "iat": issued_at,
            "exp": issued_at + self._settings.external_token_lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._anonymous_key, algorithm="RS256")

    def exchange(
        self, connector_id: str, id_token: Any, now: float
    ) -> tuple[ConsumerRecord, float]:
        """Exchange an anonymous external token at connector ``connector_id``: its consumer
        and the token's ``exp``. Rejection(404) for an unknown connector, 401 for a bad or
        expired token."""
        configured = self._settings.unauth_connector_id
        if configured is None or connector_id != configured:
            raise Rejection(404, "Unknown connector")
        claims = self._anonymous_claims(id_token, now, allow_expired=False)
        record = self._consumer_for(UNAUTHENTICATED, str(claims["sub"]))
        return record, float(claims["exp"])

    def _anonymous_claims(self, token: Any, now: float, allow_expired: bool) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise Rejection(401, "'id_token' must be an external token")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._anonymous_key.public_key(),
                algorithms=["RS256"],
                options={"require": ["exp", "sub"], "verify_aud": False, "verify_exp": False},
            )
        except jwt.PyJWTError:
            raise Rejection(401, "The external token is not one of this IdP") from None
        if not allow_expired and float(claims["exp"]) <= now:
            raise Rejection(401, "The external token has expired")
        return claims
