"""The emulator's aiohttp application: every service's routes and middlewares on one app, the
access log that keeps secrets out, and the server's TLS context.

Every service — Domain API, IdP, consumer WebSocket, brand (agent) WebSocket, Swift store,
login, site settings and the ``/_emulator/`` control API — is served by one application, so
on ONE port, over HTTP or, with a certificate, HTTPS.

The access log never shows query strings (temp URL signatures) and masks the token of the
JWT-in-path WebSocket form and the bearer of the brand WebSocket's path.
"""

from __future__ import annotations

import logging
import re
import ssl

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from syncd.emulator import (
    admin_routes,
    control_routes,
    domain_routes,
    idp_routes,
    swift_routes,
)
from syncd.emulator.agent_socket import agent_socket
from syncd.emulator.consumer_ws import consumer_socket
from syncd.emulator.core import EmulatorCore
from syncd.emulator.guard import control_guard
from syncd.emulator.keys import CORE
from syncd.emulator.network import round_trip_middleware
from syncd.emulator.settings import MAX_OBJECT_BYTES, EmulatorSettings

logger = logging.getLogger("syncd.emulator")


def redact_path(path: str) -> str:
    """Return ``path`` with the token of ``/messaging/consumer/{jwt}`` and the bearer of
    ``/messaging/brand/{bearer}`` masked."""
    path = re.sub(r"(/messaging/consumer/)[^/?]+", r"\1<jwt>", path)
    return re.sub(r"(/messaging/brand/)[^/?]+", r"\1<bearer>", path)


class RedactingAccessLogger(AbstractAccessLogger):
    """Logs method, path without query and status, at DEBUG."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        logger.debug("%s %s -> %d", request.method, redact_path(request.path), response.status)


def create_app(core: EmulatorCore) -> web.Application:
    """Return a new aiohttp application serving ``core`` (one per listening period)."""
    app = web.Application(
        client_max_size=MAX_OBJECT_BYTES,
        middlewares=[
            control_guard(core.settings.control_token),
            round_trip_middleware(lambda: core.faults.rtt_seconds, core.network_log),
        ],
    )
    app[CORE] = core
    domain_routes.add_routes(app)
    idp_routes.add_routes(app)
    admin_routes.add_routes(app)
    swift_routes.add_routes(app)
    control_routes.add_routes(app)
    consumer_path = "/ws_api/account/{account}/messaging/consumer"
    app.router.add_get(consumer_path, consumer_socket)
    app.router.add_get(consumer_path + "/{token}", consumer_socket)
    app.router.add_get("/ws_api/account/{account}/messaging/brand/{token}", agent_socket)
    return app


def server_ssl_context(settings: EmulatorSettings) -> ssl.SSLContext | None:
    """The TLS context serving ``settings``' certificate and key, or None (plain HTTP) when
    either is unset; raises ssl.SSLError or OSError when they cannot be loaded."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    return context
