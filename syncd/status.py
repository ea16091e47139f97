"""The one-line daemon summary for systemd's ``STATUS=`` (``systemctl status syncd``)."""

from __future__ import annotations

from collections.abc import Mapping

from syncd.notify import format_status
from syncd.state import StateStore
from syncd.state_model import InboundState, OutboundState

_QUEUED = (
    OutboundState.DETECTED,
    OutboundState.CLAIMED,
    OutboundState.PREPARED,
    OutboundState.UPLOADED,
    OutboundState.PUBLISHING,
    OutboundState.PUBLISHED,
)


def status_line(store: StateStore, connection_states: Mapping[str, str]) -> str:
    """Summarise the whole state: files queued, sent, failed, received, and each route's
    connection state (``connected``, ``connecting``…).
    """
    outbound = store.counts_by_state()
    inbound = store.inbound_counts_by_state()
    return format_status(
        queued=sum(outbound.get(state, 0) for state in _QUEUED),
        sent=outbound.get(OutboundState.DONE, 0),
        failed=outbound.get(OutboundState.FAILED, 0) + inbound.get(InboundState.FAILED, 0),
        inbound=inbound.get(InboundState.DONE, 0),
        route_states=connection_states,
    )
