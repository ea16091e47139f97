"""Sans-IO frames of LivePerson's consumer Messaging Window API (WebSocket, ``v=3``).

This module builds and parses JSON text frames and never touches a socket, so the client
(``session.py``) and the emulator share one definition of the wire format and both can be
tested in memory.

Envelopes (protocol.md §4):

* request ``{"kind": "req", "id", "type", "body"}``;
* response ``{"kind": "resp", "reqId", "code", "type", "body"}``;
* notification ``{"kind": "notification", "type", "body"}``.

Rules followed here: correlate by ``reqId`` only (response ``type`` strings differ between
LivePerson's own documents), ignore undocumented fields, and accept a single element wherever
an array is documented.

This module is the envelope: request and notification type names, frame building and
parsing, request ids. What goes inside the envelopes lives beside it: ``request_bodies``
(what the consumer sends), ``response_bodies`` and ``notifications`` (what it reads).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncd.errors import ProtocolError
from syncd.liveperson.limits import MAX_MESSAGE_BYTES, load_json

# Request types (protocol.md §5.7). ``GetClock`` has no leading dot on the consumer API.
GET_CLOCK = "GetClock"
INIT_CONNECTION = "InitConnection"
REQUEST_CONVERSATION = "cm.ConsumerRequestConversation"
UPDATE_CONVERSATION_FIELD = "cm.UpdateConversationField"
SUBSCRIBE_EX_CONVERSATIONS = "cqm.SubscribeExConversations"
UNSUBSCRIBE_EX_CONVERSATIONS = "cqm.UnsubscribeExConversations"
SUBSCRIBE_MESSAGING_EVENTS = "ms.SubscribeMessagingEvents"
PUBLISH_EVENT = "ms.PublishEvent"
GENERATE_UPLOAD_URL = "ms.GenerateURLForUploadFile"
GENERATE_DOWNLOAD_URL = "ms.GenerateURLForDownloadFile"

# Notification types.
EX_CONVERSATION_CHANGE = "cqm.ExConversationChangeNotification"
MESSAGING_EVENT = "ms.MessagingEventNotification"

# The role LivePerson gives the consumer in originatorMetadata and participants
# (``originatorMetadata.role`` of the consumer's own events).
CONSUMER_ROLE = "CONSUMER"
# File types the consumer upload accepts (protocol.md §5.5).
UPLOAD_FILE_TYPES = ("JPG", "JPEG", "PNG", "GIF")

# Close codes that mean "get a fresh token" (protocol.md §3.3).
AUTH_CLOSE_CODES = frozenset({4401, 4407})


@dataclass(frozen=True)
class Request:
    """A parsed request frame (what the emulator receives).

    ``request_id`` is always a string, whatever JSON type the client sent, because the
    response must echo it as a string. ``headers`` is the top-level array of ``InitConnection``.
    """

    request_id: str
    type: str
    body: Any
    headers: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Response:
    """A parsed response frame: ``code >= 400`` means the request failed."""

    request_id: str
    code: int
    type: str
    body: Any

    @property
    def ok(self) -> bool:
        """True for a success code (below 400)."""
        return self.code < 400


@dataclass(frozen=True)
class Notification:
    """A parsed notification frame."""

    type: str
    body: Any


Frame = Request | Response | Notification


def as_list(value: Any) -> list[Any]:
    """Return ``value`` as a list: ``None`` → ``[]``, a single element → ``[element]``.

    LivePerson may send "an array containing a single element" as the element itself.
    """
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _dumps(frame: Mapping[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def build_request(
    request_id: str | int,
    request_type: str,
    body: Any = None,
    headers: list[Mapping[str, Any]] | None = None,
) -> str:
    """Return the JSON text of a request frame; ``body`` and ``headers`` are omitted if None."""
    frame: dict[str, Any] = {"kind": "req", "id": str(request_id), "type": request_type}
    if body is not None:
        frame["body"] = body
    if headers is not None:
        frame["headers"] = headers
    return _dumps(frame)


def build_response(request_id: str, code: int, response_type: str, body: Any = None) -> str:
    """Return the JSON text of a response frame echoing ``request_id`` as a string."""
    frame: dict[str, Any] = {"kind": "resp", "reqId": str(request_id), "code": code}
    if body is not None:
        frame["body"] = body
    frame["type"] = response_type
    return _dumps(frame)


def build_notification(notification_type: str, body: Any) -> str:
    """Return the JSON text of a notification frame."""
    return _dumps({"kind": "notification", "body": body, "type": notification_type})


def parse_frame(text: str | bytes) -> Frame:
    """Parse one WebSocket text frame.

    Returns a Request, Response or Notification. Raises PeerLimitError when the text is
    longer than ``MAX_MESSAGE_BYTES`` or nests deeper than ``MAX_JSON_DEPTH``, and
    ProtocolError when it is not JSON, not an object, or lacks the fields its ``kind``
    requires.
    """
    data = load_json(text, "frame", MAX_MESSAGE_BYTES)
    if not isinstance(data, dict):
        raise ProtocolError("frame is not a JSON object")
    kind = data.get("kind")
    if kind == "req":
        request_id = data.get("id")
        request_type = data.get("type")
        if request_id is None or not isinstance(request_type, str):
            raise ProtocolError("request frame needs 'id' and 'type'")
        headers = tuple(h for h in as_list(data.get("headers")) if isinstance(h, Mapping))
        return Request(str(request_id), request_type, data.get("body"), headers)
    if kind == "resp":
        request_id = data.get("reqId")
        code = data.get("code")
        if request_id is None or not isinstance(code, int) or isinstance(code, bool):
            raise ProtocolError("response frame needs 'reqId' and an integer 'code'")
        return Response(str(request_id), code, str(data.get("type", "")), data.get("body"))
    if kind == "notification":
        notification_type = data.get("type")
        if not isinstance(notification_type, str):
            raise ProtocolError("notification frame needs 'type'")
        return Notification(notification_type, data.get("body"))
    raise ProtocolError(f"unknown frame kind {kind!r}")


def require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    """Return ``value`` when it is a JSON object; raise ProtocolError naming ``what`` if not."""
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} is not an object")
    return value


class RequestIds:
    """Hands out request ids unique within one WebSocket session (strings, 1..64 chars)."""

    def __init__(self) -> None:
        self._next = 1

    def next(self) -> str:
        """Return a new id."""
        request_id = str(self._next)
        self._next += 1
        return request_id
