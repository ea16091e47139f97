"""What the daemon reports about itself: the one-line summary for systemd's ``STATUS=``
(``systemctl status syncd``), and whether a daemon is running on a state database (for
``syncd status``, a separate process).
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Mapping
from pathlib import Path

from syncd.service.notify import format_status
from syncd.state.files import lock_path
from syncd.state.model import InboundState, OutboundState
from syncd.state.store import StateStore

_QUEUED = (
    OutboundState.DETECTED,
    OutboundState.CLAIMED,
    OutboundState.PREPARED,
    OutboundState.UPLOADED,
    OutboundState.PUBLISHING,
    OutboundState.PUBLISHED,
)


def status_line(store: StateStore, connection_states: Mapping[str, str]) -> str:
    """Summarise the whole state: files queued, sent, failed, received, and each route's
    connection state (``connected``, ``connecting``…).
    """
    outbound = store.counts_by_state()
    inbound = store.inbound_counts_by_state()
    return format_status(
        queued=sum(outbound.get(state, 0) for state in _QUEUED),
        sent=outbound.get(OutboundState.DONE, 0),
        failed=outbound.get(OutboundState.FAILED, 0) + inbound.get(InboundState.FAILED, 0),
        inbound=inbound.get(InboundState.DONE, 0),
        route_states=connection_states,
    )


def waiting_files(store: StateStore, route: str) -> int:
    """How many files of ``route`` are not finished: outbound rows still on their way and
    inbound downloads pending. Raises StateError."""
    outbound = store.counts_by_state(route)
    inbound = store.inbound_counts_by_state(route)
    return sum(outbound.get(state, 0) for state in _QUEUED) + inbound.get(InboundState.PENDING, 0)


def daemon_running(database: Path) -> bool | None:
    """Whether a ``syncd run`` holds the instance lock of ``database`` right now.

    Goes in: the state database path; the daemon holds an exclusive ``flock`` on
    ``<database>.lock`` while it runs (``state.files.take_lock``). Comes out: True when the
    lock is held, False when it is free or the lock file does not exist, None when the lock
    file cannot be opened (another user's, for example). Never creates the file. The probe
    asks for a *shared* lock without waiting and drops it at once, so it never blocks and
    never queues behind the daemon; only a daemon starting in that same instant could find
    the lock busy. Raises nothing.
    """
    try:
        descriptor = os.open(lock_path(database), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        return True if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN) else None
    finally:
        os.close(descriptor)  # closing drops the shared lock, if it was taken
    return False
