"""The LivePerson adapters of one daemon: one HTTP client, one CSDS resolver, one storage
client, and one consumer session per route, with identities and cursors backed by SQLite.

Nothing here touches the network at construction: CSDS is resolved on first use, so the
daemon starts (and tells systemd it is ready) while LivePerson is unreachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from syncd import __version__
from syncd.config import Config, RouteConfig
from syncd.liveperson.consumer import ConsumerClient
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity
from syncd.liveperson.identity_setup import build_identity_flow, read_private_key
from syncd.liveperson.jwt_codec import PrivateKey
from syncd.liveperson.link_sockets import ConsumerSettings
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.liveperson.storage import SwiftStorage
from syncd.state.store import StateStore

USER_AGENT = f"syncd/{__version__}"


class LivePersonServices:
    """Builds and owns the LivePerson adapters for ``config``."""

    def __init__(self, config: Config, store: StateStore) -> None:
        self._config = config
        self._store = store
        self.http = HttpClient(
            config.liveperson.ca_file,
            config.liveperson.request_timeout_seconds,
            USER_AGENT,
        )
        self.resolver = DomainResolver(
            self.http, config.liveperson.domain_api, config.liveperson.account
        )
        self._storage: SwiftStorage | None = None
        self._key: PrivateKey | None = None
        self._lock = threading.Lock()

    def storage(self) -> SwiftStorage:
        """The Swift client, pinned to the host CSDS names for ``swift`` (resolved once)."""
        with self._lock:
            if self._storage is None:
                self._storage = SwiftStorage(
                    self.http, self.resolver.base_uri("swift"), self.resolver.http_scheme
                )
            return self._storage

    def client_for(
        self,
        route: RouteConfig,
        on_messaging_event: Callable[[MessagingEvent], None],
        on_conversation_change: Callable[[ConversationChange], None],
        on_connected: Callable[[], None] = lambda: None,
    ) -> ConsumerClient:
        """A consumer session for ``route`` whose identity and cursor live in the state.

        The two event callbacks run on the session's reader thread, ``on_connected`` after
        every successful (re)connect (see ConsumerClient).
        """
        store = self._store

        def load_identity() -> ConsumerIdentity | None:
            identity = store.get_identity(route.name)
            if identity is None:
                return None
            return ConsumerIdentity(
                identity.consumer_id,
                identity.jwt,
                identity.flow,
                identity.external_token,
                identity.refresh_deadline,
            )

        def save_identity(identity: ConsumerIdentity) -> None:
            store.save_identity(
                route.name,
                identity.consumer_id,
                identity.jwt,
                time.time(),
                flow=identity.flow,
                external_token=identity.external_token,
                refresh_deadline=identity.refresh_deadline,
            )

        def identity_replaced(reason: str) -> None:
            store.note_identity_replaced(route.name, reason, time.time())

        liveperson = self._config.liveperson
        return ConsumerClient(
            resolver=self.resolver,
            http=self.http,
            account=liveperson.account,
            skill_id=route.skill_id,
            load_identity=load_identity,
            save_identity=save_identity,
            resume_sequence=store.resume_sequence,
            on_messaging_event=on_messaging_event,
            on_conversation_change=on_conversation_change,
            settings=ConsumerSettings(
                request_timeout_seconds=liveperson.request_timeout_seconds,
                keepalive_seconds=liveperson.keepalive_seconds,
                ca_file=liveperson.ca_file,
            ),
            on_connected=on_connected,
            identity_flow=build_identity_flow(
                liveperson, route, self.http, self.resolver, self._private_key()
            ),
            on_identity_replaced=identity_replaced,
        )

    def _private_key(self) -> PrivateKey | None:
        """The brand key of the authenticated flow, read once for every route."""
        liveperson = self._config.liveperson
        if liveperson.identity != "authenticated" or liveperson.private_key_file is None:
            return None
        with self._lock:
            if self._key is None:
                self._key = read_private_key(liveperson.private_key_file)
            return self._key

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()
