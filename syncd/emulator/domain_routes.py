"""Domain API (CSDS) routes (the IdP's are in ``idp_routes.py``).

* ``GET /api/account/{account}/service/{service}/baseURI.json`` → ``{"service", "account",
  "baseURI"}``; ``GET /api/account/{account}/service/baseURI.json`` and the same under
  ``/csdr/account/...`` → ``{"baseURIs": [...]}``. Every service resolves to the emulator's own
  ``host:port`` (no scheme). Unknown accounts and unknown service names (case sensitive) → 404.
  The ``version`` query parameter is accepted and not required.
"""

from __future__ import annotations

from aiohttp import web

from syncd.emulator.core import EmulatorCore
from syncd.emulator.keys import CORE
from syncd.emulator.settings import SERVICE_NAMES


def _core_for_account(request: web.Request) -> EmulatorCore:
    core = request.app[CORE]
    if request.match_info["account"] != core.account:
        raise web.HTTPNotFound(text="Unknown account")
    return core


async def service_base_uri(request: web.Request) -> web.Response:
    """Answer a single-service Domain API lookup."""
    core = _core_for_account(request)
    service = request.match_info["service"]
    if service not in SERVICE_NAMES:
        raise web.HTTPNotFound(text="Unknown service")
    return web.json_response(
        {"service": service, "account": core.account, "baseURI": core.host_port}
    )


async def all_base_uris(request: web.Request) -> web.Response:
    """Answer an all-services Domain API lookup."""
    core = _core_for_account(request)
    base_uris = [
        {"service": service, "account": core.account, "baseURI": core.host_port}
        for service in SERVICE_NAMES
    ]
    return web.json_response({"baseURIs": base_uris})


def add_routes(app: web.Application) -> None:
    """Register the Domain API routes on ``app``."""
    for prefix in ("/api", "/csdr"):
        app.router.add_get(f"{prefix}/account/{{account}}/service/baseURI.json", all_base_uris)
    app.router.add_get("/api/account/{account}/service/{service}/baseURI.json", service_base_uri)
