"""Which hosts syncd may talk to without TLS: only this machine (the local emulator)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """Tell whether a URL host names this machine: 127.0.0.0/8, ::1 or ``localhost``.

    Accepts a bracketed IPv6 literal (``[::1]``) and IPv4-mapped IPv6 (``::ffff:127.0.0.1``).
    Other names are refused even if they would resolve to a loopback address, because a
    resolver can be told otherwise. Raises nothing.
    """
    bare = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if bare == "localhost":
        return True
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_allowed_transport(url: str) -> bool:
    """Tell whether syncd may talk to ``url``: https/wss anywhere, http/ws only on loopback.

    Returns False for any other scheme, a missing host or an unparsable URL. Raises nothing.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host:
        return False
    if parts.scheme in ("https", "wss"):
        return True
    return parts.scheme in ("http", "ws") and is_loopback_host(host)
