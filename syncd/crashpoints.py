"""A test-only hook that kills the process right after a named state transition.

Crash tests set ``SYNCD_CRASH_AFTER`` to a transition name (for example ``claimed`` or
``publishing``) and start the daemon; it SIGKILLs itself right after committing that
transition, exactly as a power cut or an OOM kill would. Unset, the hook costs one string
comparison. ``SYNCD_CRASH_AFTER_COUNT`` (default 1) picks the n-th time the point is reached.
``publish-sent`` is the one point that follows no commit: LivePerson has the event, the
database does not know it yet.
"""

from __future__ import annotations

import os
import signal
import threading

_TARGET = os.environ.get("SYNCD_CRASH_AFTER", "")
_REMAINING = int(os.environ.get("SYNCD_CRASH_AFTER_COUNT", "1") or "1")
_lock = threading.Lock()

TRANSITIONS = (
    "detected",
    "claimed",
    "prepared",
    "uploaded",
    "publishing",
    # Not a commit: the publish frame was answered, ``published`` is not recorded yet. Only
    # replaying the conversation on restart keeps this crash from publishing twice.
    "publish-sent",
    "published",
    "done",
    "failed",
    "inbound-recorded",
    "inbound-linked",
    "inbound-done",
)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if ``SYNCD_CRASH_AFTER`` names this point."""
    global _REMAINING
    if name != _TARGET:
        return
    with _lock:
        _REMAINING -= 1
        if _REMAINING > 0:
            return
    os.kill(os.getpid(), signal.SIGKILL)
