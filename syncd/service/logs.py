"""Logging for a daemon whose stderr is read by journald, with secrets kept out of it.

journald turns every line written to a service's stderr into one journal entry, and reads a
leading ``<N>`` as the entry's syslog priority (sd-daemon(3)). So under journald each record
is written as exactly one line with its priority in front; elsewhere (a terminal, ``syncd
demo``) lines carry a time stamp and level name instead. Line breaks inside a record (a
multi-line message, a traceback, a hostile file name) are escaped as ``\\n`` so one event
never splits into several entries and nobody can forge a log line; C1 controls and bidi
overrides are escaped too, so a name cannot recolour a terminal or reorder a line.

A :class:`RedactingFilter` on the handler removes tokens, passwords and signatures from the
final text, whichever library logged them, including exception text.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from syncd.errors import ConfigError
from syncd.rules.text import printable
from syncd.service.log_repeats import RepeatSummaryFilter

REDACTED = "[REDACTED]"

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# A JWT is three base64url parts; its header is JSON, which always encodes as "eyJ". No
# word boundary is required in front: text glued to a token must not let it through.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# An Authorization header in any rendering (raw header, dict repr, JSON); the scheme word
# (jwt, Bearer, Basic) stays visible because it helps debugging and is not secret.
_AUTHORIZATION = re.compile(
    r"(?i)(?P<key>authorization\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"(?:(?P<scheme>[A-Za-z]+)\s+)?(?:\[REDACTED\]|[A-Za-z0-9._~+/=-]+)"
)

# "Bearer <token>" wherever it appears (curl lines, error messages quoting a header).
_BEARER = re.compile(r"(?i)(?P<scheme>bearer)\s+[A-Za-z0-9._~+/=-]+")

# Any key that names a secret: a whole word ending in one of these, so `temp_url_sig`,
# `appSecret`, `accessToken` and `Session_id` match while `temp_url_expires` does not.
_SENSITIVE_KEY_PATTERN = (
    r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]*?"
    r"(?:password|passwd|secret|token|jwt|bearer|csrf|wsuk|session_?id|sig|signature)"
)

# The value after such a key: a double-quoted, single-quoted or backslash-escaped JSON
# string (for JSON logged inside JSON), or a bare run up to a separator.
_SENSITIVE_VALUE_PATTERN = (
    r"(?P<value>\[REDACTED\]|\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"
    r"|\\\"(?:[^\"\\]|\\(?!\"))*\\\"|[^\s\"',;&}\])\\]+)"
)

# `"password": "..."` and `'jwt': '...'` (JSON, Python reprs): the key must be quoted, so
# prose such as "cannot read jwt: file missing" is left alone.
_QUOTED_KEY_VALUE = re.compile(
    rf"(?i)(?P<key>\\?[\"']{_SENSITIVE_KEY_PATTERN}\\?[\"']\s*:\s*){_SENSITIVE_VALUE_PATTERN}"
)

# `password=...`, `temp_url_sig=...`, `Session_id=...` (query strings, cookies, reprs).
_KEY_EQUALS_VALUE = re.compile(
    rf"(?i)(?P<key>{_SENSITIVE_KEY_PATTERN}\s*=\s*){_SENSITIVE_VALUE_PATTERN}"
)


def _redacted_value(match: re.Match[str]) -> str:
    """Keep a matched key and the quoting of its value; replace only the value."""
    value = match.group("value")
    for quote in ('\\"', '"', "'"):
        if value.startswith(quote) and len(value) >= 2 * len(quote):
            return f"{match.group('key')}{quote}{REDACTED}{quote}"
    return f"{match.group('key')}{REDACTED}"


def _redacted_with_scheme(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    key = match.groupdict().get("key") or ""
    return f"{key}{scheme} {REDACTED}" if scheme else f"{key}{REDACTED}"


def redact(text: str) -> str:
    """Replace secrets in ``text`` with ``[REDACTED]``.

    Goes in: any text (a log message, an exception's text, a response body). Comes out: the
    same text with JWTs, Authorization header values, bearer tokens, and the values of keys
    naming a secret (passwords, tokens, csrf, ``temp_url_sig`` and other signatures)
    replaced, keeping keys and quoting so the text stays readable. Raises nothing.
    """
    text = _JWT.sub(REDACTED, text)
    text = _AUTHORIZATION.sub(_redacted_with_scheme, text)
    text = _BEARER.sub(_redacted_with_scheme, text)
    text = _QUOTED_KEY_VALUE.sub(_redacted_value, text)
    return _KEY_EQUALS_VALUE.sub(_redacted_value, text)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's final text before any formatter sees it.

    It renders the message with its %-arguments, and the exception and stack text, redacts
    them and stores the results back on the record (``args`` becomes empty). Installed on
    the handler rather than on a logger so records from every library pass through it.
    """

    _exception_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place; always returns True (nothing is dropped)."""
        record.msg = redact(_rendered_message(record))
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._exception_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _rendered_message(record: logging.LogRecord) -> str:
    """The record's message with its arguments, or a readable fallback if they do not fit.

    A filter that raised would propagate into the code that logged, so a malformed call
    (wrong number of %-arguments) is shown instead of raised.
    """
    try:
        return record.getMessage()
    except (TypeError, ValueError, KeyError) as error:
        return f"{record.msg!r} % {record.args!r} (unformattable: {error})"


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


# Context values printed bare; anything else (spaces, '=', ':' at odd places, controls) is
# repr()-quoted so a file name cannot impersonate another key or end the prefix early.
_BARE_CONTEXT_VALUE = re.compile(r"[\w.@+/-]+")


def _context_text(value: object) -> str:
    text = str(value)
    return text if _BARE_CONTEXT_VALUE.fullmatch(text) else repr(text)


class ContextLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger whose messages start with ``key=value`` context.

    ``route_logger("invoices", "syncd.sender").bind(file="scan_0001.jpg").info("published as
    sequence %d", 12)`` logs ``route=invoices file=scan_0001.jpg: published as sequence 12``.
    The context is part of the message, so every handler and test sees it.
    """

    def __init__(self, logger: logging.Logger, context: Mapping[str, object]) -> None:
        super().__init__(logger, dict(context))
        self.context: dict[str, object] = dict(context)
        self._prefix = " ".join(
            f"{key}={_context_text(value)}" for key, value in context.items() if value is not None
        )

    def bind(self, **context: object) -> ContextLogger:
        """Return a logger with ``context`` added to (or replacing keys of) this one's."""
        return ContextLogger(self.logger, {**self.context, **context})

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log ``msg % args`` behind the context prefix (every level method ends up here)."""
        if not self.isEnabledFor(level):
            return
        # The prefix goes through %-formatting only when there are arguments; a '%' in a
        # file name must then be doubled to stay literal.
        prefix = self._prefix.replace("%", "%%") if args else self._prefix
        message = f"{prefix}: {msg}" if prefix else msg
        # One frame more than the caller passed, so the record names the caller of
        # info()/warning(), not this method.
        kwargs["stacklevel"] = kwargs.get("stacklevel", 1) + 1
        self.logger.log(level, message, *args, **kwargs)


def route_logger(route: str, logger_name: str = "syncd", **context: object) -> ContextLogger:
    """Return a ContextLogger for ``logger_name`` whose lines start with ``route=<route>``.

    Extra keyword arguments (e.g. ``file="scan_0001.jpg"``) are added after the route;
    ``None`` values are left out. Raises nothing.
    """
    return ContextLogger(logging.getLogger(logger_name), {"route": route, **context})
