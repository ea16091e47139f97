"""Requests in flight on one messaging socket, matched to their responses by ``reqId`` only.

LivePerson documents ``reqId`` as the one link between a request and its response (response
``type`` strings differ between its own documents), so that is all this table uses. Pure:
threads and events, no socket. ``session.py`` registers before sending and fails everything
still waiting when the socket ends; its reader thread resolves (``session_traffic.py``).
"""

from __future__ import annotations

import threading

from syncd.errors import ConnectionLostError, RequestTimeoutError, SyncdError
from syncd.liveperson.protocol import RequestIds, Response


class Waiter:
    """One request in flight: completed once, with a response or an error."""

    def __init__(self, request_id: str, request_type: str) -> None:
        self.request_id = request_id
        self.request_type = request_type
        self._done = threading.Event()
        self._response: Response | None = None
        self._error: SyncdError | None = None

    def complete(self, response: Response | None, error: SyncdError | None) -> None:
        """Hand over the outcome and wake the requesting thread."""
        self._response, self._error = response, error
        self._done.set()

    def result(self, timeout_seconds: float) -> Response:
        """Wait for the response (any code) and return it.

        Raises RequestTimeoutError after ``timeout_seconds`` and the error the request was
        failed with (ConnectionLostError when the socket ended first).
        """
        if not self._done.wait(timeout_seconds):
            raise RequestTimeoutError(
                f"{self.request_type} got no response in {timeout_seconds:g} s"
            )
        if self._error is not None:
            raise self._error
        assert self._response is not None
        return self._response


class PendingRequests:
    """The table of requests in flight on one socket; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._request_ids = RequestIds()
        self._waiters: dict[str, Waiter] = {}
        self._ended_reason: str | None = None
        self._emptied = threading.Condition(self._lock)

    def register(self, request_type: str) -> Waiter:
        """Return a waiter with a fresh request id; raises ConnectionLostError once ended."""
        with self._lock:
            if self._ended_reason is not None:
                raise ConnectionLostError(f"{request_type}: {self._ended_reason}")
            waiter = Waiter(self._request_ids.next(), request_type)
            self._waiters[waiter.request_id] = waiter
            return waiter

    def discard(self, waiter: Waiter) -> None:
        """Forget ``waiter`` (answered, timed out or never sent); a late response is dropped."""
        with self._lock:
            self._waiters.pop(waiter.request_id, None)
            if not self._waiters:
                self._emptied.notify_all()

    def resolve(self, response: Response) -> bool:
        """Complete the waiter of ``response.request_id``; False when nobody waits for it."""
        with self._lock:
            waiter = self._waiters.pop(response.request_id, None)
        if waiter is None:
            return False
        waiter.complete(response, None)
        return True

    def end(self, reason: str) -> None:
        """Fail every waiting request and refuse new ones with ConnectionLostError(``reason``)."""
        with self._lock:
            self._ended_reason = reason
            waiters = list(self._waiters.values())
            self._waiters.clear()
            self._emptied.notify_all()
        for waiter in waiters:
            waiter.complete(None, ConnectionLostError(f"{waiter.request_type}: {reason}"))

    def wait_until_empty(self, timeout_seconds: float) -> bool:
        """Wait until no request is in flight (a waiter is discarded once its caller is
        done); True when that happened within ``timeout_seconds``."""
        with self._lock:
            return self._emptied.wait_for(lambda: not self._waiters, timeout_seconds)
