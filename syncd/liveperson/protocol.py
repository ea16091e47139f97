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
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.errors import ProtocolError
from syncd.liveperson.limits import MAX_MESSAGE_BYTES, PeerLimitError, checked_sequence, load_json

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

# File types the consumer upload accepts (protocol.md §5.5).
# ``originatorMetadata.role`` of the consumer's own events.
CONSUMER_ROLE = "CONSUMER"
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


# --- request bodies --------------------------------------------------------------------


def request_conversation_body(skill_id: str | None = None) -> dict[str, Any]:
    """Body of ``cm.ConsumerRequestConversation``; targets ``skill_id`` when given."""
    body: dict[str, Any] = {"channelType": "MESSAGING"}
    if skill_id is not None:
        body["skillId"] = skill_id
    return body


def subscribe_ex_conversations_body(states: tuple[str, ...] = ("OPEN",)) -> dict[str, Any]:
    """Body of ``cqm.SubscribeExConversations`` for conversations in ``states``."""
    return {"minLastUpdatedTime": 0, "convState": list(states)}


def subscribe_messaging_events_body(dialog_id: str, from_sequence: int) -> dict[str, Any]:
    """Body of ``ms.SubscribeMessagingEvents``: events with sequence ≥ ``from_sequence``."""
    return {"dialogId": dialog_id, "fromSeq": from_sequence}


def generate_upload_url_body(file_size_bytes: int, file_type: str) -> dict[str, Any]:
    """Body of ``ms.GenerateURLForUploadFile``. ``fileSize`` is a string in the schema."""
    if file_type not in UPLOAD_FILE_TYPES:
        raise ValueError(f"file type {file_type!r} is not one of {UPLOAD_FILE_TYPES}")
    return {"fileSize": str(file_size_bytes), "fileType": file_type}


def generate_download_url_body(relative_path: str) -> dict[str, Any]:
    """Body of ``ms.GenerateURLForDownloadFile``."""
    return {"relativePath": relative_path}


def publish_hosted_file_body(
    dialog_id: str, caption: str, relative_path: str, file_type: str, preview: str | None
) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying a ``hosted/file`` ContentEvent."""
    message: dict[str, Any] = {
        "caption": caption,
        "relativePath": relative_path,
        "fileType": file_type,
    }
    if preview is not None:
        message["preview"] = preview
    return {
        "dialogId": dialog_id,
        "event": {"type": "ContentEvent", "contentType": "hosted/file", "message": message},
    }


def publish_text_body(dialog_id: str, text: str) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying a ``text/plain`` ContentEvent."""
    return {
        "dialogId": dialog_id,
        "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
    }


def publish_accept_status_body(
    dialog_id: str, sequences: list[int], status: str = "ACCEPT"
) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying an AcceptStatusEvent (receipt) for ``sequences``."""
    return {
        "dialogId": dialog_id,
        "event": {"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences},
    }


def close_conversation_body(conversation_id: str) -> dict[str, Any]:
    """Body of ``cm.UpdateConversationField`` that closes ``conversation_id``."""
    return {
        "conversationId": conversation_id,
        "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}],
    }


def init_connection_headers(jwt: str) -> list[dict[str, Any]]:
    """``headers`` array of ``InitConnection`` for clients that cannot set HTTP headers."""
    return [
        {
            "type": ".ams.headers.ClientProperties",
            "deviceFamily": "OTHER",
            "os": "LINUX",
            "features": ["PHOTO_SHARING"],
        },
        {"type": ".ams.headers.ConsumerAuthentication", "jwt": jwt},
    ]


# --- response and notification bodies ---------------------------------------------------


@dataclass(frozen=True)
class TempUrl:
    """A Swift temp URL as LivePerson hands it out (``relativePath`` + query parameters)."""

    relative_path: str
    signature: str
    expires: str

    def query(self) -> dict[str, str]:
        """The query parameters to append to ``https://{swift}{relative_path}``."""
        return {"temp_url_sig": self.signature, "temp_url_expires": self.expires}


@dataclass(frozen=True)
class HostedFile:
    """The ``message`` of a ``hosted/file`` ContentEvent."""

    relative_path: str
    file_type: str
    caption: str = ""
    preview: str | None = None


# The role LivePerson gives the consumer in originatorMetadata and participants.
CONSUMER_ROLE = "CONSUMER"


