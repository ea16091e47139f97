"""The loop shared by the route threads (sender, receiver): work, then sleep until woken.

The wake event is cleared *before* each round of work, never after the sleep: a wake that
arrives while the work runs then cuts the next sleep short instead of being lost (clearing
after ``wait`` would drop a wake landing between the two calls, and the file that caused it
would wait a whole idle period).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from syncd.errors import StateError, SyncdError

log = logging.getLogger("syncd.worker")


def run_woken_loop(
    stop: threading.Event,
    wake: threading.Event,
    work: Callable[[], float],
    name: str,
    error_delay_seconds: float,
) -> None:
    """Call ``work`` until ``stop`` is set, sleeping between rounds.

    ``work`` returns the seconds to sleep (0 for "more is ready now"); the sleep ends early
    when ``wake`` is set. An unexpected exception is logged with ``name`` and followed by a
    sleep of ``error_delay_seconds``, so one bad round never ends the thread. Setting
    ``stop`` alone does not end a sleep: set ``wake`` too.
    """
    while not stop.is_set():
        wake.clear()
        try:
            delay_seconds = work()
        except StateError as error:
            # The state cannot be written (a full disk, a failing drive): an operator's
            # problem, worth one line per try, not a traceback; nothing was committed.
            log.error("%s: cannot record progress, trying again shortly: %s", name, error)
            delay_seconds = error_delay_seconds
        except OSError as error:
            # A file could not be written or moved (a full disk, a folder gone): the error
            # names the file and the cause, which is what an operator needs.
            log.error("%s: file operation failed, trying again shortly: %s", name, error)
            delay_seconds = error_delay_seconds
        except SyncdError as error:
            # A failure syncd knows and names (a refused account, LivePerson answering
            # wrongly): one line saying what and when the next try is, not a traceback.
            log.error("%s: %s; trying again in %.0f s", name, error, error_delay_seconds)
            delay_seconds = error_delay_seconds
        except Exception:
            log.exception("%s failed unexpectedly", name)
            delay_seconds = error_delay_seconds
        if delay_seconds > 0 and not stop.is_set():
            wake.wait(timeout=delay_seconds)
