"""Build a route's ``IdentityFlow`` from the configuration (the key file is read here).

Shared by the daemon (one flow per route) and ``syncd check --online``.
"""

from __future__ import annotations

import socket
from pathlib import Path

from syncd.config import LivePersonConfig, RouteConfig
from syncd.errors import ConfigError
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity_anonymous import UnauthenticatedFlow
from syncd.liveperson.identity_flows import AuthenticatedFlow, IdentityFlow, SignupFlow
from syncd.liveperson.jwt_codec import PrivateKey, load_private_key


def default_consumer_id(host_name: str, route_name: str) -> str:
    """The external ``sub`` of a route without ``consumer_id``: ``<host>-<route>``.

    Stable for as long as the machine keeps its name; two machines serving routes of the
    same name stay two consumers.
    """
    return f"{host_name.split('.')[0] or 'syncd'}-{route_name}"


def read_private_key(path: Path) -> PrivateKey:
    """Read and parse the brand's private key; ConfigError naming the key when it cannot."""
    try:
        pem = path.read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([f"liveperson.private_key_file: cannot read {path}: {reason}"]) from None
    try:
        return load_private_key(pem)
    except ValueError as error:
        raise ConfigError([f"liveperson.private_key_file: {path}: {error}"]) from None


def build_identity_flow(
    liveperson: LivePersonConfig,
    route: RouteConfig,
    http: HttpClient,
    resolver: DomainResolver,
    private_key: PrivateKey | None = None,
) -> IdentityFlow:
    """The flow ``liveperson.identity`` names, for ``route``.

    ``private_key`` saves re-reading the key file for every route. Raises ConfigError when
    the key file cannot be read or parsed.
    """
    account = liveperson.account
    if liveperson.identity == "authenticated":
        assert liveperson.private_key_file is not None and liveperson.issuer is not None
        key = private_key or read_private_key(liveperson.private_key_file)
        return AuthenticatedFlow(
            http,
            resolver,
            account,
            private_key=key,
            issuer=liveperson.issuer,
            subject=route.consumer_id or default_consumer_id(socket.gethostname(), route.name),
            display_name=route.display_name or route.name,
            route_name=route.name,
        )
    if liveperson.identity == "unauthenticated":
        assert liveperson.connector_id is not None
        return UnauthenticatedFlow(http, resolver, account, connector_id=liveperson.connector_id)
    return SignupFlow(http, resolver, account)
