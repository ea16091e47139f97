"""The one exception the emulator's pure parts raise to refuse a request."""

from __future__ import annotations


class Rejection(Exception):
    """A request the emulator refuses.

    ``code`` is the status to answer with (a WebSocket response code or an HTTP status) and
    ``reason`` a short human sentence (at most 128 characters, LivePerson's string-body limit).
    """

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason[:128]
        super().__init__(f"{code}: {self.reason}")
