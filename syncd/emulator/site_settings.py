"""Admin logins (agentVep) and account-config site settings (pure).

Choices where LivePerson is silent (protocol.md §7, §12.6), made here:

* Login sessions last ``sessionTTl`` (8 hours); a bearer is 64 hex digits.
* Site settings share one revision counter (AC's "object type collection revision"); every
  successful PUT increments it. ``If-Match`` of ``-1`` or the current revision is accepted, any
  other value gets 412; a PUT without ``If-Match`` is accepted unconditionally.
* Boolean properties have ``"type": 1``. ``propertyValue.value`` may be a JSON boolean or the
  string ``"true"``/``"false"``; ``deleted`` may be a boolean or such a string.
"""

from __future__ import annotations

import copy
import dataclasses
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.emulator.rejection import Rejection

FILE_SHARING_PROPERTY = "messaging.file.sharing.enabled"
AGENT_FILE_SHARING_PROPERTY = "messaging.agent.file.sharing.enabled"
SESSION_TTL_MILLISECONDS = 8 * 60 * 60 * 1000
BOOLEAN_PROPERTY_TYPE = 1


@dataclass(frozen=True)
class AdminSession:
    """A logged-in admin: the bearer and csrf tokens and when the session ends."""

    bearer: str
    csrf: str
    user_name: str
    expires_at_seconds: float
    cookie: str = ""


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


class AdminLogins:
    """Checks the one configured admin's credentials and remembers issued bearers."""

    def __init__(self, user_name: str, password: str) -> None:
        self._user_name = user_name
        self._password = password
        self._sessions: dict[str, AdminSession] = {}

    def login(self, user_name: Any, password: Any, now_seconds: float) -> AdminSession:
        """Open a session; raises Rejection(401) for wrong credentials."""
        if not isinstance(user_name, str) or not isinstance(password, str):
            raise Rejection(401, "Bad credentials")
        # Compare both parts in constant time and always both, to give nothing away.
        user_ok = hmac.compare_digest(user_name.encode(), self._user_name.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        if not (user_ok and password_ok):
            raise Rejection(401, "Bad credentials")
        session = AdminSession(
            bearer=secrets.token_hex(32),
            csrf=secrets.token_hex(16),
            user_name=user_name,
            expires_at_seconds=now_seconds + SESSION_TTL_MILLISECONDS / 1000,
            cookie=secrets.token_hex(16),
        )
        self._sessions[session.bearer] = session
        return session

    def refresh(self, cookie: str | None, csrf: Any, now_seconds: float) -> AdminSession:
        """Extend the live session of the ``Session_id`` cookie whose ``csrf`` matches, by
        ``SESSION_TTL_MILLISECONDS``; raises Rejection(401) for anything else."""
        for session in self._sessions.values():
            cookie_ok = hmac.compare_digest((cookie or "").encode(), session.cookie.encode())
            csrf_ok = isinstance(csrf, str) and hmac.compare_digest(
                csrf.encode(), session.csrf.encode()
            )
            if cookie_ok and csrf_ok and session.expires_at_seconds > now_seconds:
                expires = now_seconds + SESSION_TTL_MILLISECONDS / 1000
                refreshed = dataclasses.replace(session, expires_at_seconds=expires)
                self._sessions[session.bearer] = refreshed
                return refreshed
        raise Rejection(401, "Session expired or unknown")

    def check_bearer(self, authorization: str | None, now_seconds: float) -> AdminSession:
        """Return the session of an ``Authorization: Bearer <bearer>`` header.

        Raises Rejection(401) when the header is missing, malformed, unknown or expired.
        """
        scheme, _, bearer = (authorization or "").partition(" ")
        session = self._sessions.get(bearer.strip()) if scheme.lower() == "bearer" else None
        if session is None or session.expires_at_seconds <= now_seconds:
            raise Rejection(401, "Missing or invalid bearer")
        return session


class SiteSettings:
    """The account's site-setting properties and their collection revision."""

    def __init__(self, file_sharing_enabled: bool) -> None:
        self.revision = 1
        self._properties: dict[str, dict[str, Any]] = {}
        for property_id, value in (
            (FILE_SHARING_PROPERTY, file_sharing_enabled),
            (AGENT_FILE_SHARING_PROPERTY, True),
        ):
            self._properties[property_id] = {
                "id": property_id,
                "type": BOOLEAN_PROPERTY_TYPE,
                "propertyValue": {"value": value},
                "deleted": False,
            }

    @property
    def file_sharing_enabled(self) -> bool:
        """The value of ``messaging.file.sharing.enabled`` (a deleted property is off)."""
        return self.enabled(FILE_SHARING_PROPERTY)

    def enabled(self, property_id: str) -> bool:
        """The value of a boolean property (a deleted or unknown one is off)."""
        stored = self._properties.get(property_id)
        if stored is None or stored["deleted"]:
            return False
        return _is_true(stored["propertyValue"].get("value"))

    def all(self) -> list[dict[str, Any]]:
        """Return a copy of every property object."""
        return [copy.deepcopy(p) for p in self._properties.values()]

    def get(self, property_id: str) -> dict[str, Any]:
        """Return a copy of one property; raises Rejection(404) when unknown."""
        stored = self._properties.get(property_id)
        if stored is None:
            raise Rejection(404, "No such property")
        return copy.deepcopy(stored)

    def put(self, property_id: str, body: Any, if_match: str | None) -> dict[str, Any]:
        """Create or replace ``property_id`` from a request body.

        Returns the stored property. Raises Rejection(412) for a stale ``If-Match`` and
        Rejection(400) for a malformed body or an ``id`` that differs from the path.
        """
        if if_match is not None and if_match.strip() not in ("-1", str(self.revision)):
            raise Rejection(412, "Precondition Failed: stale revision")
        if not isinstance(body, Mapping):
            raise Rejection(400, "The body must be a property object")
        if body.get("id", property_id) != property_id:
            raise Rejection(400, "The property id does not match the path")
        property_value = body.get("propertyValue")
        if not isinstance(property_value, Mapping) or "value" not in property_value:
            raise Rejection(400, "'propertyValue.value' is required")
        property_type = body.get("type", BOOLEAN_PROPERTY_TYPE)
        stored = {
            "id": property_id,
            "type": property_type,
            "propertyValue": {"value": copy.deepcopy(property_value["value"])},
            "deleted": _is_true(body.get("deleted", False)),
        }
        self._properties[property_id] = stored
        self.revision += 1
        return copy.deepcopy(stored)
