"""Loggers whose lines start with ``key=value`` context (``route=NAME file=NAME:``), so every
line about a route or a file names it the same way, quoted when a name could mislead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

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
