"""Swift TempURL signatures: sign and verify them the way Swift's tempurl middleware does.

The HMAC message is ``METHOD\\nexpires\\npath`` where ``path`` is the full object path from
``/v1/`` on. A signature is either hex — 40, 64 or 128 digits meaning sha1, sha256 or sha512 —
or ``algorithm:base64`` (standard or url-safe alphabet, padding optional). ``HEAD`` is allowed
wherever ``GET``, ``PUT`` or ``POST`` is. ``temp_url_expires`` is unix seconds, or ISO-8601
``%Y-%m-%dT%H:%M:%SZ`` in the URL (the HMAC always covers the integer). Comparisons are
constant-time. Not supported (always invalid): prefix URLs and IP ranges.

Pure: no I/O, time comes in as an argument.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

# The emulator signs the URLs it hands out like LivePerson's storage: HMAC-SHA1 in hex.
EMULATOR_ALGORITHM = "sha1"

_ALGORITHMS: dict[str, Callable[..., Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "sha512": hashlib.sha512,
}
_ALGORITHM_BY_HEX_LENGTH = {40: "sha1", 64: "sha256", 128: "sha512"}
_ISO8601_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Methods whose signature also authorises a HEAD request.
_HEAD_GRANTING_METHODS = ("HEAD", "GET", "PUT", "POST")


class TempUrlInvalid(Exception):
    """The signature or expiry is unusable; Swift answers 401 ``Temp URL invalid``."""


def hmac_message(method: str, expires_seconds: int, path: str) -> bytes:
    """Return the bytes Swift feeds to the HMAC for ``method`` on ``path`` until ``expires``."""
    return f"{method}\n{expires_seconds}\n{path}".encode()


def sign(key: bytes, method: str, expires_seconds: int, path: str, algorithm: str = "sha1") -> str:
    """Return the hex HMAC signature of ``method`` on ``path`` valid until ``expires_seconds``.

    Raises KeyError for an algorithm other than sha1, sha256 or sha512.
    """
    digest = _ALGORITHMS[algorithm]
    return hmac.new(key, hmac_message(method, expires_seconds, path), digest).hexdigest()


def parse_signature(value: str) -> tuple[str, str]:
    """Split a ``temp_url_sig`` value into (hex digest, algorithm name).

    Hex is compared as given, so upper-case hex never matches, as in Swift.

    Raises TempUrlInvalid when the value is neither hex of a known length nor
    ``algorithm:base64`` with a known algorithm.
    """
    if ":" in value:
        algorithm, encoded = value.split(":", 1)
        if algorithm not in _ALGORITHMS:
            raise TempUrlInvalid("unknown signature algorithm")
        # Swift accepts both alphabets, so normalise url-safe characters to standard ones.
        standard = encoded.replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
        except (binascii.Error, ValueError) as error:
            raise TempUrlInvalid("signature is not base64") from error
        return raw.hex(), algorithm
    try:
        bytes.fromhex(value)
    except ValueError as error:
        raise TempUrlInvalid("signature is not hex") from error
    algorithm_name = _ALGORITHM_BY_HEX_LENGTH.get(len(value))
    if algorithm_name is None:
        raise TempUrlInvalid("hex signature has an unknown length")
    return value, algorithm_name


def parse_expires(value: str) -> int:
    """Return ``temp_url_expires`` as unix seconds; 0 (long expired) when unparseable."""
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return calendar.timegm(time.strptime(value, _ISO8601_FORMAT))
    except ValueError:
        return 0


def is_object_path(path: str) -> bool:
    """True for ``/v1/{account}/{container}/{object}`` with every part non-empty."""
    parts = path.split("/", 4)
    return len(parts) == 5 and parts[0] == "" and parts[1] == "v1" and all(parts[2:])


def verify(
    key: bytes,
    method: str,
    path: str,
    signature: str | None,
    expires: str | None,
    now_seconds: float,
) -> None:
    """Check a request's temp URL parameters like Swift's tempurl middleware.

    ``method`` is the HTTP method of the request and ``path`` its decoded path. Returns None
    when the URL grants the request; raises TempUrlInvalid when a parameter is missing, the
    signature is malformed, the URL has expired, the path is not an object path, or no HMAC
    for an allowed method matches.
    """
    if signature is None or expires is None:
        raise TempUrlInvalid("temp_url_sig and temp_url_expires are both required")
    digest_hex, algorithm = parse_signature(signature)
    expires_seconds = parse_expires(expires)
    if expires_seconds < now_seconds:
        raise TempUrlInvalid("temp URL has expired")
    if not is_object_path(path):
        raise TempUrlInvalid("not an object path")
    methods = _HEAD_GRANTING_METHODS if method == "HEAD" else (method,)
    matched = False
    for allowed_method in methods:
        expected = sign(key, allowed_method, expires_seconds, path, algorithm)
        # Check every candidate so the time taken does not reveal which method matched.
        matched |= hmac.compare_digest(expected.encode("ascii"), digest_hex.encode("ascii"))
    if not matched:
        raise TempUrlInvalid("signature does not match")
