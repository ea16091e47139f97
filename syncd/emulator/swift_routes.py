"""The Swift object store behind LivePerson's file sharing, reached with temp URLs only.

``PUT``, ``GET`` and ``HEAD`` on ``/v1/{swift account}/{container}/{object}`` with
``temp_url_sig`` and ``temp_url_expires``, checked like Swift's tempurl middleware (see
``tempurl``): any defect → 401 ``401 Unauthorized: Temp URL invalid\\n`` (no body for HEAD).
A request without either parameter gets Swift's plain 401 page (normal auth, no token). Then:

* PUT: no ``Content-Length`` and not chunked → 411; over ``MAX_OBJECT_BYTES`` → 413; an
  ``ETag`` header that does not match the body's MD5 → 422; else 201 with ``ETag`` (MD5 hex).
* GET/HEAD: 200 with the bytes, ``Content-Type``, ``Content-Length``, ``ETag``,
  ``Content-Disposition`` (``attachment; filename="<name>"...``, or per the ``filename`` and
  ``inline`` query parameters) and ``Expires`` (the URL's expiry); an absent object → 404.
* Objects only exist under ``/v1/AUTH_async-images/{account}/``; other containers → 404.

Fault knobs: ``latency_ms`` delays every answer; ``uplink_kbps`` paces the reading of PUT
bodies (``network.py``; ``rtt_ms`` applies to every HTTP request); ``swift_error_rate``
answers PUT/GET/HEAD with ``swift_error_code`` (and ``Retry-After`` when
``retry_after_seconds`` is set) before the signature is even checked, storing nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from email.utils import formatdate
from urllib.parse import quote

from aiohttp import web

from syncd.emulator import tempurl
from syncd.emulator.core import EmulatorCore
from syncd.emulator.keys import CORE
from syncd.emulator.network import read_through_uplink
from syncd.emulator.objects import StoredObject
from syncd.emulator.settings import MAX_OBJECT_BYTES

logger = logging.getLogger("syncd.emulator")

TEMP_URL_INVALID_BODY = "401 Unauthorized: Temp URL invalid\n"
_NO_AUTH_BODY = (
    "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized "
    "to access the document you requested.</p></html>"
)
_NOT_FOUND_BODY = "<html><h1>Not Found</h1><p>The resource could not be found.</p></html>"


def _plain(request: web.Request, status: int, text: str) -> web.Response:
    # HEAD answers carry no body, as in Swift.
    if request.method == "HEAD":
        return web.Response(status=status)
    return web.Response(status=status, text=text, content_type="text/plain")


def _injected_error(request: web.Request, core: EmulatorCore, status: int) -> web.Response:
    logger.info("fault: answering storage %s with %d", request.method, status)
    response = _plain(request, status, f"{status} Injected fault\n")
    retry_after = core.faults.knobs.retry_after_seconds
    if retry_after is not None:
        response.headers["Retry-After"] = f"{retry_after:g}"
    return response


def _disposition(request: web.Request, stored: StoredObject) -> str:
    filename = request.query.get("filename")
    if "inline" in request.query:
        kind = "inline"
        if not filename:
            return kind
    else:
        kind = "attachment"
        filename = filename or stored.name
    escaped = filename.replace('"', '\\"')
    return f"{kind}; filename=\"{escaped}\"; filename*=UTF-8''{quote(filename)}"


async def _drain_body(request: web.Request) -> None:
    # Read an unwanted upload so the client is not cut off mid-send.
    with contextlib.suppress(web.HTTPException):
        await request.read()


async def _put(request: web.Request, core: EmulatorCore) -> web.Response:
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if request.content_length is None and not chunked:
        return _plain(request, 411, "Missing Content-Length header.")
    if (request.content_length or 0) > MAX_OBJECT_BYTES:
        await _drain_body(request)
        return _plain(request, 413, "Your request is too large.")
    try:
        # Through the emulated uplink (the uplink_kbps knob), shared by every upload.
        data = await read_through_uplink(
            request, core.uplink, lambda: core.faults.uplink_kbps, MAX_OBJECT_BYTES
        )
    except web.HTTPRequestEntityTooLarge:
        return _plain(request, 413, "Your request is too large.")
    if not request.path.startswith(core.container_path() + "/"):
        return _plain(request, 404, _NOT_FOUND_BODY)
    expected_etag = request.headers.get("ETag")
    actual_etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if expected_etag is not None and expected_etag.strip('"').lower() != actual_etag:
        return _plain(request, 422, "Unprocessable Entity")
    stored = core.objects.put(
        request.path, data, request.headers.get("Content-Type"), core.now_seconds()
    )
    logger.info("stored %d bytes", len(data))
    return web.Response(status=201, headers={"ETag": stored.etag})


def _get(request: web.Request, core: EmulatorCore, expires_seconds: int) -> web.Response:
    stored = core.objects.get(request.path)
    if stored is None:
        return _plain(request, 404, _NOT_FOUND_BODY)
    headers = {
        "ETag": stored.etag,
        "Content-Disposition": _disposition(request, stored),
        "Expires": formatdate(expires_seconds, usegmt=True),
        "Last-Modified": formatdate(stored.uploaded_at_seconds, usegmt=True),
    }
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(stored.data))
        return web.Response(status=200, headers=headers, content_type=stored.content_type)
    return web.Response(
        status=200, body=stored.data, headers=headers, content_type=stored.content_type
    )


async def swift_object(request: web.Request) -> web.StreamResponse:
    """Serve one temp-URL request for an object (see the module docstring)."""
    core = request.app[CORE]
    if core.faults.latency_seconds > 0:
        await asyncio.sleep(core.faults.latency_seconds)
    injected = core.faults.swift_error()
    if injected is not None:
        await _drain_body(request)
        return _injected_error(request, core, injected)
    signature = request.query.get("temp_url_sig")
    expires = request.query.get("temp_url_expires")
    if signature is None and expires is None:
        await _drain_body(request)
        return _plain(request, 401, _NO_AUTH_BODY)
    try:
        tempurl.verify(
            core.temp_url_key.encode(),
            request.method,
            request.path,
            signature,
            expires,
            core.now_seconds(),
        )
    except tempurl.TempUrlInvalid as error:
        logger.info("refusing storage %s: %s", request.method, error)
        await _drain_body(request)
        return _plain(request, 401, TEMP_URL_INVALID_BODY)
    if request.method == "PUT":
        return await _put(request, core)
    return _get(request, core, tempurl.parse_expires(str(expires)))


def add_routes(app: web.Application) -> None:
    """Register the object routes on ``app``."""
    path = "/v1/{swift_account}/{container}/{object_name:.+}"
    app.router.add_put(path, swift_object)
    app.router.add_get(path, swift_object, allow_head=False)
    app.router.add_route("HEAD", path, swift_object)
