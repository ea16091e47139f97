"""How a route obtains and renews its consumer token: one class per configured flow.

* ``AuthenticatedFlow`` (production; developer-center Tutorials/authentication.md): syncd
  signs an external JWT (RS256) for a fixed ``sub`` with the brand's private key and posts it
  as ``{"authCode": ...}`` to ``/api/account/{acc}/authenticate``; the answer is ``{"jwt"}``.
  The same ``sub`` always maps to the same consumer, so renewing is simply doing it again.
* ``UnauthenticatedFlow`` (production; APIReference/unauthenticated-messaging.md), in
  ``identity_anonymous.py`` and re-exported here: anonymous external tokens, refreshed to stay
  the same identity and exchanged at the ACR0 connector.
* ``SignupFlow`` (demo and emulator only): ``/signup``. Its tokens cannot be renewed.

``renew`` keeps the consumer or raises IdentityGoneError (only a new consumer helps);
``new_identity`` makes a consumer. Both raise IdentityRejectedError naming the configuration
key to fix when LivePerson refuses the configuration itself, and the transient errors of
``HttpClient`` (the caller retries those).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from syncd.errors import IdentityGoneError, IdentityRejectedError, TransientTransferError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.identity import (
    ConsumerIdentity,
    consumer_id_of,
    idp_url,
    signup,
    token_field,
)
from syncd.liveperson.identity_anonymous import UnauthenticatedFlow as UnauthenticatedFlow
from syncd.liveperson.jwt_codec import PrivateKey, sign_rs256

# Lifetime of the external JWTs syncd signs. Each is used once, right away, so it can be
# short; LivePerson does not document a limit.
EXTERNAL_JWT_LIFETIME_SECONDS = 300

# LivePerson's IdP has answered a JWT it could not validate with HTTP 500 and this internal
# code (CUSTOMER_JWT_NOT_VALID, developer-center issue #198): a refusal, not an outage.
JWT_NOT_VALID_CODE = "9007"


class IdentityFlow(Protocol):
    """What ``ConsumerLink`` needs from a flow (see the module docstring)."""

    @property
    def name(self) -> str:
        """``signup``, ``authenticated`` or ``unauthenticated``."""

    @property
    def renewable(self) -> bool:
        """False when a refused token can only be replaced by a new consumer."""

    def new_identity(self) -> ConsumerIdentity:
        """Obtain a token for a consumer (possibly the same one, for stable external ids)."""

    def renew(self, identity: ConsumerIdentity) -> ConsumerIdentity:
        """Obtain a fresh token for ``identity``'s consumer."""


class SignupFlow:
    """The IdP signup of LivePerson's getting-started page ("only a demonstration")."""

    name = "signup"
    renewable = False

    def __init__(self, http: HttpClient, resolver: DomainResolver, account: str) -> None:
        self._http = http
        self._resolver = resolver
        self._account = account

    def new_identity(self) -> ConsumerIdentity:
        """Sign up a new consumer; IdentityRejectedError when the account refuses signups."""
        try:
            return signup(self._http, self._resolver, self._account)
        except HttpStatusError as error:
            raise IdentityRejectedError(
                f"LivePerson refused the consumer signup (HTTP {error.status}); production "
                'accounts disable it: set identity = "authenticated" or "unauthenticated"',
                key="liveperson.identity",
                step="signup",
            ) from None

    def renew(self, identity: ConsumerIdentity) -> ConsumerIdentity:
        """Signup tokens cannot be renewed: always raises IdentityGoneError."""
        raise IdentityGoneError(
            f"LivePerson refused the token of signup consumer {identity.consumer_id}, and "
            "signup tokens cannot be renewed"
        )


class AuthenticatedFlow:
    """Brand-signed external JWTs for one fixed external ``sub`` (one consumer per route)."""

    name = "authenticated"
    renewable = True

    def __init__(
        self,
        http: HttpClient,
        resolver: DomainResolver,
        account: str,
        *,
        private_key: PrivateKey,
        issuer: str,
        subject: str,
        display_name: str,
        route_name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._resolver = resolver
        self._account = account
        self._private_key = private_key
        self._issuer = issuer
        self._subject = subject
        self._display_name = display_name
        self._route_name = route_name
        self._clock = clock

    def external_claims(self, now: float) -> dict[str, Any]:
        """The claims of the external JWT at ``now``: identity, times and what agents see.

        ``given_name``/``family_name`` are OpenID Connect's standard names; ``lp_sdes`` is
        LivePerson's engagement-attribute list (``ctmrinfo`` with the customer id, and
        ``personal`` with first and last name), in the layout of LivePerson's samples.
        """
        issued_at = int(now)
        return {
            "iss": self._issuer,
            "sub": self._subject,
            "aud": f"acc:{self._account}",
            "iat": issued_at,
            "exp": issued_at + EXTERNAL_JWT_LIFETIME_SECONDS,
            "given_name": self._display_name,
            "family_name": self._route_name,
            "lp_sdes": [
                {
                    "type": "ctmrinfo",
                    "info": {
                        "customerId": self._subject,
                        "userName": self._route_name,
                        "ctype": "scanner",
                    },
                },
                {
                    "type": "personal",
                    "personal": {"firstname": self._display_name, "lastname": self._route_name},
                },
            ],
        }

    def new_identity(self) -> ConsumerIdentity:
        """Authenticate the route's ``sub``: the same consumer every time."""
        external = sign_rs256(self.external_claims(self._clock()), self._private_key)
        url = idp_url(self._resolver, self._account, "authenticate")
        try:
            body = self._http.post_json(url, {"authCode": external}).json
        except HttpStatusError as error:
            raise self._rejected(f"HTTP {error.status}") from None
        except TransientTransferError as error:
            if JWT_NOT_VALID_CODE in str(error):
                raise self._rejected(f"internal error {JWT_NOT_VALID_CODE}") from None
            raise
        token = token_field(body, "jwt", "authenticate")
        return ConsumerIdentity(consumer_id_of(token), token, self.name)

    def renew(self, identity: ConsumerIdentity) -> ConsumerIdentity:
        """Authenticate again; LivePerson maps the unchanged ``sub`` to the same consumer."""
        return self.new_identity()

    def _rejected(self, detail: str) -> IdentityRejectedError:
        return IdentityRejectedError(
            f"LivePerson did not accept the JWT signed with the brand key ({detail}): the "
            "authentication connector must hold its public key (and accept the issuer)",
            key="liveperson.private_key_file",
            step="authenticate",
        )
