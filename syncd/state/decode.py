"""How a database record (a column → value mapping) becomes one of ``state.model``'s rows.

The record-keeping parts of the store read plain records through their ``Transaction``; these
builders turn them into the frozen row types, with states as enums and paths as ``Path``.
Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syncd.state.model import (
    ConversationRow,
    ConversationState,
    Identity,
    InboundRow,
    InboundState,
    OutboundRow,
    OutboundState,
)


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def identity_from_record(record: Mapping[str, Any]) -> Identity:
    """Builds an ``Identity`` from a database record (a column → value mapping)."""
    return Identity(**{name: record[name] for name in Identity.__dataclass_fields__})


def conversation_from_record(record: Mapping[str, Any]) -> ConversationRow:
    """Builds a ``ConversationRow`` from a database record."""
    values = {name: record[name] for name in ConversationRow.__dataclass_fields__}
    values["state"] = ConversationState(values["state"])
    return ConversationRow(**values)


def outbound_from_record(record: Mapping[str, Any]) -> OutboundRow:
    """Builds an ``OutboundRow`` from a database record; paths become ``Path`` objects."""
    values = {name: record[name] for name in OutboundRow.__dataclass_fields__}
    values["state"] = OutboundState(values["state"])
    values["source_path"] = Path(values["source_path"])
    for name in ("work_path", "final_path"):
        values[name] = _optional_path(values[name])
    return OutboundRow(**values)


def inbound_from_record(record: Mapping[str, Any]) -> InboundRow:
    """Builds an ``InboundRow`` from a database record."""
    values = {name: record[name] for name in InboundRow.__dataclass_fields__}
    values["state"] = InboundState(values["state"])
    values["local_path"] = _optional_path(values["local_path"])
    return InboundRow(**values)
