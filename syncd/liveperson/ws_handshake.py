"""Opening one messaging WebSocket: the handshake, within its deadline, with a capped reader.

``open_websocket`` sends the consumer's JWT and client properties, verifies TLS (a private
CA from ``liveperson.ca_file``), refuses redirects (one would carry the token elsewhere) and
bounds the whole handshake with an alarm (``deadlines.py``): a peer that trickles the upgrade
answer cannot hold connect. A refused upgrade becomes syncd's error for it.

The socket it returns reads through a frame reader that refuses a message larger than
``MAX_MESSAGE_BYTES`` (``limits.py``) as soon as a frame header announces it, fragments
counted together, before its payload is read (``MessageTooLargeError``).

The only module that imports ``websocket`` (websocket-client): ``session.py``, which runs
the socket, takes the few names it needs from here (``WebSocket``, ``WebSocketError``,
``OPCODE_CLOSE``, ``OPCODE_TEXT``).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websocket

# The frame reader behind WebSocket.recv_frame (listed in the module's __all__); subclassed
# to see each frame's length before its payload is read. Tested by tests/integration/
# test_hostile_peer.py, so an upgrade that changes it fails there, not in production.
from websocket._abnf import frame_buffer

from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    ProtocolError,
    SyncdError,
    TlsVerificationError,
)
from syncd.liveperson.deadlines import shared_watchdog
from syncd.liveperson.limits import MAX_MESSAGE_BYTES
from syncd.rules.failure_text import describe_failure
from syncd.rules.retry import parse_retry_after

# What session.py needs of websocket-client, so that this stays its only importer.
WebSocket = websocket.WebSocket
WebSocketError = websocket.WebSocketException
OPCODE_CLOSE = websocket.ABNF.OPCODE_CLOSE
OPCODE_TEXT = websocket.ABNF.OPCODE_TEXT

# Advertised so that agents may send files back (an agent's attachment button is greyed
# out for channels that do not declare photo sharing).
CLIENT_PROPERTIES = (
    '{"type":".ClientProperties","deviceFamily":"OTHER","os":"LINUX","features":["PHOTO_SHARING"]}'
)
MAX_CONTROL_FRAME_BYTES = 125  # RFC 6455 §5.5


class MessageTooLargeError(websocket.WebSocketPayloadException):
    """A frame header announced a message longer than the limit; its payload was not read."""


class _CappedFrameBuffer(frame_buffer):
    """websocket-client's frame reader, refusing a message over ``max_message_bytes`` as soon
    as a frame header announces it (the fragments of one message count together)."""

    def __init__(self, recv: Callable[[int], bytes], max_message_bytes: int) -> None:
        super().__init__(recv, False)
        self._max_message_bytes = max_message_bytes
        self._message_bytes = 0

    def recv_length(self) -> None:
        super().recv_length()
        assert self.header is not None and self.length is not None
        opcode = self.header[4]
        if opcode >= websocket.ABNF.OPCODE_CLOSE:
            if self.length > MAX_CONTROL_FRAME_BYTES:
                raise MessageTooLargeError(f"a control frame of {self.length} bytes")
            return
        if opcode != websocket.ABNF.OPCODE_CONT:
            self._message_bytes = 0  # a new message starts
        self._message_bytes += self.length
        if self._message_bytes > self._max_message_bytes:
            raise MessageTooLargeError(
                f"a message of at least {self._message_bytes} bytes (limit "
                f"{self._max_message_bytes})"
            )


class _CappedWebSocket(websocket.WebSocket):
    """A ``websocket.WebSocket`` whose reader refuses messages over ``MAX_MESSAGE_BYTES``."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.frame_buffer = _CappedFrameBuffer(self._recv, MAX_MESSAGE_BYTES)


def open_websocket(
    url: str, jwt: str, timeout_seconds: float, ca_file: Path | None
) -> websocket.WebSocket:
    """Open the socket with ``Authorization: jwt <JWT>`` within ``timeout_seconds`` and
    return it (its timeout still ``timeout_seconds``; reads are capped as above).

    Raises AuthenticationError (HTTP 401 at the upgrade), TlsVerificationError,
    ProtocolError (another 4xx: wrong URL or account) or ConnectionLostError.
    """
    options: dict[str, Any] = {}
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        options["sslopt"] = {"context": context}
    ws = _CappedWebSocket(enable_multithread=True, **options)
    ws.settimeout(timeout_seconds)
    # The socket timeout bounds each read; this bounds the whole handshake.
    alarm = shared_watchdog().arm(timeout_seconds, lambda: _shut_down(ws))
    try:
        ws.connect(  # type: ignore[no-untyped-call]
            url,
            header=[f"Authorization: jwt {jwt}", f"Client-Properties: {CLIENT_PROPERTIES}"],
            # A redirect would carry the token elsewhere: refuse it.
            redirect_limit=0,
        )
        if alarm.cancel():
            raise OSError(f"the handshake did not finish within {timeout_seconds:.0f} s")
    except websocket.WebSocketBadStatusException as error:
        raise _upgrade_refused(error) from None
    except ssl.SSLCertVerificationError:
        raise TlsVerificationError(
            "the messaging server's TLS certificate could not be verified; if it uses a "
            "private CA, set liveperson.ca_file to its bundle"
        ) from None
    except (websocket.WebSocketException, OSError) as error:
        reason = (
            f"no handshake from {peer_address(ws, url)} within {timeout_seconds:.0f} s"
            if alarm.cancel()
            else describe_failure(error, peer_address(ws, url))
        )
        raise ConnectionLostError(f"could not open the messaging WebSocket: {reason}") from None
    finally:
        alarm.cancel()
    return ws


def _shut_down(ws: websocket.WebSocket) -> None:
    raw = ws.sock
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)


def peer_address(ws: websocket.WebSocket, url: str) -> str:
    """``host:port`` of the URL with the address actually connected to, for log lines."""
    where = url.split("//", 1)[-1].split("/", 1)[0]
    try:
        address = ws.sock.getpeername() if ws.sock is not None else None
    except OSError:
        address = None
    return f"{where} ({address[0]}:{address[1]})" if address else where


def _upgrade_refused(error: websocket.WebSocketBadStatusException) -> SyncdError:
    status = int(error.status_code)
    if status == 401:
        return AuthenticationError("LivePerson refused the consumer token (HTTP 401 at upgrade)")
    headers = error.resp_headers or {}
    retry_after = parse_retry_after(headers.get("retry-after"), time.time())
    if status == 429 or status >= 500:
        return ConnectionLostError(
            f"the messaging WebSocket upgrade was refused with HTTP {status}", retry_after
        )
    return ProtocolError(f"the messaging WebSocket upgrade was refused with HTTP {status}")
