"""Typed reading of one TOML table, collecting problems instead of stopping at the first.

A ``TableReader`` hands out checked values; every mistake becomes one line in a shared list,
prefixed with its key path (``route[1].settle_seconds: expected a number, got 'two'``), and the
reader returns the default so parsing can go on and find the next mistake.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

ChoiceT = TypeVar("ChoiceT", bound=str)

_DIGITS_PATTERN = re.compile(r"[0-9]{1,32}")


def describe_value(value: object) -> str:
    """Return a short, safe rendering of a TOML value for an error line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join_key(path: str, key: str) -> str:
    """Return the key path of ``key`` inside the table at ``path`` (``""`` is the top)."""
    return f"{path}.{key}" if path else key


def _suggest(key: str, known: tuple[str, ...], hints: Mapping[str, str]) -> str | None:
    """Return the key the user probably meant: a near spelling, or where a stray key belongs."""
    candidates = [*known, *hints]
    for match in difflib.get_close_matches(key, candidates, n=1):
        return hints.get(match, match)
    return None


def _unknown_key_message(
    key: str, known: tuple[str, ...], hints: Mapping[str, str], elsewhere: Mapping[str, str]
) -> str:
    """Say that ``key`` is unknown here and, when it can tell, where it belongs instead."""
    where = elsewhere.get(key) or hints.get(key)
    if where is not None:
        # Spelled right but in the wrong table: accepting it would silently drop the setting.
        return f"unknown key here; it belongs in {where!r}"
    suggestion = _suggest(key, known, hints)
    return f"unknown key (did you mean {suggestion!r}?)" if suggestion else "unknown key"


class TableReader:
    """Reads the keys of one table; reports unknown keys as soon as it is made.

    ``table`` is the parsed TOML table, ``key_path`` its key path (``"route[0]"``), ``known_keys``
    the keys it accepts, ``problems`` the shared list problem lines are appended to, and
    ``hints`` maps keys that belong elsewhere to their proper path (for "did you mean", also
    for near spellings); ``elsewhere`` does the same for exact spellings only.
    ``report_missing`` is False for a table that was itself wrong, so that one mistake does
    not also show up as every key of it being missing.
    """

    def __init__(
        self,
        table: Mapping[str, Any],
        key_path: str,
        known_keys: Iterable[str],
        problems: list[str],
        hints: Mapping[str, str] | None = None,
        report_missing: bool = True,
        elsewhere: Mapping[str, str] | None = None,
    ) -> None:
        self.table = table
        self.report_missing = report_missing
        self.key_path = key_path
        self.problems = problems
        known = tuple(known_keys)
        for key in table:
            if key not in known:
                self.problem(key, _unknown_key_message(key, known, hints or {}, elsewhere or {}))

    def problem(self, key: str, message: str) -> None:
        """Record ``message`` about ``key`` of this table."""
        self.problems.append(f"{join_key(self.key_path, key)}: {message}")

    def _wrong_type(self, key: str, expected: str) -> None:
        self.problem(key, f"expected {expected}, got {describe_value(self.table[key])}")

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        """Return a non-empty string without control characters, or ``default``."""
        if key not in self.table:
            if required and self.report_missing:
                self.problem(key, "required")
            return default
        value = self.table[key]
        if not isinstance(value, str):
            self._wrong_type(key, "a string")
        elif not value.strip():
            self.problem(key, "must not be empty")
        elif any(ord(char) < 32 or ord(char) == 127 for char in value):
            self.problem(key, "must not contain control characters")
        else:
            return value
        return default

    def digits(self, key: str, required: bool = False) -> str | None:
        """Return a string of digits; a non-negative TOML integer is accepted and converted."""
        if key not in self.table:
            if required and self.report_missing:
                self.problem(key, "required")
            return None
        value = self.table[key]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**32:
            return str(value)
        if isinstance(value, str) and _DIGITS_PATTERN.fullmatch(value):
            return value
        self._wrong_type(key, "a string of digits")
        return None

    def number(self, key: str, default: float, minimum: float, above_minimum: bool) -> float:
        """Return a finite number ``>= minimum`` (``> minimum`` when ``above_minimum``)."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._wrong_type(key, "a number")
        elif not math.isfinite(value):
            self.problem(key, f"must be a finite number, got {describe_value(value)}")
        elif value < minimum or (above_minimum and value == minimum):
            bound = "greater than" if above_minimum else "at least"
            self.problem(key, f"must be {bound} {minimum:g}, got {value!r}")
        else:
            return float(value)
        return default

    def integer(self, key: str, default: int, minimum: int, maximum: int) -> int:
        """Return a whole number within ``minimum..maximum``."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong_type(key, "a whole number")
        elif not minimum <= value <= maximum:
            self.problem(key, f"must be within {minimum}..{maximum}, got {value}")
        else:
            return value
        return default

    def boolean(self, key: str, default: bool) -> bool:
        """Return ``true`` or ``false``."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, bool):
            return value
        self._wrong_type(key, "true or false")
        return default

    def choice(self, key: str, choices: tuple[ChoiceT, ...], default: ChoiceT) -> ChoiceT:
        """Return one of ``choices`` (compared without regard to case)."""
        if key not in self.table:
            return default
        value = self.table[key]
        if isinstance(value, str):
            for choice in choices:
                if value.lower() == choice:
                    return choice
        self._wrong_type(key, f"one of {', '.join(choices)}")
        return default

    def path(self, key: str, base_dir: Path, required: bool = False) -> Path | None:
        """Return an absolute, normalised path; relative ones are taken from ``base_dir``.

        ``~`` is refused rather than expanded: a service has no meaningful home folder.
        """
        text = self.string(key, required=required)
        if text is None:
            return None
        if text.startswith("~"):
            self.problem(key, f"'~' is not expanded; write the full path, got {text!r}")
            return None
        # abspath normalises ".." by spelling only; symlinks are judged where it matters.
        return Path(os.path.abspath(base_dir / text))

    def section(
        self, key: str, known_keys: Iterable[str], elsewhere: Mapping[str, str] | None = None
    ) -> TableReader:
        """Return a reader for the sub-table ``key`` (an empty one when absent or wrong);
        ``elsewhere`` maps the keys of other tables to where they belong."""
        value = self.table.get(key, {})
        if isinstance(value, Mapping):
            path = join_key(self.key_path, key)
            return TableReader(value, path, known_keys, self.problems, elsewhere=elsewhere)
        self._wrong_type(key, "a table")
        return TableReader({}, key, known_keys, self.problems, report_missing=False)
