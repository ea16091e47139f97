"""The unauthenticated (anonymous) identity flow of an ACR0 connector.

LivePerson documents it in developer-center
``pages/Documents/ClientSideConfiguration/MessagingWindowAPI/APIReference/unauthenticated-messaging.md``:
``POST /api/account/{acc}/anonymous/authorize`` (no body) gives an external token;
``POST /api/account/{acc}/app/{connector}/authenticate?v=3.0`` with ``{"id_token"}`` exchanges
it for a LivePerson token (``{"token"}``). "Once the external token is expired (10 minutes by
default), you can refresh it for a certain period of time (730 hours by default)" by posting
the previous one as ``{"id_token"}`` to ``anonymous/authorize``: the same identity, so the
same consumer and conversations.

Whether LivePerson also refreshes a token that has not expired yet is not documented; both
answers are handled (``UnauthenticatedFlow._refresh_refused``). Raises as ``IdentityFlow``
says (``identity_flows.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import quote

from syncd.errors import IdentityGoneError, IdentityRejectedError, ProtocolError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import HttpStatusError
from syncd.liveperson.identity import (
    ConsumerIdentity,
    consumer_id_of,
    idp_url,
    jwt_expires_at,
    jwt_payload,
    renew_due_at,
    token_field,
)

logger = logging.getLogger(__name__)

# LivePerson's documented default: an expired anonymous token can be refreshed for 730 hours.
DEFAULT_REFRESH_WINDOW_SECONDS = 730 * 3600.0


def _lifetime_seconds(token: str) -> float | None:
    """``exp - iat`` of a LivePerson token, None when either is missing."""
    try:
        claims = jwt_payload(token)
    except ProtocolError:
        return None
    expires, issued = claims.get("exp"), claims.get("iat")
    if isinstance(expires, int | float) and isinstance(issued, int | float):
        return float(expires) - float(issued)
    return None


class _RefreshRefusedError(Exception):
    """The IdP refused to refresh an anonymous external token with HTTP ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class UnauthenticatedFlow:
    """Anonymous consumers of an ACR0 (unauthenticated) connector, refreshed to stay the same."""

    name = "unauthenticated"
    renewable = True

    def __init__(
        self,
        http: HttpClient,
        resolver: DomainResolver,
        account: str,
        *,
        connector_id: str,
        refresh_window_seconds: float = DEFAULT_REFRESH_WINDOW_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._resolver = resolver
        self._account = account
        self._connector_id = connector_id
        self._refresh_window_seconds = refresh_window_seconds
        self._clock = clock

    def new_identity(self) -> ConsumerIdentity:
        """A new anonymous identity: a fresh external token, exchanged."""
        return self._exchange(self._authorize(None))

    def renew(self, identity: ConsumerIdentity) -> ConsumerIdentity:
        """Exchange the stored external token again, refreshing it first when it would not
        outlive another LivePerson token (LivePerson's token cannot outlast the identity
        token it came from, so exchanging a nearly spent one only buys a short token).

        Raises IdentityGoneError only when LivePerson refused to refresh the token although
        it had expired by LivePerson's own clock (see ``_refresh_refused``).
        """
        external = identity.external_token
        if external is None:
            raise IdentityGoneError("no anonymous external token is stored to refresh")
        now = self._clock()
        due = renew_due_at(external, now)
        external_expires = jwt_expires_at(external)
        token_lifetime = _lifetime_seconds(identity.jwt)
        if (
            due is None
            or now >= due
            or external_expires is None
            or token_lifetime is None
            or external_expires - now < token_lifetime
        ):
            try:
                external = self._authorize(external)
            except _RefreshRefusedError as refused:
                return self._refresh_refused(external, refused.status)
        return self._exchange(external)

    def _refresh_refused(self, external: str, status: int) -> ConsumerIdentity:
        """What a refused refresh of ``external`` means, judged by LivePerson's clock.

        LivePerson documents the refresh for a token that has expired ("Once the external
        token is expired (10 minutes by default), you can refresh it for a certain period of
        time (730 hours by default)", developer-center APIReference/
        unauthenticated-messaging.md, Step 4), so a refusal may only mean "not yet". syncd's
        clock cannot tell: the refusal may have been decided just before ``exp`` and read just
        after it, and the two clocks may differ. The connector can tell: if it still takes
        the token, the token is valid and is used while it lasts. If it does not, the token
        has expired by LivePerson's clock, and a refresh now is the documented one: only its
        refusal means the identity is gone (the refresh window has passed).
        """
        still_valid = self._exchange_if_valid(external)
        if still_valid is not None:
            logger.info("the anonymous token is refreshed only once it has expired")
            return still_valid
        try:
            refreshed = self._authorize(external)
        except _RefreshRefusedError as refused:
            raise IdentityGoneError(
                f"LivePerson refused to refresh the expired anonymous identity (HTTP "
                f"{refused.status}, HTTP {status} before): its refresh window has passed"
            ) from None
        return self._exchange(refreshed)

    def _authorize(self, previous: str | None) -> str:
        """A new external token, or (with ``previous``) the same identity's refreshed one.

        Raises _RefreshRefusedError when a refresh is refused, IdentityRejectedError when a
        new token is.
        """
        url = idp_url(self._resolver, self._account, "anonymous/authorize")
        payload = None if previous is None else {"id_token": previous}
        try:
            body = self._http.post_json(url, payload).json
        except HttpStatusError as error:
            if previous is not None:
                raise _RefreshRefusedError(error.status) from None
            raise IdentityRejectedError(
                f"LivePerson refused an anonymous token (HTTP {error.status}): the account "
                "needs the Messaging.Un_Auth_Messaging feature",
                key="liveperson.identity",
                step="anonymous authorize",
            ) from None
        return token_field(body, "token", "anonymous/authorize")

    def _exchange(self, external: str) -> ConsumerIdentity:
        """The LivePerson token for ``external``; IdentityRejectedError when the connector
        refuses it."""
        try:
            return self._exchanged(external)
        except HttpStatusError as error:
            raise self._connector_refused(error.status) from None

    def _exchange_if_valid(self, external: str) -> ConsumerIdentity | None:
        """``_exchange``, but None when the connector refuses the token with HTTP 401: an
        expired (or unknown) token. Other refusals concern the connector itself."""
        try:
            return self._exchanged(external)
        except HttpStatusError as error:
            if error.status == HTTPStatus.UNAUTHORIZED:
                return None
            raise self._connector_refused(error.status) from None

    def _connector_refused(self, status: int) -> IdentityRejectedError:
        return IdentityRejectedError(
            f"connector {self._connector_id} did not accept the anonymous token "
            f"(HTTP {status}); it must be the ACR0 connector LivePerson provisioned",
            key="liveperson.connector_id",
            step="connector authenticate",
        )

    def _exchanged(self, external: str) -> ConsumerIdentity:
        """Post ``external`` to the connector; raises HttpStatusError when it is refused."""
        connector = quote(self._connector_id, safe="")
        url = idp_url(self._resolver, self._account, f"app/{connector}/authenticate?v=3.0")
        body = self._http.post_json(url, {"id_token": external}).json
        token = token_field(body, "token", "connector authenticate")
        expires_at = jwt_expires_at(external)
        deadline = None if expires_at is None else expires_at + self._refresh_window_seconds
        return ConsumerIdentity(consumer_id_of(token), token, self.name, external, deadline)
