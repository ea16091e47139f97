"""``syncd check --online``: prove LivePerson is usable from here, step by step.

The steps are the daemon's own first steps, in its order: resolve the service domains
(CSDS), obtain a consumer token by the configured identity flow, open the consumer
WebSocket with that token and get one answer on it (``GetClock``). Nothing is uploaded and
no conversation is opened, so the check leaves no trace in any conversation.

The token is for the first route: with ``authenticated`` that is the route's own consumer
(the same ``sub`` is always the same consumer, so nothing new is made); with
``unauthenticated`` and ``signup`` a throwaway consumer the daemon never uses. A refusal
names the configuration key to fix (``liveperson.identity`` when signup is disabled,
``liveperson.private_key_file`` when the key is not accepted, ``liveperson.connector_id``).
"""

from __future__ import annotations

from collections.abc import Callable

from syncd.config import Config
from syncd.errors import AuthenticationError, ConfigError, SyncdError, TlsVerificationError
from syncd.liveperson import protocol
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity_setup import build_identity_flow
from syncd.liveperson.link_sockets import MESSAGING_SERVICE, consumer_socket_url
from syncd.liveperson.session import MessagingConnection
from syncd.service.wiring import USER_AGENT

SERVICES = ("idp", MESSAGING_SERVICE, "swift")

_IDENTITY_STEPS = {
    "signup": "signing up a consumer at the IdP (liveperson.identity = signup)",
    "authenticated": (
        "authenticating route {route}'s consumer with a JWT signed by liveperson.private_key_file"
    ),
    "unauthenticated": ("getting an anonymous token and exchanging it at liveperson.connector_id"),
}


class OnlineCheckError(SyncdError):
    """One step of the online check failed; ``step`` names it, ``is_config`` says whether
    the fix is in the configuration (a CA bundle, the account id) rather than the network."""

    def __init__(self, step: str, error: SyncdError) -> None:
        super().__init__(f"{step}: {error}")
        self.step = step
        self.is_config = isinstance(error, TlsVerificationError | AuthenticationError | ConfigError)


def check_online(config: Config, report: Callable[[str], None]) -> None:
    """Run every step against ``config.liveperson``, calling ``report`` with a line per step.

    Returns when every step worked. Raises OnlineCheckError naming the first step that
    failed (the connection is closed and the HTTP pool released either way), and
    ConfigError when the private key file cannot be read or parsed.
    """
    liveperson = config.liveperson
    http = HttpClient(liveperson.ca_file, liveperson.request_timeout_seconds, USER_AGENT)
    step = "resolving LivePerson's domains"
    try:
        resolver = DomainResolver(http, liveperson.domain_api, liveperson.account)
        for service in SERVICES:
            report(f"  {service}: {resolver.base_uri(service)}")
        report("LivePerson domains resolved")
        route = config.routes[0]
        step = _IDENTITY_STEPS[liveperson.identity].format(route=route.name)
        flow = build_identity_flow(liveperson, route, http, resolver)
        identity = flow.new_identity()
        if liveperson.identity == "signup":
            report("consumer sign-up accepted")
        else:
            report(f"{liveperson.identity} consumer token accepted: {identity.consumer_id}")
        step = "opening the consumer WebSocket"
        connection = MessagingConnection()
        connection.connect(
            consumer_socket_url(resolver, liveperson.account),
            identity.jwt,
            liveperson.request_timeout_seconds,
            liveperson.ca_file,
            0,  # one request: no keepalive thread
            lambda _notification: None,
            lambda _error: None,
        )
        try:
            step = "asking for the server clock over the WebSocket"
            connection.request(protocol.GET_CLOCK)
        finally:
            connection.close()
        report("consumer WebSocket answered")
    except SyncdError as error:
        raise OnlineCheckError(step, error) from None
    finally:
        http.close()
