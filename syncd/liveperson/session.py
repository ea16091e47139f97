"""Running one messaging WebSocket: its requests, its reader and keepalive threads, its end.

It reaches websocket-client only through ``ws_handshake.py`` (which opens the socket and
is that library's one importer). A ``MessagingConnection`` owns one socket and two threads:

* the reader reads every frame and hands each text frame on (``session_traffic.route_text``):
  a response to the request waiting for its ``reqId``, a notification to ``on_notification``;
* the keepalive (``session_traffic.keep_alive``) pings every ``keepalive_seconds`` and, when
  the answer does not come in time, tears the socket down.

Reconnecting and resubscribing are the caller's job (``consumer.py``): this class reports
the end of the connection once, through ``on_close``, and is then finished.

Limits (``limits.py``). A message larger than ``MAX_MESSAGE_BYTES`` is refused as soon as a
frame header announces it (``ws_handshake.py``); a message nested deeper than
``MAX_JSON_DEPTH`` is refused before parsing; a notification handler may raise
``PeerLimitError`` for what it finds inside (a sequence out of range). Each such violation
is logged once with the peer's address, the socket is closed (1009 or 1008), and
``on_close`` gets a ``ConnectionLostError`` asking for a pause before reconnecting. The
handshake and every send have an overall deadline (``deadlines.py``): a peer that stops
reading cannot hold a sender.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from syncd.errors import AuthenticationError, ConnectionLostError, RequestRejectedError, SyncdError
from syncd.liveperson import protocol
from syncd.liveperson.correlation import PendingRequests
from syncd.liveperson.deadlines import shared_watchdog
from syncd.liveperson.limits import PeerLimitError
from syncd.liveperson.session_traffic import (
    MESSAGE_TOO_BIG_CODE,
    close_frame_code,
    keep_alive,
    route_text,
)
from syncd.liveperson.ws_handshake import (
    OPCODE_CLOSE,
    OPCODE_TEXT,
    MessageTooLargeError,
    WebSocket,
    WebSocketError,
    open_websocket,
    peer_address,
)

logger = logging.getLogger(__name__)

NotificationHandler = Callable[[protocol.Notification], None]
CloseHandler = Callable[[SyncdError], None]

ABNORMAL_CLOSE_CODE = 1006  # RFC 6455: the connection ended without a close frame
CLOSE_JOIN_SECONDS = 5.0
# How long to wait before reconnecting to a peer that broke a limit: it may do so again.
VIOLATION_PAUSE_SECONDS = 10.0


class MessagingConnection:
    """One WebSocket to LivePerson's consumer messaging API. Use once: connect, use, close.

    ``peer`` is ``host:port (address)`` of the server once connected, for log lines.
    """

    def __init__(self) -> None:
        self._socket: WebSocket | None = None
        self._lock = threading.Lock()
        self._pending = PendingRequests()
        self._request_timeout_seconds = 10.0
        self._on_notification: NotificationHandler = lambda notification: None
        self._on_close: CloseHandler = lambda error: None
        self._closing = threading.Event()
        self._ended = threading.Event()
        self._close_code: int | None = None
        self._threads: list[threading.Thread] = []
        self._violation: PeerLimitError | None = None
        self.peer = ""

    @property
    def is_open(self) -> bool:
        """True between a successful ``connect`` and the end of the connection."""
        return self._socket is not None and not self._ended.is_set()

    @property
    def close_code(self) -> int | None:
        """The close code the server sent (1006 without a close frame); None while open."""
        return self._close_code

    def connect(
        self,
        url: str,
        jwt: str,
        timeout_seconds: float,
        ca_file: Path | None,
        keepalive_seconds: float,
        on_notification: NotificationHandler,
        on_close: CloseHandler,
    ) -> None:
        """Open the socket with ``Authorization: jwt <JWT>`` and start the reader and keepalive.

        ``on_notification`` and ``on_close`` run on the reader thread and must return
        quickly (no waiting on this connection's responses: they are read by that thread).
        ``on_close`` is called once with AuthenticationError (close 4401/4407) or
        ConnectionLostError when the connection ends without ``close()``.
        ``timeout_seconds`` bounds the handshake and is the default request timeout.

        Raises AuthenticationError (HTTP 401 at the upgrade), TlsVerificationError,
        ProtocolError (another 4xx: wrong URL or account) or ConnectionLostError.
        """
        if self._socket is not None:
            raise RuntimeError("a MessagingConnection connects only once")
        self._request_timeout_seconds = timeout_seconds
        self._on_notification = on_notification
        self._on_close = on_close
        ws = open_websocket(url, jwt, timeout_seconds, ca_file)
        self._socket = ws
        self.peer = peer_address(ws, url)
        # Reads block until data or shutdown; the keepalive shuts a dead peer's socket down.
        self._socket.settimeout(None)
        # The reader is always the first thread (close() relies on it).
        self._start_thread(self._read_loop, "lp-ws-reader")
        if keepalive_seconds > 0:
            self._start_thread(lambda: self._keep_alive(keepalive_seconds), "lp-ws-keepalive")

    def request(
        self, request_type: str, body: Any = None, timeout_seconds: float | None = None
    ) -> protocol.Response:
        """Send one request and wait for the response with the same ``reqId``.

        Returns the response (code < 400). Raises RequestRejectedError for code ≥ 400,
        RequestTimeoutError when no response came within ``timeout_seconds`` (default: the
        connect timeout), ConnectionLostError when the connection is or becomes closed.
        """
        timeout = self._request_timeout_seconds if timeout_seconds is None else timeout_seconds
        if self._socket is None:
            raise ConnectionLostError(f"{request_type}: the messaging connection is not open")
        waiter = self._pending.register(request_type)
        try:
            self._send(protocol.build_request(waiter.request_id, request_type, body), request_type)
            response = waiter.result(timeout)
        finally:
            self._pending.discard(waiter)
        if not response.ok:
            raise RequestRejectedError(request_type, response.code, response.body)
        return response

    def close(self) -> None:
        """Close the socket (code 1000) and join both threads; ``on_close`` is not called.

        Safe to call more than once and from the connection's own callbacks.
        """
        with self._lock:
            self._closing.set()
        ws = self._socket
        if ws is None:
            return
        if not self._ended.is_set():
            with contextlib.suppress(WebSocketError, OSError):
                ws.send_close()
        current = threading.current_thread()
        if self._threads and current is not self._threads[0]:
            # Give the server a moment to answer the close frame (read by the reader).
            self._ended.wait(CLOSE_JOIN_SECONDS)
        self._shutdown_socket()
        for thread in self._threads:
            if thread is not current:
                thread.join(CLOSE_JOIN_SECONDS)
        ws.shutdown()  # type: ignore[no-untyped-call]

    def close_when_idle(self, timeout_seconds: float) -> None:
        """Close once no request is waiting for its response, or after ``timeout_seconds``.

        Used for a socket replaced by one with a renewed token: its requests in flight
        still get their answers. ``on_close`` is not called.
        """
        self._pending.wait_until_empty(timeout_seconds)
        self.close()

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        # copy_context: the thread logs under its starter's route label (service.log_route).
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(target,), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _read_loop(self) -> None:
        ws = self._socket
        assert ws is not None
        close_code = ABNORMAL_CLOSE_CODE
        try:
            while True:
                opcode, data = ws.recv_data()
                if opcode == OPCODE_CLOSE:
                    close_code = close_frame_code(data)
                    break
                if opcode == OPCODE_TEXT:
                    route_text(data, self._pending, self._on_notification, self._refuse)
                if self._violation is not None:
                    break
        except MessageTooLargeError as error:
            self._refuse(PeerLimitError(f"LivePerson sent {error}"), MESSAGE_TOO_BIG_CODE)
        except (WebSocketError, OSError, ValueError, AttributeError) as error:
            # AttributeError: websocket-client drops its socket object when closed under us.
            if not self._closing.is_set():
                logger.info("messaging WebSocket read ended: %s", type(error).__name__)
        finally:
            self._finish(close_code)

    def _refuse(self, violation: PeerLimitError, close_code: int) -> None:
        """Log ``violation`` once with the peer's address and close the socket with
        ``close_code``; the reader ends and ``on_close`` asks for a paused reconnect."""
        if self._violation is not None:
            return
        self._violation = violation
        if self._closing.is_set():
            return
        logger.warning(
            "LivePerson at %s broke a limit, dropping the connection: %s", self.peer, violation
        )
        ws = self._socket
        if ws is not None:
            with contextlib.suppress(WebSocketError, OSError, AttributeError):
                ws.send_close(close_code)
        self._shutdown_socket()

    def _finish(self, close_code: int) -> None:
        self._close_code = close_code
        message = f"the messaging connection closed with code {close_code}"
        error: SyncdError = (
            AuthenticationError(message + ": the consumer token was refused")
            if close_code in protocol.AUTH_CLOSE_CODES
            else ConnectionLostError(message)
        )
        if self._violation is not None:
            error = ConnectionLostError(
                f"dropped the messaging connection to {self.peer}: {self._violation}",
                VIOLATION_PAUSE_SECONDS,
            )
        with self._lock:
            # Decided with the end itself: an end that came before close() is reported even
            # when close() runs while this thread is still on its way here.
            report = not self._closing.is_set()
            self._ended.set()
        self._pending.end(message)
        self._shutdown_socket()
        if report:
            if self._violation is None:  # a violation was logged already, with its peer
                logger.warning("messaging connection lost: %s", error)
            try:
                self._on_close(error)
            except Exception:
                logger.exception("connection-close handler failed")

    def _keep_alive(self, keepalive_seconds: float) -> None:
        keep_alive(
            keepalive_seconds, self._ended, self._closing, self.request, self._shutdown_socket
        )

    def _send(self, text: str, request_type: str) -> None:
        ws = self._socket
        assert ws is not None
        # Reads need a blocking socket, so a peer that stops reading would hold a send (and
        # every sender behind its lock) forever: a send gets the request timeout, overall.
        alarm = shared_watchdog().arm(self._request_timeout_seconds, self._shutdown_socket)
        try:
            ws.send(text)
        except (WebSocketError, OSError, AttributeError) as error:
            self._shutdown_socket()
            late = " within its deadline" if alarm.fired else ""
            raise ConnectionLostError(
                f"{request_type} could not be sent{late}: {type(error).__name__}"
            ) from None
        finally:
            alarm.cancel()

    def _shutdown_socket(self) -> None:
        # shutdown() wakes a reader blocked in recv (close() alone would not).
        ws = self._socket
        raw = ws.sock if ws is not None else None
        if raw is not None:
            with contextlib.suppress(OSError):
                raw.shutdown(socket.SHUT_RDWR)
