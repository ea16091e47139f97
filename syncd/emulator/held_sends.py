"""Notification frames sent at once, or held back until a block of work ends.

A request that changes several things (a publish that also changes a conversation) must
answer before the notifications it causes, as LivePerson's own servers appear to; the hubs
hold the notifications while the request runs and send them, in order, when it is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class TextSink(Protocol):
    """Anything a text frame can be queued on (a consumer or a brand socket)."""

    def send(self, text: str) -> None:
        """Queue ``text`` for sending."""


class HeldSends:
    """Sends text frames to sinks, holding them inside ``held()`` blocks. Not thread-safe:
    the emulator's event loop is its only caller."""

    def __init__(self) -> None:
        self._held: list[tuple[TextSink, str]] | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold frames back until the block ends (nested holds join the outer one)."""
        if self._held is not None:
            yield
            return
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            for sink, text in held:
                sink.send(text)

    def deliver(self, sink: TextSink, text: str) -> None:
        """Send ``text`` to ``sink`` now, or when the outermost hold ends."""
        if self._held is not None:
            self._held.append((sink, text))
        else:
            sink.send(text)
