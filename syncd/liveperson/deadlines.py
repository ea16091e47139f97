"""Overall deadlines for network calls: one thread that runs an action when a call overstays.

A socket timeout bounds each read, not a call: a peer that sends one byte every two seconds
keeps a 30-second read timeout happy forever. So every call to LivePerson arms an ``Alarm``
for its whole duration, and the alarm's action (shutting the call's sockets down) makes the
blocked read return at once. Pure threading, no network code.

``shared_watchdog()`` is the one watchdog thread of the process, started on first use.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Alarm:
    """One armed deadline. ``cancel()`` it when the call ends; ``fired`` says if it went off."""

    def __init__(self, due_at: float, action: Callable[[], None]) -> None:
        self.due_at = due_at
        self._action = action
        self._lock = threading.Lock()
        self._state = "armed"  # armed → fired | cancelled

    @property
    def fired(self) -> bool:
        """True once the deadline passed and the action ran (or is running)."""
        with self._lock:
            return self._state == "fired"

    def cancel(self) -> bool:
        """Disarm; returns True when the alarm had already fired (the call overstayed)."""
        with self._lock:
            if self._state == "armed":
                self._state = "cancelled"
            return self._state == "fired"

    def fire(self) -> None:
        """Run the action once, unless cancelled first. Errors of the action are logged."""
        with self._lock:
            if self._state != "armed":
                return
            self._state = "fired"
        try:
            self._action()
        except Exception:
            logger.exception("deadline action failed")


class Watchdog:
    """Runs each ``Alarm``'s action at its due time on one daemon thread. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, action: Callable[[], None]) -> Alarm:
        """Return an alarm that runs ``action`` in ``seconds`` unless cancelled first."""
        alarm = Alarm(self._clock() + seconds, action)
        with self._condition:
            heapq.heappush(self._heap, (alarm.due_at, next(self._order), alarm))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="syncd-deadlines", daemon=True
                )
                self._thread.start()
            self._condition.notify()
        return alarm

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > self._clock():
                    wait = self._heap[0][0] - self._clock() if self._heap else None
                    self._condition.wait(wait)
                _due, _order, alarm = heapq.heappop(self._heap)
            alarm.fire()


_shared: Watchdog | None = None
_shared_lock = threading.Lock()


def shared_watchdog() -> Watchdog:
    """Return the process's watchdog (one thread for every deadline)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Watchdog()
        return _shared
