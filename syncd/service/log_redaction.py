"""Secrets kept out of the log: the text rules that find tokens, passwords and signatures,
and the handler filter that applies them to every record's final text.

A :class:`RedactingFilter` on the handler removes tokens, passwords and signatures from the
final text, whichever library logged them, including exception text.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"

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
