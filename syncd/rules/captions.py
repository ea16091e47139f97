"""Caption templates: validated when the configuration loads, rendered for each scan.

A template is parsed with ``string.Formatter().parse`` but never given to ``str.format``: only
six named fields are filled in by hand, so no template can reach into Python objects.
"""

from __future__ import annotations

import string
import unicodedata
from datetime import datetime
from pathlib import PurePosixPath

CAPTION_FIELDS = ("filename", "stem", "route", "modified", "page", "pages")
MAX_CAPTION_CHARS = 1000
_FIELD_LIST = "{filename}, {stem}, {route}, {modified}, {page} or {pages}"
_TEMPLATE_SAMPLE_TIME = datetime(2000, 1, 2, 3, 4, 5)  # any instant will do for validation

# Bidirectional and invisible formatting characters that could make a caption read
# differently from what it contains ("U+202E" turns "gpj.exe" around).
_INVISIBLE_FORMAT_CATEGORIES = frozenset({"Cf"})


def validate_caption_template(template: str) -> str | None:
    """Check a caption template; return None when it is usable, else one sentence saying why.

    Allowed fields are ``{filename}``, ``{stem}``, ``{route}``, ``{page}``, ``{pages}`` and
    ``{modified}`` with an optional strftime format (``{modified:%Y-%m-%d}``). Attribute
    access, indexing, conversions (``!r``), other format specs, positional fields and control
    characters are
    refused, so a template can never reach into Python objects. Where the platform's strftime
    rejects a date format, that is reported too. Raises nothing.
    """
    if any(unicodedata.category(char) == "Cc" for char in template):
        return "control characters are not allowed"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"malformed template: {error}"
    for _literal, field_name, format_spec, conversion in parsed:
        if field_name is None:
            continue
        if field_name == "" or field_name.isdigit():
            return "positional fields like {} are not allowed; name a field"
        if any(mark in field_name for mark in ".[]"):
            return f"{{{field_name}}}: attribute access and indexing are not allowed"
        if field_name not in CAPTION_FIELDS:
            return f"unknown field {{{field_name}}}; use {_FIELD_LIST}"
        if conversion is not None:
            return f"{{{field_name}!{conversion}}}: conversions are not allowed"
        if format_spec and field_name != "modified":
            return f"{{{field_name}:{format_spec}}}: only {{modified}} takes a format"
        if format_spec:
            if "{" in format_spec or "}" in format_spec:
                return "{modified:...}: the date format cannot contain braces"
            try:
                _TEMPLATE_SAMPLE_TIME.strftime(format_spec)
            except ValueError as error:
                return f"{{modified:{format_spec}}}: invalid date format: {error}"
    return None


def render_caption(
    template: str,
    filename: str,
    route: str,
    modified: datetime,
    *,
    page: int = 1,
    pages: int = 1,
) -> str:
    """Fill a caption template with facts about one local file (or one page of a document).

    ``filename`` is the scan's name, ``route`` the route's name and ``modified`` its
    modification time (the caller picks the time zone); ``page`` (from 1) and ``pages`` number
    a document's pages, and are 1 and 1 for a single image. ``{modified}`` without a format gives
    ISO 8601 to the minute. Control characters become spaces, invisible formatting characters
    are dropped, and the result is stripped and cut to ``MAX_CAPTION_CHARS``. Raises
    ValueError when the template is not valid (see ``validate_caption_template``).
    """
    problem = validate_caption_template(template)
    if problem is not None:
        raise ValueError(problem)
    values = {
        "filename": filename,
        "stem": PurePosixPath(filename).stem,
        "route": route,
        "page": str(page),
        "pages": str(pages),
    }
    pieces: list[str] = []
    for literal, field_name, format_spec, _conversion in string.Formatter().parse(template):
        pieces.append(literal)
        if field_name == "modified":
            if format_spec:
                pieces.append(modified.strftime(format_spec))
            else:
                pieces.append(modified.isoformat(timespec="minutes"))
        elif field_name is not None:
            pieces.append(values[field_name])
    cleaned = "".join(_clean_caption_char(char) for char in "".join(pieces))
    return cleaned.strip()[:MAX_CAPTION_CHARS].strip()


def _clean_caption_char(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cc":
        return " "
    if category in _INVISIBLE_FORMAT_CATEGORIES:
        return ""
    return char
