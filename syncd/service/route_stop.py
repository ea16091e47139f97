"""How the daemon's routes stop within a grace: watchers stopped, threads woken and joined
until ``STOP_GRACE_SECONDS`` ran out, the preparer shut down, and the LivePerson clients
closed on a helper thread so a hanging request cannot hold the stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from syncd.outbox.preparer import Preparer
from syncd.service.log_route import route_label
from syncd.service.route import RouteParts
from syncd.service.wiring import LivePersonServices

log = logging.getLogger("syncd.daemon")

# How long a stop waits for the route threads to finish their step: systemd and operators
# expect a daemon to be gone within about 2 s, even while LivePerson does not answer.
STOP_GRACE_SECONDS = 1.2


def close_clients(routes: Mapping[str, RouteParts], services: LivePersonServices | None) -> None:
    """Close every route's LivePerson client, then the shared HTTP pool."""
    for name, state in routes.items():
        with route_label(name):
            state.client.close()
    if services is not None:
        services.close()


def stop_routes(
    routes: Mapping[str, RouteParts],
    preparer: Preparer | None,
    services: LivePersonServices | None,
) -> list[str]:
    """Stop every route's watcher and threads, the preparer and the LivePerson clients,
    waiting at most about ``STOP_GRACE_SECONDS`` in all.

    Returns the names of the threads still busy after the grace (they are abandoned, and
    logged); an empty list when everything stopped. Raises nothing of its own.
    """
    for state in routes.values():
        state.stop_watcher()
        state.sender.wake()
        state.receiver.wake()
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for state in routes.values():
        for thread in state.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
    busy = [t.name for state in routes.values() for t in state.threads if t.is_alive()]
    if busy:
        log.warning(
            "not waiting for %s (busy with LivePerson); the next start resumes their work",
            ", ".join(busy),
        )
    if preparer is not None:
        preparer.shutdown()
    # Closing a client joins its connection supervisor, which may itself be stuck in a
    # request to an unanswering LivePerson: close them on a helper thread, within the
    # same grace.
    closer = threading.Thread(
        target=close_clients, args=(routes, services), name="close-clients", daemon=True
    )
    closer.start()
    closer.join(timeout=max(0.2, deadline - time.monotonic()))
    busy += [closer.name] if closer.is_alive() else []
    return busy
