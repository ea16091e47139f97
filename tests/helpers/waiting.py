"""Waiting on conditions with a deadline, never with bare sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T], timeout_seconds: float = 30.0, what: str = "condition"
) -> T:
    """Poll ``condition`` until it returns a truthy value; return it or fail after the timeout."""
    deadline = time.monotonic() + timeout_seconds
    interval = 0.02
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)
