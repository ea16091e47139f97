"""The latest problem of each route, as the journal showed it, for ``syncd status``.

Every warning or error syncd logs about a route carries ``route=NAME``. Rather than have each
part of the daemon (intake, preparer, sender, receiver, LivePerson link) also write its
problems to the state database, a logging handler collects the newest one per route and the
daemon's main loop writes them (``drain``). So ``status`` shows every kind of problem, in the
journal's own words, with its time, and the journal and ``status`` never disagree.

Each problem keeps its kind (``rules.error_kinds``) as the code that logged it knew it: the
record's ``error_kind`` (``extra=log_kind(kind)``), else the kind of the exception logged with
it, else ``liveperson`` for a line of the LivePerson client (``syncd.liveperson.*`` loggers),
else none: the metrics then guess from the words, as they did before kinds were stored.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from syncd.liveperson.error_kinds import kind_of
from syncd.rules.error_kinds import LOG_RECORD_KIND, ErrorKind
from syncd.service.log_redaction import redact
from syncd.service.logs import one_line

# "route=NAME" as the daemon writes it; a route name is at most 64 of these characters.
_ROUTE = re.compile(r"\broute=([A-Za-z0-9_.-]{1,64})\b")
# A status line stays readable; the journal keeps the whole text.
MAX_MESSAGE_CHARACTERS = 300
_LIVEPERSON_LOGGERS = "syncd.liveperson."


@dataclass(frozen=True)
class LoggedProblem:
    """A route's newest logged problem: its one-line ``message``, when it was ``logged_at``
    (unix s) and its ``kind`` (None when the line did not say)."""

    message: str
    logged_at: float
    kind: ErrorKind | None


def record_kind(record: logging.LogRecord) -> ErrorKind | None:
    """The kind of problem ``record`` reports, or None when it does not say (see the module
    docstring for the order). Raises nothing."""
    stated = getattr(record, LOG_RECORD_KIND, None)
    if isinstance(stated, ErrorKind):
        return stated
    if record.exc_info is not None and record.exc_info[1] is not None:
        return kind_of(record.exc_info[1])
    if record.name.startswith(_LIVEPERSON_LOGGERS):
        return ErrorKind.LIVEPERSON
    return None


class RouteErrorCollector(logging.Handler):
    """Keeps the newest WARNING-or-worse message of each route until ``drain`` takes them.

    Thread-safe; never touches the database itself (a logging call may come from any thread,
    including one holding a database lock), and never raises into the code that logged.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self._latest: dict[str, LoggedProblem] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Remember ``record`` when its message names a route."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            return
        found = _ROUTE.search(message)
        if found is None:
            return
        text = one_line(redact(message))
        if len(text) > MAX_MESSAGE_CHARACTERS:
            text = text[: MAX_MESSAGE_CHARACTERS - 1] + "…"
        with self._guard:
            self._latest[found.group(1)] = LoggedProblem(text, record.created, record_kind(record))

    def drain(self) -> dict[str, LoggedProblem]:
        """Return and forget the collected ``{route: problem}``."""
        with self._guard:
            latest, self._latest = self._latest, {}
        return latest
