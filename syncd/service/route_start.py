"""How the daemon makes one route: its LivePerson client, sender, receiver and intake, built
on the daemon's shared state, folders, preparer and LivePerson services, with the callbacks
that carry the client's events to the route's parts; then its watcher, first scan and
threads started.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from syncd.config import RouteConfig
from syncd.folders.route import RouteFolders
from syncd.inbox.receiver import RouteReceiver
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.outbox.intake import Intake
from syncd.outbox.preparer import Preparer
from syncd.outbox.sender import RouteSender
from syncd.outbox.watcher import PathSeen
from syncd.service.log_route import in_route
from syncd.service.route import RouteParts
from syncd.service.wiring import LivePersonServices
from syncd.state.model import OutboundRow
from syncd.state.store import StateStore


def build_route(
    route: RouteConfig,
    store: StateStore,
    folders: RouteFolders,
    services: LivePersonServices,
    preparer: Preparer,
    clock: Callable[[], float],
    *,
    on_published: Callable[[OutboundRow], None] | None,
    on_messaging_event: Callable[[MessagingEvent], None],
    on_conversation_change: Callable[[ConversationChange], None],
    on_connected: Callable[[], None],
    has_pending_files: Callable[[], bool],
    on_seen: Callable[[PathSeen], None],
) -> RouteParts:
    """The parts of ``route``, nothing started and nothing sent (the client connects lazily).

    The three ``on_*`` LivePerson callbacks run on the client's threads (see
    ``LivePersonServices.client_for``); ``has_pending_files`` tells the receiver whether a
    file of the route is on its way out; ``on_seen`` receives the watcher's events.
    """
    client = services.client_for(
        route,
        on_messaging_event=on_messaging_event,
        on_conversation_change=on_conversation_change,
        on_connected=on_connected,
    )
    sender = RouteSender(
        route,
        store,
        folders,
        client,
        services.storage,
        preparer,
        clock,
        on_published=on_published,
    )
    receiver = RouteReceiver(
        route,
        store,
        folders,
        client,
        services.storage,
        clock,
        has_pending_files=has_pending_files,
    )
    return RouteParts(
        route,
        Intake(route, store, folders),
        client,
        sender,
        receiver,
        on_seen,
    )


def start_route(state: RouteParts, stop: threading.Event, now: float) -> None:
    """Start the route's watcher, scan its outbox once, and start its send and receive
    threads, which run until ``stop`` is set. Raises what the first scan raises (OSError,
    StateError)."""
    state.start_watcher()
    state.intake.scan(now)
    state.next_scan_at = now + state.config.rescan_seconds
    for name, target in (("send", state.sender.run), ("receive", state.receiver.run)):
        thread = threading.Thread(
            # Whatever the route's LivePerson client logs on it names the route.
            target=in_route(state.config.name, target),
            args=(stop,),
            name=f"{name}-{state.config.name}",
            daemon=True,
        )
        thread.start()
        state.threads.append(thread)


def event_forwarder(
    routes: Mapping[str, RouteParts], route_name: str
) -> Callable[[MessagingEvent], None]:
    """A callback handing a messaging event to the receiver of ``routes[route_name]``
    (looked up when called: the client is built before its route is in ``routes``)."""

    def forward(event: MessagingEvent) -> None:
        routes[route_name].receiver.handle_event(event)

    return forward


def change_forwarder(
    routes: Mapping[str, RouteParts], route_name: str
) -> Callable[[ConversationChange], None]:
    """A callback handing a conversation change to the receiver of ``routes[route_name]``."""

    def forward(change: ConversationChange) -> None:
        routes[route_name].receiver.handle_conversation_change(change)

    return forward


def link_up_forwarder(routes: Mapping[str, RouteParts], route_name: str) -> Callable[[], None]:
    """A callback for when ``route_name``'s client connected: wakes that route's sender and
    receiver, and tells every other route's client to reconnect now."""

    def forward() -> None:
        # Runs on the thread that connected: only signals. This route's files and
        # downloads go now; a route still waiting out its reconnect backoff tries now
        # too, since LivePerson answers again.
        for name, state in routes.items():
            if name == route_name:
                state.sender.wake()
                state.receiver.wake()
            else:
                state.client.reconnect_now()

    return forward
