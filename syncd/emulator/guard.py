"""Who may use the control API and the console (``/_emulator/...``).

The control API mints consumer tokens and speaks as the agent, so it must not answer just
anyone who can reach the port:

* Bound to loopback without a control token (the default), it answers only requests whose
  ``Host`` names loopback (``localhost``, ``127.0.0.1``, ``[::1]``). DNS rebinding gives a
  web page's own host name the address 127.0.0.1, so a browser would carry that page's
  requests to the emulator; their ``Host`` still names the page's site, and is refused.
* With a control token (required when bound to another address) every request must carry
  it: header ``X-Emulator-Token``, or the cookie the console sets after it was opened once
  as ``/_emulator/?token=...``. Compared in constant time.
* Any request with an ``Origin`` must come from the emulator's own origin (``Host``), so a
  page elsewhere cannot post to the control API from a browser that has the cookie.

The LivePerson services (Domain API, IdP, WebSocket, storage) are not guarded here: they
check tokens and signatures as LivePerson does.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

CONTROL_PREFIX = "/_emulator"
TOKEN_HEADER = "X-Emulator-Token"  # noqa: S105 - a header name
TOKEN_COOKIE = "syncd_emulator_token"  # noqa: S105 - a cookie name
TOKEN_QUERY = "token"  # noqa: S105 - a parameter name

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback_name(host: str) -> bool:
    """True for ``localhost`` or a loopback IP, with or without ``:port`` or brackets."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def control_guard(control_token: str | None) -> Middleware:
    """Return the aiohttp middleware enforcing the rules of the module docstring."""

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if not request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
            return _refuse(403, "requests from another origin are refused")
        from_query = False
        if control_token is None:
            if not is_loopback_name(request.host):
                return _refuse(403, "the control API answers only to a loopback Host")
        else:
            presented = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE)
            if presented is None and request.method == "GET":
                presented = request.query.get(TOKEN_QUERY)
                from_query = presented is not None
            if presented is None or not hmac.compare_digest(
                presented.encode(), control_token.encode()
            ):
                return _refuse(401, f"the control API needs the control token ({TOKEN_HEADER})")
        response = await handler(request)
        if from_query:
            # The console's forms cannot send a header: they carry the token as a cookie.
            response.set_cookie(
                TOKEN_COOKIE,
                control_token or "",
                path=CONTROL_PREFIX,
                httponly=True,
                samesite="Strict",
            )
        return response

    return guard