@dataclass(frozen=True)
class MessagingEvent:
    """One change of an ``ms.MessagingEventNotification``.

    ``event`` is the raw event object; ``hosted_file`` is set for ``hosted/file`` content and
    ``text`` for ``text/plain`` content. ``sequence`` is None for events that do not consume a
    sequence (chat states).
    """

    dialog_id: str
    sequence: int | None
    originator_id: str
    role: str | None
    server_timestamp_ms: int | None
    event_type: str
    content_type: str | None
    event: Mapping[str, Any]
    hosted_file: HostedFile | None = None
    text: str | None = None

    def is_from_consumer(self, consumer_id: str | None) -> bool:
        """True for an event the route's consumer published.

        ``originatorId`` equals the token's ``sub`` for signup consumers; for authenticated
        ones LivePerson does not document it (its tokens carry a hashed ``sub``), and its
        own samples recognise the consumer by ``originatorMetadata.role == "CONSUMER"``. A
        conversation has one consumer, so either sign is enough.
        """
        return (consumer_id is not None and self.originator_id == consumer_id) or (
            self.role == CONSUMER_ROLE
        )


@dataclass(frozen=True)
class ConversationChange:
    """One change of a ``cqm.ExConversationChangeNotification``.

    ``change_type`` is ``UPSERT`` or ``DELETE``; ``state`` and ``stage`` are ``OPEN``/``CLOSE``
    (None when absent, as in DELETE changes). ``participants`` maps participant id → role.
    """

    change_type: str
    conversation_id: str
    state: str | None
    stage: str | None
    skill_id: str | None
    participants: Mapping[str, str] = field(default_factory=dict)
    # ``conversationDetails.startTs`` (ms), None when absent.
    start_ms: int | None = None
    # ``lastContentEventNotification.sequence``: the sequence of the conversation's last
    # content event when the metadata carries it (LivePerson may leave it out), else None.
    last_content_sequence: int | None = None

    @property
    def is_open(self) -> bool:
        """True when the conversation is present and neither its state nor stage is CLOSE."""
        if self.change_type == "DELETE":
            return False
        return self.state != "CLOSE" and self.stage != "CLOSE"


def _require_mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{what} is not an object")
    return value


def parse_temp_url(body: Any) -> TempUrl:
    """Parse the body of a ``GenerateURLFor{Upload,Download}File`` response.

    Raises ProtocolError when ``relativePath`` or a query parameter is missing.
    """
    body = _require_mapping(body, "URL response body")
    relative_path = body.get("relativePath")
    query = _require_mapping(body.get("queryParams"), "queryParams")
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
    conversation_id = _require_mapping(body, "conversation response").get("conversationId")
    if not isinstance(conversation_id, str) or not conversation_id:
        raise ProtocolError("conversation response lacks 'conversationId'")
    return conversation_id


def parse_sequence(body: Any) -> int:
    """Return ``sequence`` from an ``ms.PublishEvent`` response body.

    Raises ProtocolError when it is missing, PeerLimitError when it is not a sane sequence.
    """
    sequence = checked_sequence(_require_mapping(body, "publish response").get("sequence"))
    if sequence is None:
        raise ProtocolError("publish response lacks an integer 'sequence'")
    return sequence


def _parse_hosted_file(message: Any) -> HostedFile | None:
    if not isinstance(message, Mapping):
        return None
    relative_path = message.get("relativePath")
    if not isinstance(relative_path, str) or not relative_path:
        return None
    caption = message.get("caption")
    preview = message.get("preview")
    return HostedFile(
        relative_path=relative_path,
        file_type=str(message.get("fileType", "")),
        caption=caption if isinstance(caption, str) else "",
        preview=preview if isinstance(preview, str) else None,
    )


def parse_messaging_events(body: Any) -> list[MessagingEvent]:
    """Parse the changes of an ``ms.MessagingEventNotification`` body.

    Changes without the required fields are skipped rather than failing the whole frame,
    because one odd event must not stop the others from being seen. So are changes whose
    ``sequence`` is not a sane one (``true``, ≥ 2^31, negative): they are parsed by
    ``parse_messaging_events_checked``, which also reports them.
    """
    return parse_messaging_events_checked(body)[0]


