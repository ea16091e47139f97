"""Tell systemd how the daemon is doing (the sd_notify protocol, standard library only).

Under ``Type=notify`` systemd puts the address of a unix datagram socket in ``$NOTIFY_SOCKET``
and reads newline-separated ``KEY=value`` assignments from it: ``READY=1`` ends the start-up
wait, ``STATUS=`` is the line ``systemctl status`` shows, ``WATCHDOG=1`` resets the watchdog
timer and ``STOPPING=1`` announces a graceful stop. The protocol is a stable interface
(sd_notify(3)), small enough that linking libsystemd or a third-party package buys nothing.

Outside systemd (tests, a shell, ``syncd demo``) ``$NOTIFY_SOCKET`` is unset and every call
is a silent no-op. A failing send is logged once and never raised: losing a status line must
not take the daemon down. (A missed ``WATCHDOG=1`` is what the watchdog exists to catch.)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

_logger = logging.getLogger("syncd.notify")

# Control characters would let text smuggle extra assignments into a datagram: a file name
# containing "\nMAINPID=1" must not become a second key. They are replaced with spaces, and
# so are C1 controls and bidi overrides, which `systemctl status` would show to a terminal.
_CONTROL_CHARACTERS = {
    code: " "
    for code in (
        *range(0x20),
        0x7F,
        *range(0x80, 0xA0),
        0x061C,
        0x200E,
        0x200F,
        0x2028,
        0x2029,
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    )
}


def one_line(text: str) -> str:
    """Return ``text`` with every control character and line break replaced by a space.

    Goes in: any string. Comes out: the same string on one line, safe as a notify value.
    """
    return text.translate(_CONTROL_CHARACTERS)


def format_status(
    *,
    queued: int,
    sent: int,
    failed: int,
    inbound: int,
    route_states: Mapping[str, str],
    dismissed: int = 0,
) -> str:
    """Build the one-line ``STATUS=`` summary of the daemon.

    Goes in: counts of files waiting to be sent, sent, failed (still in ``failed/``),
    dismissed (failed, then removed from ``failed/`` by a person) and received, and each
    route's connection state in the order routes should be listed. Comes out, for example,
    ``"queued 3, sent 120, failed 1, inbound 4; invoices: connected, claims: reconnecting"``
    (``dismissed N`` follows ``failed`` only when N is not 0; the part after ``;`` is left out
    when there are no routes). Raises nothing.
    """
    counts = f"failed {failed}, dismissed {dismissed}" if dismissed else f"failed {failed}"
    summary = f"queued {queued}, sent {sent}, {counts}, inbound {inbound}"
    if not route_states:
        return summary
    routes = ", ".join(
        f"{one_line(route)}: {one_line(state)}" for route, state in route_states.items()
    )
    return f"{summary}; {routes}"


def watchdog_interval_seconds(
    env: Mapping[str, str] = os.environ, pid: int | None = None
) -> float | None:
    """How often the main loop should send ``WATCHDOG=1``, or None when no watchdog is armed.

    Goes in: the environment (``WATCHDOG_USEC``, and ``WATCHDOG_PID`` naming the process the
    watchdog is meant for) and the pid of this process (default: ``os.getpid()``). Comes out:
    half of ``WATCHDOG_USEC`` in seconds, as sd_watchdog_enabled(3) recommends, so one late
    ping never trips the timer. None when the variables are missing, malformed, not positive,
    or meant for another process. Raises nothing.
    """
    usec_text = env.get("WATCHDOG_USEC", "")
    pid_text = env.get("WATCHDOG_PID", "")
    try:
        usec = int(usec_text)
        # A WATCHDOG_PID inherited from a parent supervised process is not addressed to us.
        if pid_text and int(pid_text) != (os.getpid() if pid is None else pid):
            return None
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2_000_000


def _socket_address(value: str) -> str | bytes | None:
    """Translate ``$NOTIFY_SOCKET`` into an address for ``socket.sendto``.

    Goes in: the variable's value. Comes out: a filesystem path, the bytes of an abstract
    socket name (``@name`` → ``b"\\0name"``), or None for forms this module does not speak
    (relative paths, the ``vsock:`` addresses newer systemd versions use for VMs).
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode("utf-8")
    return None


