"""Account set-up as an administrator: log in and change a site setting.

File sharing must be switched on once per account (LivePerson's tutorial, step 1): log in
through the ``agentVep`` login service, then set ``messaging.file.sharing.enabled`` through
the account-config API (``accountConfigReadWrite``). The read-modify-write uses the
revision from the GET in ``If-Match``, so a concurrent change is refused rather than lost.

The bearer token is a credential: it never shows in ``repr`` or in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from syncd.errors import AuthenticationError, ProtocolError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import HttpStatusError

logger = logging.getLogger(__name__)

LOGIN_SERVICE = "agentVep"
ACCOUNT_CONFIG_SERVICE = "accountConfigReadWrite"
FILE_SHARING_PROPERTY = "messaging.file.sharing.enabled"
# ``If-Match`` value that means "create it": the property has no revision yet.
NO_REVISION = "-1"


@dataclass(frozen=True)
class AdminSession:
    """A logged-in administrator: ``bearer`` for the account-config API (hidden in repr)."""

    bearer: str = field(repr=False)
    user_id: str | None = None


@dataclass(frozen=True)
class SiteSetting:
    """A site setting as read: its ``value`` (None when absent), ``type`` and ``revision``."""

    property_id: str
    value: Any
    type: Any
    revision: str


def login(
    http: HttpClient, resolver: DomainResolver, account: str, username: str, password: str
) -> AdminSession:
    """Log ``username`` in and return the session.

    Raises AuthenticationError when the login service refuses the credentials (400/401/403),
    ProtocolError for an answer without ``bearer``, and the errors of ``HttpClient``.
    """
    url = f"{resolver.http_url(LOGIN_SERVICE)}/api/account/{quote(account, safe='')}/login?v=1.3"
    try:
        body = http.post_json(url, {"username": username, "password": password}).json
    except HttpStatusError as error:
        if error.status in (400, 401, 403):
            raise AuthenticationError(
                f"LivePerson refused the login of {username!r} (HTTP {error.status})"
            ) from None
        raise
    bearer = body.get("bearer") if isinstance(body, Mapping) else None
    if not isinstance(bearer, str) or not bearer:
        raise ProtocolError("the login answer lacks 'bearer'")
    config = body.get("config")
    user_id = config.get("userId") if isinstance(config, Mapping) else None
    return AdminSession(bearer=bearer, user_id=str(user_id) if user_id is not None else None)


def read_site_setting(
    http: HttpClient,
    resolver: DomainResolver,
    account: str,
    session: AdminSession,
    property_id: str,
) -> SiteSetting:
    """Return the setting ``property_id`` with its revision; an absent one has value None.

    Raises AuthenticationError (bearer refused) and the errors of ``HttpClient``.
    """
    try:
        answer = http.get_json(_property_url(resolver, account, property_id), _auth(session))
    except HttpStatusError as error:
        if error.status == 404:
            return SiteSetting(property_id, None, None, NO_REVISION)
        raise _refused(error) from None
    body = answer.json if isinstance(answer.json, Mapping) else {}
    property_value = body.get("propertyValue")
    value = property_value.get("value") if isinstance(property_value, Mapping) else None
    revision = (
        answer.headers.get("ac-revision") or answer.headers.get("ETag") or NO_REVISION
    ).strip('"')
    return SiteSetting(property_id, value, body.get("type"), revision)


def get_site_setting(
    http: HttpClient,
    resolver: DomainResolver,
    account: str,
    session: AdminSession,
    property_id: str,
) -> Any:
    """Return the value of site setting ``property_id`` (None when the account lacks it)."""
    return read_site_setting(http, resolver, account, session, property_id).value


def set_site_setting(
    http: HttpClient,
    resolver: DomainResolver,
    account: str,
    session: AdminSession,
    property_id: str,
    value: Any,
    default_type: Any = 1,
) -> tuple[Any, Any]:
    """Set site setting ``property_id`` to ``value``; return ``(old_value, new_value)``.

    ``new_value`` is read back after the PUT, so it is what LivePerson now holds. The type
    already stored wins over ``default_type`` (used only to create the property).
    Raises AuthenticationError, HttpStatusError (409/412: changed meanwhile; try again)
    and the errors of ``HttpClient``.
    """
    current = read_site_setting(http, resolver, account, session, property_id)
    if current.value == value:
        return current.value, current.value
    payload = {
        "id": property_id,
        "type": current.type if current.type is not None else default_type,
        "propertyValue": {"value": value},
        "deleted": False,
    }
    headers = {**_auth(session), "If-Match": current.revision}
    try:
        http.put_json(_property_url(resolver, account, property_id), payload, headers)
    except HttpStatusError as error:
        raise _refused(error) from None
    new_value = read_site_setting(http, resolver, account, session, property_id).value
    logger.info("site setting %s changed from %r to %r", property_id, current.value, new_value)
    return current.value, new_value


def enable_file_sharing(
    http: HttpClient, resolver: DomainResolver, account: str, session: AdminSession
) -> tuple[Any, Any]:
    """Switch consumer file sharing on; return ``(old_value, new_value)`` of the setting."""
    return set_site_setting(http, resolver, account, session, FILE_SHARING_PROPERTY, True)


def _property_url(resolver: DomainResolver, account: str, property_id: str) -> str:
    return (
        f"{resolver.http_url(ACCOUNT_CONFIG_SERVICE)}/api/account/{quote(account, safe='')}"
        f"/configuration/setting/properties/{quote(property_id, safe='')}?v=3.0"
    )


def _auth(session: AdminSession) -> dict[str, str]:
    return {"Authorization": f"Bearer {session.bearer}"}


def _refused(error: HttpStatusError) -> Exception:
    if error.status in (401, 403):
        return AuthenticationError(
            f"the account-config API refused the admin session (HTTP {error.status})"
        )
    return error
