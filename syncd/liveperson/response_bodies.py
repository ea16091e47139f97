"""Sans-IO parsing of the response bodies the consumer reads: temp URLs, ids, sequences.

Each function takes the ``body`` of a parsed ``protocol.Response`` and returns the value the
client needs, raising ProtocolError (or PeerLimitError) when the body lacks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.errors import ProtocolError
from syncd.liveperson.limits import checked_sequence
from syncd.liveperson.protocol import require_mapping


@dataclass(frozen=True)
class TempUrl:
    """A Swift temp URL as LivePerson hands it out (``relativePath`` + query parameters)."""

    relative_path: str
    # The signature lets anyone holding it write or read the object: never in a repr or log.
    signature: str = field(repr=False)
    expires: str

    def query(self) -> dict[str, str]:
        """The query parameters to append to ``https://{swift}{relative_path}``."""
        return {"temp_url_sig": self.signature, "temp_url_expires": self.expires}


def parse_temp_url(body: Any) -> TempUrl:
    """Parse the body of a ``GenerateURLFor{Upload,Download}File`` response.

    Raises ProtocolError when ``relativePath`` or a query parameter is missing.
    """
    body = require_mapping(body, "URL response body")
    relative_path = body.get("relativePath")
    query = require_mapping(body.get("queryParams"), "queryParams")
    signature = query.get("temp_url_sig")
    expires = query.get("temp_url_expires")
    if not isinstance(relative_path, str):
        raise ProtocolError("URL response lacks an absolute 'relativePath'")
    if not relative_path.startswith("/"):
        # A full URL here would send the file to whatever host it names: refuse, and say so.
        raise ProtocolError(
            f"refusing storage path {relative_path[:120]!r}: not a path on the storage host"
        )
    if signature is None or expires is None:
        raise ProtocolError("URL response lacks temp_url_sig or temp_url_expires")
    return TempUrl(relative_path, str(signature), str(expires))


def parse_conversation_id(body: Any) -> str:
    """Return ``conversationId`` from a ``cm.ConsumerRequestConversation`` response body."""
    conversation_id = require_mapping(body, "conversation response").get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ProtocolError("conversation response lacks 'conversationId'")
    return conversation_id


def parse_sequence(body: Any) -> int:
    """Return ``sequence`` from an ``ms.PublishEvent`` response body.

    Raises ProtocolError when it is missing, PeerLimitError when it is not a sane sequence.
    """
    sequence = checked_sequence(require_mapping(body, "publish response").get("sequence"))
    if sequence is None:
        raise ProtocolError("publish response lacks an integer 'sequence'")
    return sequence


def subscription_id_of(body: Any) -> str | None:
    """Return ``subscriptionId`` of a ``cqm.SubscribeExConversations`` response or of an
    ExConversation notification body, None when it has none."""
    subscription_id = body.get("subscriptionId") if isinstance(body, Mapping) else None
    return subscription_id if isinstance(subscription_id, str) and subscription_id else None
