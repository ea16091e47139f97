"""The overall deadline of one HTTPS call: the sockets it uses, shut down when time is up.

A read timeout bounds each read, not the call: a peer trickling one byte every two seconds
would hold the caller forever. So ``http.py`` arms an alarm for each call's whole duration
(``deadlines.py``): connecting, sending, the answer's headers and its body. When it goes off,
the call's sockets are shut down, the blocked read returns, and the call fails with
``overstayed_error``. The sockets of a call are found through urllib3 connection classes that
register each socket they open or reuse with the calling thread's call (``CallSockets``).

The only module that imports ``urllib3``; ``http.py`` installs its pools with ``watch_pools``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

import urllib3

from syncd.errors import TransientTransferError
from syncd.liveperson.http_answers import redact_url

# Named as before the split: the "abandoned" warning keeps its logger.
logger = logging.getLogger("syncd.liveperson.http")


class CallSockets:
    """The sockets one call uses, so its deadline alarm can shut them down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._abandoned = False
        self.peer = ""

    def add(self, sock: socket.socket) -> None:
        """Remember ``sock``; shut it down at once if the deadline already passed."""
        with self._lock:
            if not self.peer:
                with contextlib.suppress(OSError):
                    address = sock.getpeername()
                    self.peer = f"{address[0]}:{address[1]}"
            if self._abandoned:
                _shut_down(sock)
                return
            self._sockets.append(sock)

    def abandon(self) -> None:
        """Shut every socket down: a read blocked on one of them returns at once."""
        with self._lock:
            self._abandoned = True
            for sock in self._sockets:
                _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# ``current_call.sockets``: the CallSockets of the call this thread is making, or None.
current_call = threading.local()


def _register_socket(sock: socket.socket | None) -> None:
    call: CallSockets | None = getattr(current_call, "sockets", None)
    if call is not None and sock is not None:
        call.add(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """Registers its socket with the calling thread's call when opened or reused."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register_socket(sock)  # before TLS: the handshake is covered too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register_socket(self.sock)  # a kept-alive connection: no _new_conn this time
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """The TLS twin of ``_WatchedHTTPConnection``."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _register_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _register_socket(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watch_pools(manager: urllib3.PoolManager) -> urllib3.PoolManager:
    """Make ``manager`` (a pool or proxy manager) open pools whose connections register
    their sockets with the calling thread's call; return ``manager``."""
    manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


def overstayed_error(
    method: str, url: str, deadline_seconds: float, sockets: CallSockets
) -> TransientTransferError:
    """Log and return the error of a call abandoned at its deadline (the URL redacted)."""
    where = f"{method} {redact_url(url)}"
    host = urlsplit(url).netloc
    peer = f"{host} ({sockets.peer})" if sockets.peer else host
    logger.warning(
        "abandoned %s: no complete answer from %s within its %.0f s deadline",
        where,
        peer,
        deadline_seconds,
    )
    return TransientTransferError(
        f"{where} abandoned: no complete answer from {peer} within {deadline_seconds:.0f} s"
    )
