"""The emulated consumer IdP: signup and the two production identity flows.

* ``POST /api/account/{account}/signup`` (no body) → ``{"jwt"}`` for a new consumer; 403 with
  ``signup_disabled``.
* ``POST /api/account/{account}/authenticate`` ``{"authCode": <external RS256 JWT>}`` →
  ``{"jwt"}`` for the consumer of the JWT's ``sub`` (needs ``auth_public_key``).
* ``POST /api/account/{account}/anonymous/authorize`` (no body) → ``{"token"}``: a new
  anonymous external token; with ``{"id_token": <previous>}``: the same identity refreshed.
* ``POST /api/account/{account}/app/{connector}/authenticate?v=3.0`` ``{"id_token"}`` →
  ``{"token"}``: a LivePerson token for the anonymous identity (needs ``unauth_connector_id``).

Refusals are JSON ``{"error": reason}`` with the status ``identities.py`` chose, held back by
the ``idp_refusal_delay_ms`` fault knob. Every call is logged in ``/_emulator/state``'s
``identityLog`` when it is decided; tokens never are.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from syncd.emulator.core import EmulatorCore
from syncd.emulator.keys import CORE
from syncd.emulator.rejection import Rejection

logger = logging.getLogger("syncd.emulator")

# (core, JSON body, request) → (answer, consumer id for the log)
_Handler = Callable[[EmulatorCore, Any, web.Request], tuple[dict[str, str], str | None]]


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise Rejection(400, "The body must be JSON") from None


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


def _endpoint(call: str, handler: _Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def endpoint(request: web.Request) -> web.Response:
        core = request.app[CORE]
        if request.match_info["account"] != core.account:
            raise web.HTTPNotFound(text="Unknown account")
        name = call
        try:
            body = await _body(request)
            if call == "anonymous/authorize" and _field(body, "id_token") is not None:
                name = "anonymous/refresh"
            answer, consumer_id = handler(core, body, request)
        except Rejection as rejection:
            logger.info("IdP %s refused: %s", name, rejection.reason)
            core.identities.record(name, core.now_seconds(), None, rejection.reason)
            # The verdict stands as of the request's arrival, however late it is delivered.
            delay_seconds = core.faults.idp_refusal_delay_seconds
            if delay_seconds > 0:
                await asyncio.sleep(delay_seconds)
            return web.json_response({"error": rejection.reason}, status=rejection.code)
        core.identities.record(name, core.now_seconds(), consumer_id, None)
        return web.json_response(answer)

    return endpoint


def _signup(core: EmulatorCore, body: Any, request: web.Request) -> tuple[dict[str, str], str]:
    record = core.identities.signup()
    core.identities.counted(record.consumer_id)
    return {"jwt": core.issue_token(core.base_url, consumer_id=record.consumer_id)}, (
        record.consumer_id
    )


def _authenticate(
    core: EmulatorCore, body: Any, request: web.Request
) -> tuple[dict[str, str], str]:
    now = core.now_seconds()
    record, expires_at = core.identities.authenticate(_field(body, "authCode"), now)
    return {"jwt": core.issue_connector_token(record, core.base_url, expires_at)}, (
        record.consumer_id
    )


def _anonymous_authorize(
    core: EmulatorCore, body: Any, request: web.Request
) -> tuple[dict[str, str], None]:
    if core.settings.unauth_connector_id is None:
        raise Rejection(403, "Messaging.Un_Auth_Messaging is not enabled for this account")
    previous = _field(body, "id_token")
    token = core.identities.anonymous_token(previous, core.now_seconds(), core.base_url)
    return {"token": token}, None


def _connector_authenticate(
    core: EmulatorCore, body: Any, request: web.Request
) -> tuple[dict[str, str], str]:
    now = core.now_seconds()
    connector_id = request.match_info["connector"]
    record, expires_at = core.identities.exchange(connector_id, _field(body, "id_token"), now)
    return {"token": core.issue_connector_token(record, core.base_url, expires_at)}, (
        record.consumer_id
    )


def add_routes(app: web.Application) -> None:
    """Register the IdP routes on ``app``."""
    account = "/api/account/{account}"
    router = app.router
    router.add_post(f"{account}/signup", _endpoint("signup", _signup))
    router.add_post(f"{account}/authenticate", _endpoint("authenticate", _authenticate))
    router.add_post(
        f"{account}/anonymous/authorize",
        _endpoint("anonymous/authorize", _anonymous_authorize),
    )
    router.add_post(
        f"{account}/app/{{connector}}/authenticate",
        _endpoint("connector/authenticate", _connector_authenticate),
    )
