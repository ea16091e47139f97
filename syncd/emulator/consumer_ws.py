"""The consumer WebSocket: ``/ws_api/account/{account}/messaging/consumer[/{jwt}]?v=3``.

Connecting. The token comes from ``Authorization: jwt <token>``, from the path, or from an
``InitConnection`` request within ``init_connection_timeout_seconds`` (else close 4401). A
malformed, foreign or expired token in the header or path gets HTTP 401 at the upgrade; a
missing or other ``v`` than 3 gets HTTP 400; an unknown account 404. When the token of an open
socket expires the socket is closed with 4401, or 4407 for a consumer of the anonymous flow.

Idleness. A socket that sends no frame and no ping for ``idle_timeout_seconds`` is dropped
without a close frame (clients see 1006, as reported against LivePerson); pings and pongs count
as activity. Binary frames are closed with 1003; text that is not a request frame with 1008.

Ordering. LivePerson documents no order between a subscription's history and later
responses or notifications, and clients must not rely on one. By default the emulator happens
to queue a request's response, then its replayed history, then the notifications it caused,
before reading the socket's next frame (raw-frame tests use that to observe one request at a
time); this is a property of the emulator, not a promise. The ``history_delay_ms`` fault knob
removes it: history then arrives after later responses and live events, split, shuffled and
partly repeated.

Round trip. With the ``rtt_ms`` knob every frame the socket sends leaves that long after it
was queued, in queue order, while the reader goes on handling the next requests: requests in
flight overlap and answers keep their order, as on a real connection (``network.py``).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from syncd.emulator.consumer_requests import (
    AUTHENTICATION_CLOSE_CODE,
    error_response,
    handle_request,
)
from syncd.emulator.consumer_socket import DROP_CODE, ConsumerSocket
from syncd.emulator.core import EmulatorCore
from syncd.emulator.faults import Faults
from syncd.emulator.keys import CORE
from syncd.emulator.tokens import TokenError
from syncd.errors import ProtocolError
from syncd.liveperson.protocol import INIT_CONNECTION, PUBLISH_EVENT, Request, parse_frame

logger = logging.getLogger("syncd.emulator")

UNSUPPORTED_DATA_CODE = 1003
POLICY_VIOLATION_CODE = 1008
CLOSE_HANDSHAKE_SECONDS = 2.0


def _token_from(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "jwt" or not value.strip():
            raise web.HTTPUnauthorized(text="Authorization must be 'jwt <token>'")
        return value.strip()
    return request.match_info.get("token")


def _next_deadline(
    core: EmulatorCore, socket: ConsumerSocket, last_activity: float, connected_at: float
) -> tuple[float, int]:
    """Return (seconds until the next deadline, the close code to use when it passes)."""
    loop_now = asyncio.get_running_loop().time()
    deadlines = [(last_activity + core.settings.idle_timeout_seconds - loop_now, DROP_CODE)]
    if socket.consumer_id is None:
        auth_deadline = connected_at + core.settings.init_connection_timeout_seconds
        deadlines.append((auth_deadline - loop_now, AUTHENTICATION_CLOSE_CODE))
    if socket.token_expires_at_seconds is not None:
        remaining = socket.token_expires_at_seconds - core.now_seconds()
        deadlines.append((remaining, socket.expiry_close_code))
    return min(deadlines)


def _inject_request_fault(faults: Faults, socket: ConsumerSocket, request: Request) -> bool:
    """Apply the close/error knobs to ``request``; True when it must not be processed."""
    close_code = faults.close_code_for_request()
    if close_code is not None:
        logger.info("fault: closing instead of answering %s", request.type)
        socket.close(close_code)
        return True
    injected = faults.error_for_request(request.type)
    if injected is not None:
        logger.info("fault: answering %s with %d", request.type, injected.code)
        socket.send(error_response(request.request_id, injected))
        return True
    return False


async def _handle_text(core: EmulatorCore, socket: ConsumerSocket, text: str) -> None:
    """Handle one text frame: latency, faults, then the request; queue everything it yields.

    The response, its follow-ups and the notifications it caused are queued before this
    returns; delayed frames (the ``history_delay_ms`` knob) are queued later by a timer.
    """
    if core.faults.latency_seconds > 0:
        await asyncio.sleep(core.faults.latency_seconds)
    try:
        frame = parse_frame(text)
    except ProtocolError:
        socket.close(POLICY_VIOLATION_CODE)
        return
    if not isinstance(frame, Request):
        socket.close(POLICY_VIOLATION_CODE)
        return
    logger.debug("request %s id=%s from %s", frame.type, frame.request_id, socket.consumer_id)
    if frame.type == PUBLISH_EVENT and core.faults.publish_delay_seconds > 0:
        # The reader goes on with the socket's next requests meanwhile.
        task = asyncio.create_task(_handle_later(core, socket, frame))
        _delayed_publishes.add(task)
        task.add_done_callback(_delayed_publishes.discard)
        return
    _handle_request(core, socket, frame)


# The publishes the ``publish_delay_ms`` knob holds back (a reference keeps each task alive).
_delayed_publishes: set[asyncio.Task[None]] = set()


async def _handle_later(core: EmulatorCore, socket: ConsumerSocket, frame: Request) -> None:
    """Handle ``frame`` after the ``publish_delay_ms`` knob's delay, unless its socket has
    closed meanwhile (then it is dropped, as if lost with the connection)."""
    await asyncio.sleep(core.faults.publish_delay_seconds)
    if socket.closing:
        logger.info("fault: dropping a delayed %s, its socket closed", frame.type)
        return
    _handle_request(core, socket, frame)


def _handle_request(core: EmulatorCore, socket: ConsumerSocket, frame: Request) -> None:
    """Apply the request fault knobs to ``frame``, then handle it and queue what it yields."""
    faults_apply = frame.type != INIT_CONNECTION
    if faults_apply and _inject_request_fault(core.faults, socket, frame):
        return
    with core.hub.held():
        outcome = handle_request(core, socket, frame)
        if faults_apply and core.faults.drop_response():
            logger.info("fault: dropping the response to %s", frame.type)
        else:
            socket.send(outcome.response)
        for follow_up in outcome.follow_ups:
            socket.send(follow_up)
    if outcome.delayed:
        loop = asyncio.get_running_loop()
        for delayed_frame in outcome.delayed:
            loop.call_later(outcome.delay_seconds, socket.send, delayed_frame)
    if outcome.close_code is not None:
        socket.close(outcome.close_code)


async def _read_loop(core: EmulatorCore, socket: ConsumerSocket, ws: web.WebSocketResponse) -> None:
    """Read frames one at a time until the peer leaves or the socket is being closed.

    Deadlines (idleness, InitConnection, token expiry) are enforced between frames.
    """
    loop = asyncio.get_running_loop()
    connected_at = last_activity = loop.time()
    while not socket.closing:
        remaining_seconds, expiry_code = _next_deadline(core, socket, last_activity, connected_at)
        if remaining_seconds <= 0:
            socket.close(expiry_code)
            return
        try:
            message = await ws.receive(timeout=remaining_seconds)
        except TimeoutError:
            continue  # the deadline is re-evaluated (and acted on) at the top of the loop
        if message.type is WSMsgType.PING:
            socket.pong(message.data)
        elif message.type is WSMsgType.TEXT:
            await _handle_text(core, socket, message.data)
        elif message.type is WSMsgType.BINARY:
            socket.close(UNSUPPORTED_DATA_CODE)
        elif message.type is not WSMsgType.PONG:
            return  # CLOSE, CLOSING, CLOSED or ERROR: the peer is gone
        last_activity = loop.time()


async def consumer_socket(request: web.Request) -> web.StreamResponse:
    """Serve one consumer WebSocket (see the module docstring for the rules)."""
    core = request.app[CORE]
    if request.match_info["account"] != core.account:
        raise web.HTTPNotFound(text="Unknown account")
    if request.query.get("v") != "3":
        raise web.HTTPBadRequest(text="Only v=3 is supported")
    refused = core.faults.connect_error()
    if refused is not None:
        logger.info("fault: refusing a consumer socket upgrade with %d", refused)
        retry_after = core.faults.knobs.retry_after_seconds
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return web.Response(status=refused, text=f"{refused} Injected fault\n", headers=headers)
    token = _token_from(request)
    claims = None
    if token is not None:
        try:
            claims = core.verify_token(token)
        except TokenError as error:
            logger.info("refusing a consumer socket: %s", error)
            raise web.HTTPUnauthorized(text="Invalid or expired token") from error
    ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_HANDSHAKE_SECONDS)
    await ws.prepare(request)
    socket = ConsumerSocket(ws, request, claims, lambda: core.faults.rtt_seconds, core.network_log)
    core.hub.add(socket)
    logger.info("consumer socket opened for %s", socket.consumer_id or "<unauthenticated>")
    writer = asyncio.create_task(socket.write_loop())
    try:
        await _read_loop(core, socket, ws)
        if socket.closing:
            # Let the writer flush what is queued and send the close frame.
            await asyncio.wait({writer}, timeout=CLOSE_HANDSHAKE_SECONDS * 2)
    finally:
        # The peer left or the socket closed: nothing more leaves, no held request runs.
        socket.closing = True
        core.hub.remove(socket)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        logger.info("consumer socket of %s ended", socket.consumer_id)
    return ws
