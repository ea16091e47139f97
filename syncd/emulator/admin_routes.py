"""Admin login (agentVep) and account-config site settings routes.

* ``POST /api/account/{account}/login?v=...`` (any version) with ``{"username", "password"}``
  → 200 with ``bearer``, ``csrf``, ``config{userId, loginName, ...}``, ``sessionTTl``, and a
  ``Session_id`` cookie; wrong credentials → 401, a body that is not a JSON object → 400.
  The bearer also opens the brand (agent) WebSocket (``agent_socket.py``) as the emulator's
  one agent (``config.userPid``).
* ``POST /api/account/{account}/refresh?v=...`` with the ``Session_id`` cookie and
  ``{"csrf"}`` of a live session → 200, the session lasts ``sessionTTl`` again; else 401.
* ``GET /api/account/{account}/configuration/setting/properties?v=3.0`` → array;
  ``GET``/``PUT .../properties/{id}?v=3.0`` → object. All need ``Authorization: Bearer`` (401
  otherwise) and answer with the collection revision in ``ac-revision`` and ``ETag``; a PUT
  honours ``If-Match`` (412 when stale). See ``site_settings`` for the choices made.

Error bodies are JSON ``{"error": "<reason>"}`` (LivePerson's are undocumented).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from syncd.emulator.core import EmulatorCore
from syncd.emulator.keys import CORE
from syncd.emulator.rejection import Rejection
from syncd.emulator.settings import SERVICE_NAMES
from syncd.emulator.site_settings import SESSION_TTL_MILLISECONDS

_ADMIN_USER_ID = "1"


def _core_for_account(request: web.Request) -> EmulatorCore:
    core = request.app[CORE]
    if request.match_info["account"] != core.account:
        raise Rejection(404, "Unknown account")
    return core


def _error(rejection: Rejection) -> web.Response:
    return web.json_response({"error": rejection.reason}, status=rejection.code)


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError as error:
        raise Rejection(400, "The body must be JSON") from error


async def login(request: web.Request) -> web.Response:
    """Log the admin in and return the session tokens."""
    try:
        core = _core_for_account(request)
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise Rejection(400, "The body must be a JSON object")
        session = core.admin.login(body.get("username"), body.get("password"), core.now_seconds())
    except Rejection as rejection:
        return _error(rejection)
    now_ms = core.now_ms()
    response = web.json_response(
        {
            "csrf": session.csrf,
            "wsuk": session.csrf[:16],
            "config": {
                "loginName": session.user_name,
                "userId": _ADMIN_USER_ID,
                "userPid": core.agent_id,
                "userPrivileges": [],
                "serverCurrentTime": now_ms,
                "timeDiff": 0,
                "serverTimeZoneName": "UTC",
                "serverTimeGMTDiff": 0,
                "isLPA": False,
                "isAdmin": True,
                "accountTimeZoneId": "UTC",
            },
            "csdsCollectionResponse": {
                "baseURIs": [
                    {"service": service, "account": core.account, "baseURI": core.host_port}
                    for service in SERVICE_NAMES
                ]
            },
            "accountData": {"agentGroupsData": {"items": [], "revision": 1}},
            "sessionTTl": str(SESSION_TTL_MILLISECONDS),
            "bearer": session.bearer,
        }
    )
    response.set_cookie("Session_id", session.cookie, httponly=True, secure=core.settings.uses_tls)
    return response


async def refresh(request: web.Request) -> web.Response:
    """Extend a login session: the ``Session_id`` cookie and ``{"csrf"}`` of the login, as
    LivePerson's agent SDK posts them every 10 minutes; 401 when they do not match a live
    session."""
    try:
        core = _core_for_account(request)
        body = await _json_body(request)
        csrf = body.get("csrf") if isinstance(body, dict) else None
        cookie = request.cookies.get("Session_id")
        session = core.admin.refresh(cookie, csrf, core.now_seconds())
    except Rejection as rejection:
        return _error(rejection)
    return web.json_response({"csrf": session.csrf, "sessionTTl": str(SESSION_TTL_MILLISECONDS)})


def _with_revision(core: EmulatorCore, payload: Any) -> web.Response:
    response = web.json_response(payload)
    response.headers["ac-revision"] = str(core.site_settings.revision)
    response.headers["ETag"] = str(core.site_settings.revision)
    return response


def _authorised_core(request: web.Request) -> EmulatorCore:
    core = _core_for_account(request)
    core.admin.check_bearer(request.headers.get("Authorization"), core.now_seconds())
    return core


async def list_properties(request: web.Request) -> web.Response:
    """Return every site-setting property."""
    try:
        core = _authorised_core(request)
    except Rejection as rejection:
        return _error(rejection)
    return _with_revision(core, core.site_settings.all())


async def get_property(request: web.Request) -> web.Response:
    """Return one site-setting property."""
    try:
        core = _authorised_core(request)
        stored = core.site_settings.get(request.match_info["property_id"])
    except Rejection as rejection:
        return _error(rejection)
    return _with_revision(core, stored)


async def put_property(request: web.Request) -> web.Response:
    """Create or replace one site-setting property."""
    try:
        core = _authorised_core(request)
        body = await _json_body(request)
        stored = core.site_settings.put(
            request.match_info["property_id"], body, request.headers.get("If-Match")
        )
    except Rejection as rejection:
        return _error(rejection)
    return _with_revision(core, stored)


def add_routes(app: web.Application) -> None:
    """Register the login and site-setting routes on ``app``."""
    properties = "/api/account/{account}/configuration/setting/properties"
    app.router.add_post("/api/account/{account}/login", login)
    app.router.add_post("/api/account/{account}/refresh", refresh)
    app.router.add_get(properties, list_properties)
    app.router.add_get(properties + "/{property_id}", get_property)
    app.router.add_put(properties + "/{property_id}", put_property)
