"""LivePerson's Domain API (CSDS): which host serves which service for an account.

Every LivePerson host syncd talks to comes from here, never from a message, so a hostile
answer elsewhere cannot point syncd at another machine. Answers are validated as a plain
``host[:port]`` and cached (LivePerson's own SDK caches them too).

The URL scheme follows the configured Domain API URL: ``https`` → ``https``/``wss``; plain
``http`` (which the configuration allows only for loopback, i.e. the emulator) → ``http``/
``ws``, and then every resolved host must be loopback as well.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from syncd.errors import ConfigError, ProtocolError, UnsafeRemoteError
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import HttpStatusError
from syncd.rules import is_allowed_transport

DEFAULT_CACHE_SECONDS = 600.0
_HOST_PORT = re.compile(
    r"^(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?$"
)
_SCHEMES = {"https": ("https", "wss"), "http": ("http", "ws")}


def validate_host_port(value: object, what: str = "baseURI") -> str:
    """Return ``value`` if it is a plain ``host[:port]``; raise ProtocolError otherwise.

    Refused: schemes, paths, queries, user info, IPv6 literals, empty labels, bad ports.
    """
    if not isinstance(value, str):
        raise ProtocolError(f"{what} is not a string")
    match = _HOST_PORT.fullmatch(value)
    if match is None or ".." in value:
        raise ProtocolError(f"{what} {value[:80]!r} is not a plain host[:port]")
    port = match.group("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ProtocolError(f"{what} {value!r} has an invalid port")
    return value


class UnknownAccountError(ConfigError):
    """The Domain API does not know the configured account (a typo in ``liveperson.account``).

    A ConfigError: only a person can fix it, so ``check --online`` exits 78 and names the key.
    """

    def __init__(self, account: str, status: int) -> None:
        super().__init__(
            [
                f"liveperson.account: LivePerson's Domain API does not know account "
                f"{account!r} (HTTP {status}); check the account id"
            ]
        )


class DomainResolver:
    """Resolves LivePerson service names to hosts for one account, with a cache.

    ``domain_api_url`` is the configured CSDS base, e.g. ``https://api.liveperson.net``.
    Thread-safe. Raises ConfigError at construction for a scheme other than http/https.
    """

    def __init__(
        self,
        http: HttpClient,
        domain_api_url: str,
        account: str,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(domain_api_url)
        if parts.scheme not in _SCHEMES or not parts.netloc:
            raise ConfigError([f"liveperson.domain_api: {domain_api_url!r} is not an http(s) URL"])
        self._http = http
        self._base = domain_api_url.rstrip("/")
        self._account = account
        self._http_scheme, self._ws_scheme = _SCHEMES[parts.scheme]
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    @property
    def http_scheme(self) -> str:
        """``https``, or ``http`` when the Domain API itself is plain-HTTP loopback."""
        return self._http_scheme

    def base_uri(self, service: str) -> str:
        """Return ``host[:port]`` of ``service`` (case-sensitive LivePerson service name).

        Raises ProtocolError for a malformed answer or an unknown service,
        UnsafeRemoteError for a non-loopback host under plain HTTP, and the HTTP errors of
        ``HttpClient`` (TransientTransferError is worth retrying).
        """
        now = self._clock()
        with self._lock:
            cached = self._cache.get(service)
            if cached is not None and cached[1] > now:
                return cached[0]
        resolved = self._fetch(service)
        with self._lock:
            for name, host_port in resolved.items():
                self._cache[name] = (host_port, now + self._cache_seconds)
        if service not in resolved:
            raise ProtocolError(f"the Domain API knows no service {service!r}")
        return resolved[service]

    def http_url(self, service: str) -> str:
        """Return ``https://host[:port]`` (``http://`` under a loopback Domain API)."""
        return f"{self._http_scheme}://{self.base_uri(service)}"

    def ws_url(self, service: str) -> str:
        """Return ``wss://host[:port]`` (``ws://`` under a loopback Domain API)."""
        return f"{self._ws_scheme}://{self.base_uri(service)}"

    def forget(self) -> None:
        """Drop the cache, e.g. after a connection to a resolved host kept failing."""
        with self._lock:
            self._cache.clear()

    # --- internals ---------------------------------------------------------------------

    def _fetch(self, service: str) -> dict[str, str]:
        account = quote(self._account, safe="")
        single = (
            f"{self._base}/api/account/{account}/service/{quote(service, safe='')}"
            "/baseURI.json?version=1.0"
        )
        try:
            body = self._http.get_json(single).json
        except HttpStatusError as error:
            if error.status not in (400, 404):
                raise
            # Unknown to the single-service form: try the all-services form once.
            return self._fetch_all()
        if isinstance(body, Mapping) and "baseURI" in body:
            return {service: self._checked(body["baseURI"], service)}
        return self._fetch_all()

    def _fetch_all(self) -> dict[str, str]:
        account = quote(self._account, safe="")
        url = f"{self._base}/api/account/{account}/service/baseURI.json?version=1.0"
        try:
            body: Any = self._http.get_json(url).json
        except HttpStatusError as error:
            # Both forms refused the account itself, not one service of it.
            if error.status == 404:
                raise UnknownAccountError(self._account, error.status) from None
            raise
        entries = body.get("baseURIs") if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            raise ProtocolError("the Domain API answer lacks 'baseURIs'")
        resolved: dict[str, str] = {}
        for entry in entries:
            if isinstance(entry, Mapping) and isinstance(entry.get("service"), str):
                resolved[entry["service"]] = self._checked(entry.get("baseURI"), entry["service"])
        return resolved

    def _checked(self, value: object, service: str) -> str:
        host_port = validate_host_port(value, f"baseURI of {service}")
        if self._http_scheme == "http" and not is_allowed_transport(f"http://{host_port}"):
            raise UnsafeRemoteError(
                f"service {service} resolved to {host_port}, which is not loopback; "
                "plain http is only used with a loopback Domain API"
            )
        return host_port
