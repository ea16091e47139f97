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

from syncd.config import Config, RouteConfig
from syncd.outbox.retry import dismissed_ids
from syncd.service.notify import format_status
from syncd.state.files import lock_path
from syncd.state.model import InboundState, OutboundRow, OutboundState
from syncd.state.store import StateStore

_QUEUED = (
    OutboundState.DETECTED,
    OutboundState.CLAIMED,
    OutboundState.PREPARED,
    OutboundState.UPLOADED,
    OutboundState.PUBLISHING,
    OutboundState.PUBLISHED,
)


class DismissedCount:
    """Counts the failed files a person removed from ``failed/`` (``dismissed``), for the
    ``STATUS=`` line, as ``syncd status`` and ``syncd files`` count them.

    Telling requires reading every report in each route's ``failed/``; the STATUS line is
    built every second, so the count is kept and worked out again only when the failed rows
    or a ``failed/`` folder changed (removing a file changes its folder's mtime).
    """

    def __init__(self, config: Config) -> None:
        self._config = config
        self._key: tuple[object, ...] | None = None
        self._count = 0

    def count(self, failed: list[OutboundRow]) -> int:
        """How many of the ``failed`` rows are dismissed. Raises nothing (an unreadable
        folder counts as empty, as in ``outbox.retry.dismissed_ids``)."""
        key = (tuple(row.id for row in failed), *map(_mtime_ns, self._config.routes))
        if key != self._key:
            self._count = len(dismissed_ids(self._config, failed))
            self._key = key
        return self._count


def _mtime_ns(route: RouteConfig) -> int | None:
    try:
        return os.stat(route.failed_dir, follow_symlinks=False).st_mtime_ns
    except OSError:
        return None


def status_line(
    store: StateStore,
    connection_states: Mapping[str, str],
    dismissed: DismissedCount | None = None,
) -> str:
    """Summarise the whole state: files queued, sent, failed, dismissed, received, and each
    route's connection state (``connected``, ``connecting``…).

    A failed file removed from ``failed/`` by a person counts as dismissed, not failed, when
    ``dismissed`` is given (without it every failed row counts as failed). Raises StateError.
    """
    outbound = store.counts_by_state()
    inbound = store.inbound_counts_by_state()
    failed = outbound.get(OutboundState.FAILED, 0)
    gone = 0
    if failed and dismissed is not None:
        gone = dismissed.count(store.outbound_in_states((OutboundState.FAILED,)))
    return format_status(
        queued=sum(outbound.get(state, 0) for state in _QUEUED),
        sent=outbound.get(OutboundState.DONE, 0),
        failed=failed - gone + inbound.get(InboundState.FAILED, 0),
        dismissed=gone,
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