class Notifier:
    """Sends sd_notify messages to the socket systemd gave this process.

    Every method returns True when the datagram was handed to the socket and False when it
    was not (unsupervised, or the send failed); none raises. Safe to call from any thread,
    though with ``NotifyAccess=main`` only the main process may send, so never from a
    child process.
    """

    def __init__(self, address: str | bytes | None) -> None:
        """Goes in: a socket path, an abstract name as bytes starting with NUL, or None (no-op)."""
        self._address = address
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._last_status: str | None = None
        self._failing = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        """Make a notifier for ``$NOTIFY_SOCKET`` in ``env``.

        Comes out: a notifier that sends there, or a no-op one when the variable is unset,
        empty or in a form this module does not support (that last case is logged once).
        """
        value = env.get("NOTIFY_SOCKET", "")
        if not value:
            return cls(None)
        address = _socket_address(value)
        if address is None:
            _logger.warning(
                "NOTIFY_SOCKET %r is not a path or @name; systemd will not hear from syncd", value
            )
        return cls(address)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to send to (the process runs under Type=notify)."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Announce that start-up is complete, optionally with a first status line.

        Call once, after local set-up (config, database, watches), not after LivePerson
        answers: an outage at boot must not turn into a start timeout. Both assignments go in
        one datagram so systemd never sees READY without its status.
        """
        if status is None:
            return self._send("READY=1")
        text = one_line(status)
        with self._lock:
            sent = self._send_locked(f"READY=1\nSTATUS={text}")
            if sent:
                self._last_status = text
            return sent

    def status(self, text: str) -> bool:
        """Show ``text`` (made one line) in ``systemctl status``.

        Sends only when the text differs from the last status sent, so calling it on every
        loop iteration costs nothing. Returns True also when nothing needed sending.
        """
        line = one_line(text)
        with self._lock:
            if line == self._last_status:
                return True
            sent = self._send_locked(f"STATUS={line}")
            if sent:
                self._last_status = line
            return sent

    def watchdog(self) -> bool:
        """Reset systemd's watchdog timer.

        Call only from the daemon's main loop, and only when that loop is healthy (its last
        iteration finished and work is not stuck). A thread that pings unconditionally would
        keep a deadlocked daemon alive forever and defeat ``WatchdogSec=``.
        """
        return self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """Announce a graceful stop (after SIGTERM), optionally saying what is being finished."""
        if status is None:
            return self._send("STOPPING=1")
        return self._send(f"STOPPING=1\nSTATUS={one_line(status)}")

    def extend_timeout(self, seconds: float) -> bool:
        """Ask systemd for ``seconds`` more to finish starting or stopping (a long migration)."""
        return self._send(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}")

    def close(self) -> None:
        """Close the socket; later calls reopen it. Raises nothing."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _send(self, message: str) -> bool:
        with self._lock:
            return self._send_locked(message)

    def _send_locked(self, message: str) -> bool:
        """Send one datagram; the caller holds ``self._lock``."""
        if self._address is None:
            return False
        try:
            if self._socket is None:
                # Unconnected datagram socket: each sendto names the address, so a socket
                # re-created by systemd (daemon-reexec) is found again without reconnecting.
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.sendto(message.encode("utf-8"), self._address)
        except OSError as error:
            if not self._failing:
                # Logged on the first failure of a run of failures, so a vanished socket does
                # not write a line every watchdog period.
                _logger.warning("cannot notify systemd (%s); carrying on without it", error)
            self._failing = True
            return False
        if self._failing:
            _logger.info("notifying systemd works again")
        self._failing = False
        return True
