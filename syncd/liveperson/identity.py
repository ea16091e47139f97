"""The consumer identity of one route: a LivePerson token, the consumer id inside it, and
when to renew it; plus the demo-only IdP ``signup``.

The consumer id is the ``sub`` of the LivePerson token (for authenticated consumers a hash
LivePerson derives from the brand's external ``sub``). It is the ``originatorId`` of every
event syncd publishes. The production flows that obtain and renew tokens without changing
the consumer live in ``identity_flows.py``.

Tokens are read without verifying their signature: syncd is the bearer, not the audience,
and only reads ``sub``, ``iat`` and ``exp`` for bookkeeping.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from syncd.errors import ProtocolError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.jwt_codec import unverified_claims

logger = logging.getLogger(__name__)

IDP_SERVICE = "idp"

# A token is renewed when a quarter of its lifetime is left, and at the latest a minute
# before it expires: early enough for the renewal and a resubscription to finish on a slow
# link, late enough that a 10-minute token is renewed about every 7.5 minutes.
RENEW_FRACTION_LEFT = 0.25
RENEW_MARGIN_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class ConsumerIdentity:
    """Who a route speaks as. Tokens never show in ``repr``.

    ``flow`` is the identity flow that made it (``signup``, ``authenticated``,
    ``unauthenticated``); ``external_token`` is the anonymous flow's external JWT, refreshed
    to renew the identity, and ``refresh_deadline`` (unix s) the last moment LivePerson is
    expected to accept that refresh (None when not known or not applicable).
    """

    consumer_id: str
    jwt: str = field(repr=False)
    flow: str = "signup"
    external_token: str | None = field(default=None, repr=False)
    refresh_deadline: float | None = None


def jwt_payload(jwt: str) -> Mapping[str, Any]:
    """Return the decoded (unverified) payload of a compact JWT; raises ProtocolError."""
    return unverified_claims(jwt)


def consumer_id_of(jwt: str) -> str:
    """Return the consumer id (``sub``) carried by a LivePerson token; raises ProtocolError."""
    subject = jwt_payload(jwt).get("sub")
    if not isinstance(subject, str) or not subject:
        raise ProtocolError("the consumer token has no 'sub' (consumer id)")
    return subject


def identity_from_jwt(jwt: str) -> ConsumerIdentity:
    """Return the signup identity carried by ``jwt`` (consumer id = ``sub``)."""
    return ConsumerIdentity(consumer_id=consumer_id_of(jwt), jwt=jwt)


def _time_claim(jwt: str, name: str) -> float | None:
    try:
        value = jwt_payload(jwt).get(name)
    except ProtocolError:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def jwt_expires_at(jwt: str) -> float | None:
    """Return the token's ``exp`` as a Unix time, or None when it has none or is unreadable."""
    return _time_claim(jwt, "exp")


def renew_due_at(jwt: str, obtained_at: float) -> float | None:
    """When a token should be renewed (unix s): a quarter of its life before ``exp``, at most
    ``RENEW_MARGIN_MAX_SECONDS`` before it. ``obtained_at`` stands in for a missing ``iat``.
    Returns None for a token without a readable ``exp`` (renewed only when refused).
    """
    expires_at = jwt_expires_at(jwt)
    if expires_at is None:
        return None
    issued_at = _time_claim(jwt, "iat")
    lifetime = expires_at - (issued_at if issued_at is not None else obtained_at)
    margin = min(RENEW_MARGIN_MAX_SECONDS, max(0.0, lifetime) * RENEW_FRACTION_LEFT)
    return expires_at - margin


def idp_url(resolver: DomainResolver, account: str, path: str) -> str:
    """``https://{idp}/api/account/{account}/{path}``; raises the resolver's errors."""
    return f"{resolver.http_url(IDP_SERVICE)}/api/account/{quote(account, safe='')}/{path}"


def token_field(body: Any, name: str, what: str) -> str:
    """The non-empty string ``name`` of an IdP answer; ProtocolError naming ``what`` else."""
    value = body.get(name) if isinstance(body, Mapping) else None
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"the IdP {what} answer lacks {name!r}")
    return value


def signup(http: HttpClient, resolver: DomainResolver, account: str) -> ConsumerIdentity:
    """Sign up a new unauthenticated consumer and return its identity.

    ``POST https://{idp}/api/account/{account}/signup`` with no body; the answer is
    ``{"jwt": "..."}``. LivePerson calls this a demonstration, not for production. Raises
    ProtocolError for an answer without a usable JWT and the errors of
    ``HttpClient``/``DomainResolver`` (TransientTransferError is worth retrying).
    """
    url = f"{resolver.http_url(IDP_SERVICE)}/api/account/{quote(account, safe='')}/signup"
    body = http.post_json(url).json
    jwt = body.get("jwt") if isinstance(body, Mapping) else None
    if not isinstance(jwt, str) or not jwt:
        raise ProtocolError("the IdP signup answer lacks 'jwt'")
    identity = identity_from_jwt(jwt)
    logger.info("signed up as LivePerson consumer %s", identity.consumer_id)
    return identity
