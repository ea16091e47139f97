"""Every log line a route's threads write names the route, whichever module writes it.

The LivePerson adapters log about a route's connection (the WebSocket, the identity, the
link's outage, retried requests and uploads) without knowing which route they serve: the
HTTP client and the storage client are shared by every route, and the connection classes are
a layer below the daemon's routes. Rather than thread a route name through each of their
functions, the daemon runs each route's threads under a *route label* (a ``ContextVar``), the
threads the adapters start carry their starter's label along (``contextvars.copy_context``),
and a log-record factory puts ``route=NAME: `` in front of every record made under a label
whose text does not name a route already. So the journal, ``syncd status`` (which collects the
last problem of each route from ``route=NAME``) and tests all see the same line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

_ROUTE: ContextVar[str | None] = ContextVar("syncd_log_route", default=None)
# Whatever a line already says about a route wins: "route=claims file=a.jpg: …" stays as is.
_NAMES_A_ROUTE = "route="

_install_lock = threading.Lock()
_installed = False


def current_route() -> str | None:
    """The route label of the running code, None outside every route."""
    return _ROUTE.get()


@contextmanager
def route_label(route: str) -> Iterator[None]:
    """Run the ``with`` body under the label ``route`` (restored afterwards)."""
    token = _ROUTE.set(route)
    try:
        yield
    finally:
        _ROUTE.reset(token)


def in_route(route: str, target: Callable[_P, _R]) -> Callable[_P, _R]:
    """Return ``target`` wrapped to run under the label ``route`` (a thread's target)."""

    def labelled(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with route_label(route):
            return target(*args, **kwargs)

    return labelled


def label_record(record: logging.LogRecord, route: str) -> None:
    """Put ``route=ROUTE: `` in front of ``record``'s message unless it names a route.

    A ``%`` in the prefix is doubled when the message has arguments, so it stays literal; a
    message that cannot be formatted is left for the handlers to report. Raises nothing.
    """
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):
        return
    if _NAMES_A_ROUTE in message:
        return
    prefix = f"route={route}: "
    record.msg = (prefix.replace("%", "%%") if record.args else prefix) + str(record.msg)


def install_route_labels() -> None:
    """Make every log record created under a route label carry the route (see the module
    docstring). Idempotent and process-wide; outside a label records are left alone."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            route = _ROUTE.get()
            if route is not None:
                label_record(record, route)
            return record

        logging.setLogRecordFactory(make_record)
        _installed = True
