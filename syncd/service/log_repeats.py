"""A repeated warning is logged once, then summarised at most every few minutes.

During an outage the same warning comes back every few seconds for hours; each copy costs
journal space and buries the lines that differ. ``RepeatSummaryFilter`` sits on the log
handler: the first copy of a WARNING-or-worse message passes, later identical copies are
counted and dropped, and once ``summary_interval_seconds`` have passed the next copy passes
again with the count and the time of the last dropped copy appended. A message that has not
come back for ``forget_after_seconds`` counts as new. INFO and DEBUG lines always pass, and so
do lines about one file (``file=NAME``): each of those is a distinct event (a file claimed,
published, failed again after a retry).

A line whose text changes with every copy while saying the same thing (a retried call's
"attempt 7 … retrying in 2.1 s") names what makes it news in its record's ``repeat_key``
attribute (``logger.warning(…, extra={"repeat_key": …})``); copies are then compared by that
key and the route the line names. The copy that passes after a pause shows its own text, so
an attempt counter that counts on says how far the retries went meanwhile.

Under ``SYNCD_TEST_TIMERS=fast`` (see ``rules.retry``) both intervals are ten times shorter.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from syncd.rules.retry import FAST_TEST_TIMERS

SUMMARY_INTERVAL_SECONDS = 30.0 if FAST_TEST_TIMERS else 300.0
FORGET_AFTER_SECONDS = 90.0 if FAST_TEST_TIMERS else 900.0
# The record attribute a logging call sets (``extra=``) to be compared by it, not its text.
REPEAT_KEY_ATTRIBUTE = "repeat_key"
# Lines about one file ("route=R file=NAME: ...") are events, never a repeating condition.
_FILE_EVENT = " file="
# Distinct messages remembered at once; the least recently seen is forgotten first.
MAX_REMEMBERED = 1000


@dataclass
class _Seen:
    """One message: when a copy last passed, and what was dropped since."""

    passed_at: float
    last_seen_at: float
    dropped: int = 0
    last_dropped_at: float = 0.0


def _compared_text(record: logging.LogRecord, message: str) -> str:
    """What copies of ``record`` are compared by: its ``repeat_key`` with the route its
    message names (``route=NAME``), or else its whole message."""
    repeat_key = getattr(record, REPEAT_KEY_ATTRIBUTE, None)
    if not isinstance(repeat_key, str):
        return message
    route = message.split(":", 1)[0] if message.startswith("route=") else ""
    return f"{route}\0{repeat_key}"


def _clock_text(timestamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


class RepeatSummaryFilter(logging.Filter):
    """Drops repeats of a warning between summaries; see the module docstring.

    Put it after the redacting filter, so the message compared is the final text. Raises
    nothing; thread-safe under the handler's lock (filters run while it is held).
    """

    def __init__(
        self,
        summary_interval_seconds: float = SUMMARY_INTERVAL_SECONDS,
        forget_after_seconds: float = FORGET_AFTER_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self._interval = summary_interval_seconds
        self._forget_after = forget_after_seconds
        self._clock = clock
        self._seen: OrderedDict[tuple[str, int, str], _Seen] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to log ``record`` (possibly with a summary appended), False to drop it."""
        if record.levelno < logging.WARNING:
            return True
        now = self._clock() if self._clock is not None else record.created
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return True
        if _FILE_EVENT in message:
            return True  # about one file: an event of its own (it failed again after a retry)
        key = (record.name, record.levelno, _compared_text(record, message))
        seen = self._seen.get(key)
        if seen is None or now - seen.last_seen_at >= self._forget_after:
            self._remember(key, _Seen(passed_at=now, last_seen_at=now))
            return True
        self._seen.move_to_end(key)
        seen.last_seen_at = now
        if now - seen.passed_at < self._interval:
            seen.dropped += 1
            seen.last_dropped_at = now
            return False
        if seen.dropped:
            record.msg = (
                f"{message} (repeated {seen.dropped} more time(s) since "
                f"{_clock_text(seen.passed_at)}, last at {_clock_text(seen.last_dropped_at)})"
            )
            record.args = ()
        seen.passed_at = now
        seen.dropped = 0
        return True

    def _remember(self, key: tuple[str, int, str], seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
