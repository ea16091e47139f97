"""The thread that keeps one consumer link up: when to reconnect or renew, and how long to
wait in between.

``LinkSupervisor`` sleeps until it is woken (a lost connection, a caller that failed to
connect) or until the token is due for renewal, then calls the link's ``maintain``. After a
drop it goes at once; once a connect or renewal has failed it waits ``backoff_seconds``
(the link's ``ReconnectBackoff``: exponential with full jitter, capped at 10 s, at least a
``Retry-After``), and a peer that broke a limit can ask for a pause first
(``pause_seconds``). During an outage ``retry_now`` cuts a wait short. It runs until
``stop()``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

from syncd.errors import SyncdError


class LinkSupervisor:
    """One link's supervisor thread and the events that steer it. Thread-safe.

    ``maintain`` reconnects or renews (raising SyncdError when that failed), and
    ``report_failure`` is told each such error; ``seconds_until_due`` is the time until the
    token is due for renewal (None: never); ``backoff_seconds`` the wait before the next try
    (0 after a success).
    """

    def __init__(
        self,
        *,
        maintain: Callable[[], None],
        report_failure: Callable[[SyncdError], None],
        seconds_until_due: Callable[[], float | None],
        backoff_seconds: Callable[[], float],
    ) -> None:
        self._maintain = maintain
        self._report_failure = report_failure
        self._seconds_until_due = seconds_until_due
        self._backoff_seconds = backoff_seconds
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.retry_now = threading.Event()
        # Set by the link when a peer asked for a pause before the next connect.
        self.pause_seconds = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        if self._thread is None:
            # copy_context: the thread logs under its starter's route label (service.log_route).
            self._thread = threading.Thread(
                target=contextvars.copy_context().run,
                args=(self._supervise,),
                name="lp-consumer-supervisor",
                daemon=True,
            )
            self._thread.start()

    def is_current_thread(self) -> bool:
        """True when called from the supervisor thread itself."""
        return threading.current_thread() is self._thread

    def stop(self) -> None:
        """Stop the loop and join the thread (unless called from it)."""
        self.stopping.set()
        self.wake.set()
        self.retry_now.set()
        if self._thread is not None and not self.is_current_thread():
            self._thread.join()

    def _supervise(self) -> None:
        while not self.stopping.is_set():
            # Sleep until woken (a drop, a failed caller) or until the token is due.
            self.wake.wait(self._seconds_until_due())
            self.wake.clear()
            pause, self.pause_seconds = self.pause_seconds, 0.0
            if pause > 0:
                self.stopping.wait(pause)
            while not self.stopping.is_set():
                # After a failed connect or renewal back off; after a drop, go at once.
                wait = self._backoff_seconds()
                if wait > 0:
                    self.retry_now.wait(wait)
                    self.retry_now.clear()
                    if self.stopping.is_set():
                        return
                try:
                    self._maintain()
                    break
                except SyncdError as error:
                    self._report_failure(error)
