"""The brand (agent) WebSocket: ``/ws_api/account/{account}/messaging/brand/{bearer}?v=2.1``.

This is where LivePerson's agent SDK (``node-agent-sdk``, ``lib/Transport.js``) connects,
with the bearer of ``POST /api/account/{account}/login`` in the path; the socket then acts as
the emulator's one agent (the console's). An unknown or expired bearer gets HTTP 401 at the
upgrade, a ``v`` other than 2 or 2.1 HTTP 400, an unknown account 404. When the login session
ends (8 hours unless refreshed) the socket is closed with 4401, as LivePerson closes sockets
of expired tokens. Binary frames are closed with 1003, text that is not a request with 1008.

The emulator drops no idle brand socket (LivePerson documents an idle limit only for the
consumer's); the SDK pings every 60 seconds anyway, and pings are answered.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from syncd.emulator.agent_hub import ConversationFilter
from syncd.emulator.agent_requests import handle_agent_request
from syncd.emulator.core import EmulatorCore
from syncd.emulator.keys import CORE
from syncd.emulator.rejection import Rejection
from syncd.errors import ProtocolError
from syncd.liveperson.protocol import Request, parse_frame

logger = logging.getLogger("syncd.emulator")

API_VERSIONS = ("2", "2.1")
SESSION_CLOSE_CODE = 4401
UNSUPPORTED_DATA_CODE = 1003
POLICY_VIOLATION_CODE = 1008
CLOSE_HANDSHAKE_SECONDS = 2.0
_CLOSE = object()


class AgentSocket:
    """One brand WebSocket: its subscriptions and its outgoing queue."""

    def __init__(self, ws: web.WebSocketResponse, session_bearer: str) -> None:
        self.routing_subscriptions: set[str] = set()
        self.conversation_filters: dict[str, ConversationFilter] = {}
        self.dialog_ids: set[str] = set()
        self.bearer = session_bearer
        self.closing = False
        self.close_code = SESSION_CLOSE_CODE
        self._ws = ws
        self._queue: asyncio.Queue[str | bytes | object] = asyncio.Queue()

    def send(self, text: str) -> None:
        """Queue a text frame (ignored once the socket is closing)."""
        if not self.closing:
            self._queue.put_nowait(text)

    def pong(self, data: bytes) -> None:
        """Queue a pong answering a ping."""
        if not self.closing:
            self._queue.put_nowait(data)

    def close(self, code: int) -> None:
        """Close with ``code`` after the frames already queued."""
        if not self.closing:
            self.closing = True
            self.close_code = code
            self._queue.put_nowait(_CLOSE)

    async def write_loop(self) -> None:
        """Send queued items in order until the close item or a broken connection."""
        try:
            while True:
                item = await self._queue.get()
                if item is _CLOSE:
                    await self._ws.close(code=self.close_code)
                    return
                if self._ws.closed:
                    return
                if isinstance(item, bytes):
                    await self._ws.pong(item)
                elif isinstance(item, str):
                    await self._ws.send_str(item)
        except ConnectionError:
            return  # the peer went away; the read loop notices and ends the handler


def _session_seconds_left(core: EmulatorCore, socket: AgentSocket) -> float:
    try:
        session = core.admin.check_bearer(f"Bearer {socket.bearer}", core.now_seconds())
    except Rejection:
        return 0.0
    return session.expires_at_seconds - core.now_seconds()


def _handle_text(core: EmulatorCore, socket: AgentSocket, text: str) -> None:
    try:
        frame = parse_frame(text)
    except ProtocolError:
        socket.close(POLICY_VIOLATION_CODE)
        return
    if not isinstance(frame, Request):
        socket.close(POLICY_VIOLATION_CODE)
        return
    logger.debug("agent request %s id=%s", frame.type, frame.request_id)
    with core.agent_hub.held(), core.hub.held():
        for reply in handle_agent_request(core, socket, frame):
            socket.send(reply)


async def _read_loop(core: EmulatorCore, socket: AgentSocket, ws: web.WebSocketResponse) -> None:
    """Read frames until the peer leaves, the socket closes or the login session ends."""
    while not socket.closing:
        remaining_seconds = _session_seconds_left(core, socket)
        if remaining_seconds <= 0:
            socket.close(SESSION_CLOSE_CODE)
            return
        try:
            message = await ws.receive(timeout=remaining_seconds)
        except TimeoutError:
            continue  # the session is checked again at the top of the loop
        if message.type is WSMsgType.PING:
            socket.pong(message.data)
        elif message.type is WSMsgType.TEXT:
            _handle_text(core, socket, message.data)
        elif message.type is WSMsgType.BINARY:
            socket.close(UNSUPPORTED_DATA_CODE)
        elif message.type is not WSMsgType.PONG:
            return  # CLOSE, CLOSING, CLOSED or ERROR: the peer is gone


async def agent_socket(request: web.Request) -> web.StreamResponse:
    """Serve one brand WebSocket (see the module docstring for the rules)."""
    core = request.app[CORE]
    if request.match_info["account"] != core.account:
        raise web.HTTPNotFound(text="Unknown account")
    if request.query.get("v") not in API_VERSIONS:
        raise web.HTTPBadRequest(text="Only v=2 and v=2.1 are supported")
    bearer = request.match_info["token"]
    try:
        core.admin.check_bearer(f"Bearer {bearer}", core.now_seconds())
    except Rejection as rejection:
        raise web.HTTPUnauthorized(text="Invalid or expired bearer") from rejection
    ws = web.WebSocketResponse(autoping=False, timeout=CLOSE_HANDSHAKE_SECONDS)
    await ws.prepare(request)
    socket = AgentSocket(ws, bearer)
    core.agent_hub.add(socket)
    logger.info("agent socket opened")
    writer = asyncio.create_task(socket.write_loop())
    try:
        await _read_loop(core, socket, ws)
        if socket.closing:
            await asyncio.wait({writer}, timeout=CLOSE_HANDSHAKE_SECONDS * 2)
    finally:
        core.agent_hub.remove(socket)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)
        logger.info("agent socket ended")
    return ws


def close_all(core: EmulatorCore, code: int) -> int:
    """Close every brand socket with ``code`` (on restart and stop); return how many."""
    sockets = core.agent_hub.sockets()
    for socket in sockets:
        socket.close(code)
    return len(sockets)
