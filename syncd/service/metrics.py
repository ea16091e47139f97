"""Prometheus metrics of the running daemon, served on ``[metrics] listen`` (off by default).

The only module that imports ``prometheus_client``. Every value is read from the state
database (and the routes' live connection states) when Prometheus scrapes, so the numbers are
the ones ``syncd status`` shows and survive restarts where they can: totals of files and
bytes sent are counts of rows. Failures are counted as they are first seen in a scrape (a
file failing again after a retry counts again); that counter starts afresh with the process.

Per route (label ``route``):

* ``syncd_files{state}`` files by state (``dismissed`` not included: it is not stored);
* ``syncd_files_published_total``, ``syncd_files_failed_total``;
* ``syncd_bytes_in_total`` (originals), ``syncd_bytes_out_total`` (uploaded);
* ``syncd_queue_files``, ``syncd_queue_oldest_age_seconds`` (0 when the queue is empty);
* ``syncd_connection_up`` (1 when connected) and ``syncd_connection_state{state}``;
* ``syncd_last_success_timestamp_seconds``;
* ``syncd_inbound_files{state}``, ``syncd_inbound_files_total`` (received into the inbox);
* ``syncd_last_error_info{kind}`` and ``syncd_last_error_timestamp_seconds``. ``kind`` is
  the one the code that recorded the error stored with it (``rules.error_kinds``); for an
  error stored without one (before schema 7) it is guessed from the message's words.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from syncd.errors import ConfigError
from syncd.rules.error_kinds import ErrorKind
from syncd.state.model import PENDING_OUTBOUND_STATES, InboundState, OutboundState, RouteSummary
from syncd.state.store import StateStore

# Words in a logged problem → the kind an alert or dashboard can group by. Only for a last
# error recorded without its kind (before schema 7, or a log line that named none): the code
# that records an error states its kind (``rules.error_kinds``).
_ERROR_KINDS = (
    ("account", ("liveperson.account",)),
    ("permission", ("Permission denied", "Operation not permitted", "not writable")),
    ("storage", ("disk", "No space", "database", "cannot record")),
    ("file", ("failed:", "not an image", "cannot read the file")),
    ("inbound", ("inbound", "refused", "download")),
    ("liveperson", ("LivePerson", "HTTP", "connect", "timed out", "WebSocket", "token")),
)


def error_kind(message: str) -> str:
    """Guess the kind of a problem from its words: account, permission, storage, file,
    inbound, liveperson, or other. The fallback for a last error stored without its kind.
    Pure; raises nothing."""
    for kind, words in _ERROR_KINDS:
        if any(word in message for word in words):
            return kind
    return str(ErrorKind.OTHER)


def last_error_kind(summary: RouteSummary) -> str:
    """The ``kind`` label of ``summary``'s last error: the kind stored with it, or the guess
    from its words when none was stored. Call only when it has a last error."""
    if summary.last_error_kind is not None:
        return str(summary.last_error_kind)
    return error_kind(summary.last_error or "")


class StateCollector(Collector):
    """Builds every metric from the state store at scrape time.

    ``routes`` are the configured route names; ``connection_states`` returns each route's
    live connection state; ``clock`` gives Unix time. Thread-safe (scrapes may overlap).
    """

    def __init__(
        self,
        store: StateStore,
        routes: Sequence[str],
        connection_states: Callable[[], Mapping[str, str]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._routes = tuple(routes)
        self._connection_states = connection_states
        self._clock = clock
        self._guard = threading.Lock()
        self._failed_seen: dict[str, set[tuple[int, float]]] = {r: set() for r in routes}
        self._failed_total: dict[str, int] = dict.fromkeys(routes, 0)

    def _count_new_failures(self, route: str) -> int:
        failed = self._store.outbound_in_states((OutboundState.FAILED,), route=route)
        now_failed = {(row.id, row.updated_at) for row in failed}
        with self._guard:
            self._failed_total[route] += len(now_failed - self._failed_seen[route])
            self._failed_seen[route] = now_failed
            return self._failed_total[route]

    def collect(self) -> Iterable[Metric]:
        """Yield the metric families (one read of the state per route)."""
        now = self._clock()
        route_label = ["route"]
        files = GaugeMetricFamily("syncd_files", "Files by state", labels=["route", "state"])
        published = CounterMetricFamily(
            "syncd_files_published", "Files published and finished", labels=route_label
        )
        failed = CounterMetricFamily(
            "syncd_files_failed",
            "Files that failed (counted since the daemon started)",
            labels=route_label,
        )
        bytes_in = CounterMetricFamily(
            "syncd_bytes_in", "Bytes of the originals of the files sent", labels=route_label
        )
        bytes_out = CounterMetricFamily(
            "syncd_bytes_out", "Bytes uploaded for the files sent", labels=route_label
        )
        queue = GaugeMetricFamily("syncd_queue_files", "Files not yet sent", labels=route_label)
        queue_age = GaugeMetricFamily(
            "syncd_queue_oldest_age_seconds",
            "Age of the oldest file not yet sent (0 when none)",
            labels=route_label,
        )
        up = GaugeMetricFamily(
            "syncd_connection_up", "1 when connected to LivePerson", labels=route_label
        )
        connection = GaugeMetricFamily(
            "syncd_connection_state",
            "1 for the current connection state",
            labels=["route", "state"],
        )
        last_success = GaugeMetricFamily(
            "syncd_last_success_timestamp_seconds",
            "Unix time of the last transfer",
            labels=route_label,
        )
        inbound = GaugeMetricFamily(
            "syncd_inbound_files", "Received files by state", labels=["route", "state"]
        )
        inbound_total = CounterMetricFamily(
            "syncd_inbound_files", "Files received into the inbox", labels=route_label
        )
        error_info = GaugeMetricFamily(
            "syncd_last_error_info",
            "The kind of the last problem (value 1)",
            labels=["route", "kind"],
        )
        error_time = GaugeMetricFamily(
            "syncd_last_error_timestamp_seconds",
            "Unix time of the last problem",
            labels=route_label,
        )
        states = self._connection_states()
        for route in self._routes:
            summary = self._store.route_summary(route)
            for state in OutboundState:
                files.add_metric([route, state.value], summary.outbound_counts.get(state, 0))
            published.add_metric([route], summary.outbound_counts.get(OutboundState.DONE, 0))
            failed.add_metric([route], self._count_new_failures(route))
            original, uploaded = self._store.sent_byte_totals(route)
            bytes_in.add_metric([route], original)
            bytes_out.add_metric([route], uploaded)
            queue.add_metric(
                [route], sum(summary.outbound_counts.get(s, 0) for s in PENDING_OUTBOUND_STATES)
            )
            oldest = summary.oldest_pending_created_at
            queue_age.add_metric([route], 0.0 if oldest is None else max(0.0, now - oldest))
            link_state = states.get(route, "unknown")
            up.add_metric([route], 1.0 if link_state == "connected" else 0.0)
            connection.add_metric([route, link_state], 1.0)
            if summary.last_success_at is not None:
                last_success.add_metric([route], summary.last_success_at)
            for inbound_state in InboundState:
                count = summary.inbound_counts.get(inbound_state, 0)
                inbound.add_metric([route, inbound_state.value], count)
            inbound_total.add_metric([route], summary.inbound_counts.get(InboundState.DONE, 0))
            if summary.last_error is not None and summary.last_error_at is not None:
                error_info.add_metric([route, last_error_kind(summary)], 1.0)
                error_time.add_metric([route], summary.last_error_at)
        yield from (files, published, failed, bytes_in, bytes_out, queue, queue_age, up)
        yield from (connection, last_success, inbound, inbound_total, error_info, error_time)


class MetricsServer:
    """The ``/metrics`` HTTP endpoint on ``host:port``; ``close`` stops it."""

    def __init__(self, collector: Collector, host: str, port: int) -> None:
        """Start serving. Raises ConfigError naming ``metrics.listen`` when the address
        cannot be bound (in use, not local)."""
        registry = CollectorRegistry()
        registry.register(collector)
        try:
            self._server: WSGIServer
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            raise ConfigError(
                [f"metrics.listen: cannot listen on {host}:{port}: {error.strerror or error}"]
            ) from None

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