def parse_messaging_events_checked(body: Any) -> tuple[list[MessagingEvent], list[str]]:
    """Parse like ``parse_messaging_events``; also return why each refused change was refused.

    The refusals are peer violations (a sequence out of range), meant for one log line.
    """
    events: list[MessagingEvent] = []
    refused: list[str] = []
    for change in as_list(_require_mapping(body, "notification body").get("changes")):
        if not isinstance(change, Mapping):
            continue
        event = change.get("event")
        dialog_id = change.get("dialogId") or change.get("conversationId")
        if not isinstance(event, Mapping) or not isinstance(dialog_id, str):
            continue
        try:
            sequence = checked_sequence(change.get("sequence"))
        except PeerLimitError as error:
            refused.append(f"conversation {dialog_id[:80]!r}: {error}")
            continue
        metadata = change.get("originatorMetadata")
        role = metadata.get("role") if isinstance(metadata, Mapping) else None
        content_type = event.get("contentType")
        timestamp = change.get("serverTimestamp")
        events.append(
            MessagingEvent(
                dialog_id=dialog_id,
                sequence=sequence,
                originator_id=str(change.get("originatorId", "")),
                role=role if isinstance(role, str) else None,
                server_timestamp_ms=timestamp if isinstance(timestamp, int) else None,
                event_type=str(event.get("type", "")),
                content_type=content_type if isinstance(content_type, str) else None,
                event=event,
                hosted_file=(
                    _parse_hosted_file(event.get("message"))
                    if content_type == "hosted/file"
                    else None
                ),
                text=(
                    event["message"]
                    if content_type == "text/plain" and isinstance(event.get("message"), str)
                    else None
                ),
            )
        )
    return events, refused


def _participants(details: Mapping[str, Any]) -> dict[str, str]:
    participants: dict[str, str] = {}
    for participant in as_list(details.get("participants")):
        if isinstance(participant, Mapping) and isinstance(participant.get("id"), str):
            participants[participant["id"]] = str(participant.get("role", ""))
    # The legacy v2 form maps role → [ids]; accept it too.
    legacy = details.get("participantsPId")
    if isinstance(legacy, Mapping):
        for role, ids in legacy.items():
            for participant_id in as_list(ids):
                if isinstance(participant_id, str):
                    participants.setdefault(participant_id, str(role))
    return participants


def parse_conversation_changes(body: Any) -> list[ConversationChange]:
    """Parse the changes of a ``cqm.ExConversationChangeNotification`` body."""
    changes: list[ConversationChange] = []
    for change in as_list(_require_mapping(body, "notification body").get("changes")):
        if not isinstance(change, Mapping):
            continue
        result = change.get("result")
        if not isinstance(result, Mapping) or not isinstance(result.get("convId"), str):
            continue
        details = result.get("conversationDetails")
        details = details if isinstance(details, Mapping) else {}
        state = details.get("state")
        stage = details.get("stage")
        skill_id = details.get("skillId")
        start_ms = details.get("startTs")
        last_content = result.get("lastContentEventNotification")
        last_sequence = last_content.get("sequence") if isinstance(last_content, Mapping) else None
        changes.append(
            ConversationChange(
                change_type=str(change.get("type", "")),
                conversation_id=result["convId"],
                state=state if isinstance(state, str) else None,
                stage=stage if isinstance(stage, str) else None,
                skill_id=str(skill_id) if skill_id is not None else None,
                participants=_participants(details),
                start_ms=start_ms if _is_integer(start_ms) else None,
                last_content_sequence=last_sequence if _is_integer(last_sequence) else None,
            )
        )
    return changes


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def subscription_id_of(body: Any) -> str | None:
    """Return ``subscriptionId`` of a ``cqm.SubscribeExConversations`` response or of an
    ExConversation notification body, None when it has none."""
    subscription_id = body.get("subscriptionId") if isinstance(body, Mapping) else None
    return subscription_id if isinstance(subscription_id, str) and subscription_id else None


def unsubscribe_ex_conversations_body(subscription_id: str) -> dict[str, Any]:
    """Body of ``cqm.UnsubscribeExConversations`` ending ``subscription_id``."""
    return {"subscriptionId": subscription_id}


class RequestIds:
    """Hands out request ids unique within one WebSocket session (strings, 1..64 chars)."""

    def __init__(self) -> None:
        self._next = 1

    def next(self) -> str:
        """Return a new id."""
        request_id = str(self._next)
        self._next += 1
        return request_id
