"""The emulated network between syncd and LivePerson: a round trip and a shared uplink.

Two fault knobs (``faults.py``) dial in a network like a back office's internet line:

* ``rtt_ms`` — every HTTP request (the control API under ``/_emulator/`` excepted: it is the
  tester's side door, not LivePerson) is handled that long after it arrived, and every frame
  a consumer socket sends leaves that long after it was queued. Requests in flight overlap,
  as on a real network: the delay is a timer per request, never a wait that holds the next
  one, and the socket's reader goes on reading while answers wait (``ConsumerSocket``). The
  answers of one socket keep their order (they leave in the order they were queued).
* ``uplink_kbps`` — the bodies of storage PUTs are read through one ``Uplink``: a line of that
  many kilobits per second shared by every upload at once, so two uploads each get about half.

``NetworkLog`` keeps the last few hundred (kind, started, finished) intervals on the loop's
clock, so tests can prove facts (these requests were in flight together; the answers left in
order) without timing anything.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

UPLINK_CHUNK_BYTES = 16 * 1024
# How much a line lets through at once before pacing starts (a modem's small buffer).
UPLINK_BURST_BYTES = 16 * 1024
NETWORK_LOG_ENTRIES = 512
CONTROL_PREFIX = "/_emulator/"


@dataclass(frozen=True)
class Interval:
    """One request or answer on the emulated network: ``kind`` (``http`` or ``ws``), when it
    arrived (``started``) and when its answer left (``finished``), on the loop's clock, and
    for HTTP its ``method``."""

    kind: str
    started: float
    finished: float
    method: str = ""


class NetworkLog:
    """The last ``NETWORK_LOG_ENTRIES`` intervals, oldest first."""

    def __init__(self) -> None:
        self._entries: deque[Interval] = deque(maxlen=NETWORK_LOG_ENTRIES)

    def record(self, kind: str, started: float, finished: float, method: str = "") -> None:
        """Remember one interval."""
        self._entries.append(Interval(kind, started, finished, method))

    def entries(self, kind: str | None = None) -> list[Interval]:
        """The remembered intervals (of ``kind`` only, when given), oldest first."""
        # list() of a deque is one C call: safe while the loop thread appends.
        return [entry for entry in list(self._entries) if kind is None or entry.kind == kind]

    def clear(self) -> None:
        """Forget every interval."""
        self._entries.clear()


class Uplink:
    """A line of a given rate shared by everything sent over it (pure: the caller sleeps).

    Each ``reserve`` books its bytes on the line after everything booked before it, so
    concurrent senders share the rate and none of them gets more than the line carries.
    """

    def __init__(self) -> None:
        self._free_at = float("-inf")

    def reserve(self, size_bytes: int, now: float, kbps: float | None) -> float:
        """Book ``size_bytes`` at ``kbps`` kilobits per second (None: no limit) at time
        ``now``; return how many seconds the caller must wait until they are through."""
        if kbps is None:
            return 0.0
        bytes_per_second = kbps * 1000 / 8
        # Idle time on the line is not saved up beyond one burst.
        start = max(self._free_at, now - UPLINK_BURST_BYTES / bytes_per_second)
        self._free_at = start + size_bytes / bytes_per_second
        return max(0.0, self._free_at - now)


async def read_through_uplink(
    request: web.Request, uplink: Uplink, kbps: Callable[[], float | None], max_bytes: int
) -> bytes:
    """Read ``request``'s body in chunks, each let through ``uplink`` at ``kbps()``.

    Raises HTTPRequestEntityTooLarge past ``max_bytes`` (reading stops there), and what
    ``request.content`` raises (a peer gone mid-body).
    """
    loop = asyncio.get_running_loop()
    chunks: list[bytes] = []
    total_bytes = 0
    async for chunk in request.content.iter_chunked(UPLINK_CHUNK_BYTES):
        total_bytes += len(chunk)
        if total_bytes > max_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=total_bytes)
        chunks.append(chunk)
        wait_seconds = uplink.reserve(len(chunk), loop.time(), kbps())
        if wait_seconds > 0:
            await asyncio.sleep(wait_seconds)
    return b"".join(chunks)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def round_trip_middleware(rtt_seconds: Callable[[], float], log: NetworkLog) -> Middleware:
    """An aiohttp middleware handling each request ``rtt_seconds()`` after it arrived (the
    control API at once) and recording its interval in ``log``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX) or request.path == CONTROL_PREFIX[:-1]:
            return await handler(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay_seconds = rtt_seconds()
        if delay_seconds > 0:
            await asyncio.sleep(delay_seconds)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await handler(request)  # a socket's frames are recorded one by one
        try:
            return await handler(request)
        finally:
            log.record("http", started, loop.time(), request.method)

    return middleware
