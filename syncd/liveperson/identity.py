"""The consumer identity of one route: an IdP signup JWT and the consumer id inside it.

An unauthenticated signup (protocol.md §2.1) returns a JWT whose ``sub`` is the consumer id;
that id is the ``originatorId`` of every event syncd publishes, which is how syncd tells its
own events from the agent's. A new signup is a new consumer who cannot see the old one's
conversations, so the daemon keeps the JWT in its state and signs up again only when
LivePerson refuses the token (close 4401/4407, HTTP 401).

The JWT is decoded without verifying its signature: syncd is the token's bearer, not its
audience, and only reads ``sub`` and ``exp`` for bookkeeping.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from syncd.errors import ProtocolError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient

logger = logging.getLogger(__name__)

IDP_SERVICE = "idp"


@dataclass(frozen=True)
class ConsumerIdentity:
    """A consumer id and the JWT that proves it; the JWT never shows in ``repr``."""

    consumer_id: str
    jwt: str = field(repr=False)


def jwt_payload(jwt: str) -> Mapping[str, Any]:
    """Return the decoded (unverified) payload of a compact JWT.

    Raises ProtocolError when ``jwt`` is not three dot-separated base64url parts with a JSON
    object in the middle. The token is never part of the message.
    """
    parts = jwt.split(".")
    if len(parts) != 3 or not parts[1]:
        raise ProtocolError("the consumer token is not a compact JWT")
    encoded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(encoded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise ProtocolError("the consumer token's payload is not base64url JSON") from None
    if not isinstance(payload, Mapping):
        raise ProtocolError("the consumer token's payload is not a JSON object")
    return payload


def identity_from_jwt(jwt: str) -> ConsumerIdentity:
    """Return the identity carried by ``jwt`` (consumer id = ``sub``); raises ProtocolError."""
    subject = jwt_payload(jwt).get("sub")
    if not isinstance(subject, str) or not subject:
        raise ProtocolError("the consumer token has no 'sub' (consumer id)")
    return ConsumerIdentity(consumer_id=subject, jwt=jwt)


def jwt_expires_at(jwt: str) -> float | None:
    """Return the token's ``exp`` as a Unix time, or None when it has none or is unreadable."""
    try:
        expires = jwt_payload(jwt).get("exp")
    except ProtocolError:
        return None
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        return float(expires)
    return None


def signup(http: HttpClient, resolver: DomainResolver, account: str) -> ConsumerIdentity:
    """Sign up a new unauthenticated consumer and return its identity.

    ``POST https://{idp}/api/account/{account}/signup`` with no body; the answer is
    ``{"jwt": "..."}``. Raises ProtocolError for an answer without a usable JWT and the
    errors of ``HttpClient``/``DomainResolver`` (TransientTransferError is worth retrying).
    """
    url = f"{resolver.http_url(IDP_SERVICE)}/api/account/{quote(account, safe='')}/signup"
    body = http.post_json(url).json
    jwt = body.get("jwt") if isinstance(body, Mapping) else None
    if not isinstance(jwt, str) or not jwt:
        raise ProtocolError("the IdP signup answer lacks 'jwt'")
    identity = identity_from_jwt(jwt)
    logger.info("signed up as LivePerson consumer %s", identity.consumer_id)
    return identity
