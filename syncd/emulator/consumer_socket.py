"""One consumer WebSocket of the emulator: who it belongs to, what it subscribed to, and the
queue its frames leave through.

Frames leave in the order they were queued, each no earlier than the ``rtt_ms`` knob after it
was queued (read when it is queued), so answers in flight overlap and keep their order
(``network.py``). ``close`` sends what is queued first; 1006 aborts the connection at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from syncd.emulator.consumer_requests import (
    AUTHENTICATION_CLOSE_CODE,
    UNAUTHENTICATED_EXPIRY_CLOSE_CODE,
)
from syncd.emulator.network import NetworkLog
from syncd.emulator.subscriptions import ConversationSubscription
from syncd.emulator.tokens import ConsumerClaims

logger = logging.getLogger("syncd.emulator")

DROP_CODE = 1006  # "close" without a close frame: the TCP connection is aborted


@dataclass(frozen=True)
class _Pong:
    data: bytes


@dataclass(frozen=True)
class _Close:
    code: int


class ConsumerSocket:
    """One consumer WebSocket: its identity, subscriptions and outgoing queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        claims: ConsumerClaims | None,
        rtt_seconds: Callable[[], float] = lambda: 0.0,
        network_log: NetworkLog | None = None,
    ) -> None:
        """``rtt_seconds`` is read as each frame is queued: the frame leaves that much later
        (the ``rtt_ms`` knob); ``network_log`` records each frame's queued and sent times."""
        self.consumer_id: str | None = None
        self.token_expires_at_seconds: float | None = None
        self.expiry_close_code = AUTHENTICATION_CLOSE_CODE
        self.conversation_subscriptions: dict[str, ConversationSubscription] = {}
        self.dialog_ids: set[str] = set()
        self.closing = False
        self._ws = ws
        self._request = request
        # Each item with the loop time it was queued at and the time it may leave.
        self._queue: asyncio.Queue[tuple[float, float, str | _Pong | _Close]] = asyncio.Queue()
        self._rtt_seconds = rtt_seconds
        self._network_log = network_log
        if claims is not None:
            self.authenticate(claims)

    def authenticate(self, claims: ConsumerClaims) -> None:
        """Bind the socket to the consumer of ``claims`` until the token expires."""
        self.consumer_id = claims.consumer_id
        self.token_expires_at_seconds = claims.expires_at_seconds
        self.expiry_close_code = (
            UNAUTHENTICATED_EXPIRY_CLOSE_CODE if claims.anonymous else AUTHENTICATION_CLOSE_CODE
        )

    def send(self, text: str) -> None:
        """Queue a text frame (ignored once the socket is closing)."""
        if not self.closing:
            self._put(text)

    def pong(self, data: bytes) -> None:
        """Queue a pong answering a ping."""
        if not self.closing:
            self._put(_Pong(data))

    def close(self, code: int) -> None:
        """Close after the queued frames with ``code``; 1006 aborts the connection now."""
        if self.closing:
            return
        self.closing = True
        logger.info("closing consumer socket of %s with %d", self.consumer_id, code)
        if code == DROP_CODE and self._request.transport is not None:
            self._request.transport.abort()
        self._put(_Close(code))

    def _put(self, item: str | _Pong | _Close) -> None:
        now = asyncio.get_running_loop().time()
        self._queue.put_nowait((now, now + self._rtt_seconds(), item))

    async def write_loop(self) -> None:
        """Send queued items in order until a close item or a broken connection."""
        try:
            while True:
                queued_at, due_at, item = await self._queue.get()
                # In queue order, each no earlier than its due time: answers keep their
                # order and overlap in flight (the reader never waits for them).
                wait_seconds = due_at - asyncio.get_running_loop().time()
                if wait_seconds > 0:
                    await asyncio.sleep(wait_seconds)
                if isinstance(item, _Close):
                    if item.code != DROP_CODE:
                        await self._ws.close(code=item.code)
                    return
                if self._ws.closed:
                    return
                if isinstance(item, _Pong):
                    await self._ws.pong(item.data)
                else:
                    await self._ws.send_str(item)
                    if self._network_log is not None:
                        self._network_log.record("ws", queued_at, asyncio.get_running_loop().time())
        except ConnectionError:
            return  # the peer went away; the read loop notices and ends the handler
