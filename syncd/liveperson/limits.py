"""How much syncd accepts from LivePerson, and JSON parsing that holds to it (sans-IO).

A compromised LivePerson, or a man in the middle holding a trusted certificate, can answer
anything. These limits keep such answers from costing unbounded memory, time or stack:

* ``MAX_JSON_ANSWER_BYTES``: an HTTP JSON answer (Domain API, IdP sign-up, login, site
  settings: a few KiB in practice);
* ``MAX_MESSAGE_BYTES``: one WebSocket message, all its fragments together (a history
  notification with previews is the largest thing LivePerson sends: well under this);
* ``MAX_JSON_DEPTH``: nesting of objects and arrays (LivePerson's frames nest about 6 deep;
  Python's parser would raise RecursionError near 1000);
* ``MAX_SEQUENCE`` and ``MAX_SEQUENCE_JUMP``: an event's sequence is an integer (not a
  boolean) in 0..2^31-1, at most this far beyond the conversation's cursor;
* ``MIN_TRANSFER_BYTES_PER_SECOND``: the slowest file transfer waited for.

``PeerLimitError`` is what a broken limit raises; it is a ``ProtocolError``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from syncd.errors import ProtocolError

MAX_JSON_ANSWER_BYTES = 4 * 1024 * 1024
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_SEQUENCE = 2**31 - 1
MAX_SEQUENCE_JUMP = 100_000
MIN_TRANSFER_BYTES_PER_SECOND = 32 * 1024

# Brackets outside strings; a string is skipped whole (escapes included) so that brackets
# inside text do not count. Possessive, and an unterminated string runs to the end, so the
# scan stays linear whatever the text.
_BRACKET_OR_STRING = re.compile(rb'[\[\]{}]|"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)


class PeerLimitError(ProtocolError):
    """What the peer sent breaks one of syncd's limits (size, nesting, sequence range)."""


def json_depth_exceeds(data: bytes, max_depth: int) -> bool:
    """Return True when the JSON text ``data`` nests objects/arrays deeper than ``max_depth``.

    Only brackets outside strings count. Text with fewer opening brackets than the limit
    cannot exceed it and is not scanned (the common case costs two ``count`` calls).
    """
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _BRACKET_OR_STRING.finditer(data):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def load_json(data: bytes | str, what: str, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse the JSON text ``data`` (UTF-8 bytes or text) within the limits.

    Raises PeerLimitError when ``data`` is longer than ``max_bytes`` or nests deeper than
    ``max_depth``, and ProtocolError when it is not JSON. ``what`` names the text in the
    message (e.g. "the IdP answer"); the text itself is not quoted.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise PeerLimitError(f"{what} is {len(raw)} bytes, more than the limit of {max_bytes}")
    if json_depth_exceeds(raw, max_depth):
        raise PeerLimitError(f"{what} nests deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except RecursionError:
        # Not reachable with the depth check in front; kept so the reader never dies of it.
        raise PeerLimitError(f"{what} nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"{what} is not JSON: {error}") from None


def checked_sequence(value: object) -> int | None:
    """Return ``value`` when it is a sane sequence (an int, not a bool, 0..MAX_SEQUENCE).

    Returns None for a missing sequence (None). Raises PeerLimitError for anything else:
    ``true``, a float, a string, a negative number or one past ``MAX_SEQUENCE``.
    """
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SEQUENCE:
        raise PeerLimitError(f"sequence {str(value)[:40]!r} is not an integer in 0..{MAX_SEQUENCE}")
    return value
