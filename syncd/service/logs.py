"""How syncd writes its log: one line per record on stderr, in journald's form when stderr is
the journal, with secrets kept out of it.

journald turns every line written to a service's stderr into one journal entry, and reads a
leading ``<N>`` as the entry's syslog priority (sd-daemon(3)). So under journald each record
is written as exactly one line with its priority in front; elsewhere (a terminal, ``syncd
demo``) lines carry a time stamp and level name instead. Line breaks inside a record (a
multi-line message, a traceback, a hostile file name) are escaped as ``\\n`` so one event
never splits into several entries and nobody can forge a log line; C1 controls and bidi
overrides are escaped too, so a name cannot recolour a terminal or reorder a line.

A :class:`~syncd.service.log_redaction.RedactingFilter` on the handler removes tokens,
passwords and signatures from the final text, whichever library logged them, including
exception text. ``log_context`` makes the ``route=NAME:`` loggers.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from syncd.errors import ConfigError
from syncd.rules.text import printable
from syncd.service.log_redaction import RedactingFilter
from syncd.service.log_repeats import RepeatSummaryFilter

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def one_line(text: str) -> str:
    """Return ``text`` with line breaks, C0/C1 controls and bidi controls escaped (``\\n``,
    ``\\x1b``, ``\\x9b``, ``\\u202e``): see ``syncd.rules.text``."""
    return printable(text)


def syslog_priority(level_number: int) -> int:
    """Map a logging level to a syslog priority: error 3, warning 4, info 6, debug 7."""
    if level_number >= logging.CRITICAL:
        return 2
    if level_number >= logging.ERROR:
        return 3
    if level_number >= logging.WARNING:
        return 4
    if level_number >= logging.INFO:
        return 6
    return 7


class OneLineFormatter(logging.Formatter):
    """Formats a record, traceback included, as a single line.

    With ``journald=True``: ``<6>syncd.sender: message`` (journald adds the time and strips
    the prefix into the entry's priority). Otherwise: ``2024-05-01 12:00:00.123 INFO
    syncd.sender: message``.
    """

    default_msec_format = "%s.%03d"

    def __init__(self, *, journald: bool) -> None:
        if journald:
            super().__init__("%(name)s: %(message)s")
        else:
            super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._journald = journald

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line, with its ``<N>`` prefix under journald."""
        line = one_line(super().format(record))
        if self._journald:
            return f"<{syslog_priority(record.levelno)}>{line}"
        return line


def is_journal_stream(stream: TextIO, env: Mapping[str, str]) -> bool:
    """True when ``stream`` is the journal connection systemd announced in ``JOURNAL_STREAM``.

    systemd sets ``JOURNAL_STREAM=<device>:<inode>`` for a service's stdout/stderr; comparing
    it with the stream's own file (systemd.exec(5)) avoids writing ``<N>`` prefixes into a
    file or pipe that stderr was redirected to. A stream without a file descriptor never is.
    """
    device_text, separator, inode_text = env.get("JOURNAL_STREAM", "").partition(":")
    if not separator:
        return False
    try:
        status = os.fstat(stream.fileno())
        return (status.st_dev, status.st_ino) == (int(device_text), int(inode_text))
    except (OSError, ValueError, AttributeError):
        # No real file behind the stream (io.StringIO raises UnsupportedOperation, a
        # ValueError and OSError), or a malformed variable.
        return False


class _SyncdStreamHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs; its own class lets a second call replace it."""


def configure_logging(
    level: str, stream: TextIO | None = None, env: Mapping[str, str] = os.environ
) -> None:
    """Send all logging to ``stream`` (default: the current ``sys.stderr``), one line per record.

    Goes in: a level name (debug, info, warning, error, critical; any case), the stream, and
    the environment used to detect journald. Replaces a handler installed by an earlier call,
    sets the root level, and routes ``warnings`` (e.g. Pillow's decompression-bomb warning)
    through logging so they are one-line and redacted too. Raises ConfigError for an
    unknown level name.
    """
    level_number = _LEVELS.get(level.lower())
    if level_number is None:
        choices = ", ".join(_LEVELS)
        raise ConfigError([f"log level: unknown level {level!r} (expected one of {choices})"])
    target = sys.stderr if stream is None else stream
    handler = _SyncdStreamHandler(target)
    handler.setFormatter(OneLineFormatter(journald=is_journal_stream(target, env)))
    handler.addFilter(RedactingFilter())
    handler.addFilter(RepeatSummaryFilter())
    handler.addFilter(demote_watchdog_stop_race)
    root = logging.getLogger()
    for previous in [each for each in root.handlers if isinstance(each, _SyncdStreamHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level_number)
    logging.captureWarnings(True)


def demote_watchdog_stop_race(record: logging.LogRecord) -> bool:
    """Log filter: show watchdog's stop-time race as DEBUG, not as an ERROR.

    watchdog (7.x) logs "queue_events() called when the thread is inactive" at ERROR when an
    observer is stopped while its thread is between two reads; nothing is lost (the observer
    is being shut down on purpose), and an ERROR on every stop would teach operators to
    ignore errors. Goes in: any record; comes out: True to emit it (the race's record only
    when DEBUG logging is on, demoted), False to drop it.
    """
    if record.name.startswith("watchdog.") and "called when the thread is inactive" in str(
        record.msg
    ):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
    return True
