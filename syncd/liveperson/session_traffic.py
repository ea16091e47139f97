"""What a messaging connection does with its traffic, without touching the socket.

``route_text`` hands each text frame to the request waiting for its ``reqId`` (the only
correlation LivePerson documents; ``correlation.py``) or, for a notification, to the
connection's handler; a frame that breaks a limit is passed to ``refuse`` with the close
code to use. ``keep_alive`` sends ``GetClock`` (no leading dot on the consumer API) every
``keepalive_seconds`` and, when the answer does not come in time, drops the socket so a
silently dead peer is noticed instead of waited on forever. ``session.py`` runs both on its
threads and owns the socket.
"""

from __future__ import annotations

import logging
import struct
import threading
from collections.abc import Callable

from syncd.errors import (
    ConnectionLostError,
    ProtocolError,
    RequestRejectedError,
    RequestTimeoutError,
)
from syncd.liveperson import protocol
from syncd.liveperson.correlation import PendingRequests
from syncd.liveperson.limits import PeerLimitError

# Named as before the split: these lines keep the connection's logger.
logger = logging.getLogger("syncd.liveperson.session")

RefuseHandler = Callable[[PeerLimitError, int], None]

NO_STATUS_CODE = 1005  # RFC 6455: a close frame without a code
MESSAGE_TOO_BIG_CODE = 1009  # RFC 6455
POLICY_VIOLATION_CODE = 1008  # RFC 6455


def route_text(
    data: bytes | str,
    pending: PendingRequests,
    on_notification: Callable[[protocol.Notification], None],
    refuse: RefuseHandler,
) -> None:
    """Parse one text frame and hand it on: a response to ``pending``, a notification to
    ``on_notification``. A malformed frame is logged and ignored; one over a limit, or a
    notification ``on_notification`` finds out of range (PeerLimitError), goes to
    ``refuse`` with 1009 or 1008. A handler's other exceptions are logged, never raised.
    """
    try:
        frame = protocol.parse_frame(data)
    except PeerLimitError as error:
        refuse(error, MESSAGE_TOO_BIG_CODE)
        return
    except ProtocolError as error:
        logger.warning("ignoring a malformed frame from LivePerson: %s", error)
        return
    if isinstance(frame, protocol.Response):
        pending.resolve(frame)
        return
    if isinstance(frame, protocol.Notification):
        try:
            on_notification(frame)
        except PeerLimitError as error:
            refuse(error, POLICY_VIOLATION_CODE)
        except Exception:
            # A bug in a handler must not stop the reader: later frames still matter,
            # and the daemon catches up from its stored sequence anyway.
            logger.exception("notification handler failed for %s", frame.type)


def keep_alive(
    keepalive_seconds: float,
    ended: threading.Event,
    closing: threading.Event,
    request: Callable[[str], object],
    drop: Callable[[], None],
) -> None:
    """Every ``keepalive_seconds`` until ``ended`` or ``closing`` is set, ``request``
    ``GetClock``; when it times out, ``drop`` the socket and return. Returns when the
    connection is lost; a rejected ping still proves the peer alive.
    """
    while not ended.wait(keepalive_seconds):
        if closing.is_set():
            return
        try:
            request(protocol.GET_CLOCK)
        except RequestTimeoutError:
            logger.warning("keepalive got no answer; dropping the messaging connection")
            drop()
            return
        except ConnectionLostError:
            return
        except RequestRejectedError as error:
            # The server is alive and answering; that is all the keepalive needs.
            logger.info("keepalive answered with code %d", error.code)


def close_frame_code(data: bytes | str) -> int:
    """The code in a close frame's payload ``data``; 1005 when it carries none."""
    payload = data.encode() if isinstance(data, str) else data
    return int(struct.unpack("!H", payload[:2])[0]) if len(payload) >= 2 else NO_STATUS_CODE
