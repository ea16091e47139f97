"""A hostile LivePerson over loopback: a raw TCP server whose handler answers whatever a
test wants (trickled bytes, endless bodies, giant WebSocket frames), so syncd's client is
tested against a real socket, not a mock."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket, bytes, threading.Event], None]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class HostilePeer:
    """Serves ``handler(connection, request_head, stop)`` for each connection, each in a
    thread. ``request_head`` is the request line and headers (up to the blank line)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.stop = threading.Event()
        self.handler_ended = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="hostile-accept", daemon=True)
        self._acceptor.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(
                target=self._serve, args=(connection,), name="hostile-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                head = read_head(connection)
                self._handler(connection, head, self.stop)
            except OSError:
                pass  # the client went away: what these tests want to see
            finally:
                self.handler_ended.set()

    def close(self) -> None:
        self.stop.set()
        # close() alone leaves a thread blocked in accept() asleep on Linux; shutdown wakes it.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        self._acceptor.join(10)
        for thread in self._threads:
            thread.join(10)


@contextlib.contextmanager
def hostile_peer(handler: Handler) -> Iterator[HostilePeer]:
    peer = HostilePeer(handler)
    try:
        yield peer
    finally:
        peer.close()


def read_head(connection: socket.socket) -> bytes:
    """Read up to and including the blank line that ends an HTTP request's headers."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = connection.recv(4096)
        if not chunk:
            break
        head += chunk
    return head


def trickle(
    connection: socket.socket, data: bytes, interval_seconds: float, stop: threading.Event
) -> None:
    """Send ``data`` one byte every ``interval_seconds`` until done, stopped or refused."""
    for index in range(len(data)):
        if stop.wait(interval_seconds):
            return
        connection.sendall(data[index : index + 1])


def send_endless(connection: socket.socket, total_bytes: int, stop: threading.Event) -> None:
    """Send ``total_bytes`` of JSON-looking filler in 1 MiB pieces (until the client leaves)."""
    piece = b"1," * (512 * 1024)
    sent = 0
    while sent < total_bytes and not stop.is_set():
        connection.sendall(piece)
        sent += len(piece)


def accept_websocket(connection: socket.socket, head: bytes) -> None:
    """Answer the WebSocket upgrade in ``head`` with 101."""
    key = b""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())
    connection.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def frame_header(opcode: int, length: int, fin: bool = True) -> bytes:
    """An unmasked server frame header for a payload of ``length`` bytes."""
    first = (0x80 if fin else 0) | opcode
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


def send_text_frame(connection: socket.socket, text: str) -> None:
    payload = text.encode()
    connection.sendall(frame_header(0x1, len(payload)) + payload)
