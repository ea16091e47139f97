"""Answers to the consumer requests of the Messaging Window API (``v=3``).

``handle_request`` takes one parsed request of one socket and returns the frames to send:
the response first, then any follow-ups (the initial ExConversation notification after
``cqm.SubscribeExConversations``, every replayed event after ``ms.SubscribeMessagingEvents``).
No aiohttp here; the socket module queues the frames.

Choices where LivePerson is silent (protocol.md §12), made here:

* Errors are ``{"code": 4xx, "type": "StringResponse", "body": "<reason>"}``; an unknown
  request type — including the agent-style ``.GetClock`` — gets 400.
* Requests other than ``InitConnection`` on a socket that has not authenticated get 401.
  ``InitConnection`` with a bad, expired or missing token gets 401 and the socket is then
  closed with 4401.
* A consumer may only subscribe to, publish in and close its own conversations; other or
  unknown dialog ids get 400. Publishing in a closed dialog gets 400.
* Replayed events go out in notifications of up to ``REPLAY_BATCH_SIZE`` changes each, right
  behind the response — unless the ``history_delay_ms`` knob sends them later, split,
  shuffled and partly repeated (LivePerson promises no order here).
* Response types: ``GetClockResponse``, ``KeepAliveResponse``, ``cm.RequestConversationResponse``,
  ``cqm.SubscribeExConversationsResponse``, ``GenericSubscribeResponse``,
  ``ms.PublishEventResponse``, ``ms.GenerateURLResponse`` and ``StringResponse``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from syncd.emulator.core import EmulatorCore
from syncd.emulator.events import check_event
from syncd.emulator.hub import Subscriber, conversation_change_frame, messaging_event_frame
from syncd.emulator.model import CONSUMER, Conversation
from syncd.emulator.rejection import Rejection
from syncd.emulator.subscriptions import ConversationSubscription
from syncd.emulator.tokens import ConsumerClaims, TokenError
from syncd.liveperson import protocol
from syncd.liveperson.protocol import Request, as_list, build_response

logger = logging.getLogger("syncd.emulator")

REPLAY_BATCH_SIZE = 20
STRING_RESPONSE = "StringResponse"
AUTHENTICATION_HEADER_TYPE = ".ams.headers.ConsumerAuthentication"
AUTHENTICATION_CLOSE_CODE = 4401
# LivePerson's protocol overview: "4407: For unauthenticated identities, this status code
# states that the client should ask the LivePerson IDP service to extend the validity of the
# current identity." An anonymous consumer's expired token closes its socket with it.
UNAUTHENTICATED_EXPIRY_CLOSE_CODE = 4407


class Connection(Subscriber, Protocol):
    """What a request handler needs of its socket."""

    def authenticate(self, claims: ConsumerClaims) -> None:
        """Bind the socket to the consumer of ``claims``."""


@dataclass
class Reply:
    """A successful answer: response ``type`` and ``body``, then follow-up frames."""

    response_type: str
    body: Any
    follow_ups: list[str] = field(default_factory=list)
    # Frames sent ``delay_seconds`` later, behind whatever comes meanwhile.
    delayed: list[str] = field(default_factory=list)
    delay_seconds: float = 0.0


@dataclass
class Outcome:
    """What to send for one request; ``close_code`` closes the socket after sending."""

    response: str
    follow_ups: list[str] = field(default_factory=list)
    close_code: int | None = None
    delayed: list[str] = field(default_factory=list)
    delay_seconds: float = 0.0


def error_response(request_id: str, rejection: Rejection) -> str:
    """Return the frame refusing a request with ``rejection``'s code and reason."""
    return build_response(request_id, rejection.code, STRING_RESPONSE, rejection.reason)


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.body, Mapping):
        raise Rejection(400, "The body must be an object")
    return request.body


def _own_conversation(
    core: EmulatorCore, connection: Connection, conversation_id: Any
) -> Conversation:
    conversation = core.book.get(conversation_id) if isinstance(conversation_id, str) else None
    if conversation is None or conversation.consumer_id != connection.consumer_id:
        raise Rejection(400, "Unknown dialog or conversation")
    return conversation


def _consumer_id(connection: Connection) -> str:
    assert connection.consumer_id is not None  # handle_request checked authentication
    return connection.consumer_id


def _get_clock(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    return Reply("GetClockResponse", {"currentTime": core.now_ms()})


def _keep_alive(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    return Reply("KeepAliveResponse", {"currentTime": core.now_ms()})


def _request_conversation(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    body = request.body if request.body is not None else {}
    if not isinstance(body, Mapping):
        raise Rejection(400, "The body must be an object")
    skill_id = body.get("skillId", "-1")
    if not isinstance(skill_id, str | int) or isinstance(skill_id, bool) or skill_id == "":
        raise Rejection(400, "'skillId' must be a string or a number")
    consumer_id = _consumer_id(connection)
    conversation = core.book.open_conversation(
        consumer_id, str(skill_id), core.now_ms(), core.participant_id(consumer_id)
    )
    logger.info(
        "conversation %s requested by consumer %s", conversation.conversation_id, consumer_id
    )
    if core.settings.agent_accept == "auto":
        core.book.assign_agent(conversation, core.agent_id, core.now_ms())
    return Reply("cm.RequestConversationResponse", {"conversationId": conversation.conversation_id})


def _subscribe_conversations(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    consumer_id = _consumer_id(connection)
    subscription = ConversationSubscription.from_body(consumer_id, request.body)
    changes = subscription.initial_changes(core.book.of_consumer(consumer_id))
    connection.conversation_subscriptions[subscription.subscription_id] = subscription
    initial = conversation_change_frame(subscription.subscription_id, changes)
    return Reply(
        "cqm.SubscribeExConversationsResponse",
        {"subscriptionId": subscription.subscription_id},
        [initial],
    )


def _unsubscribe_conversations(
    core: EmulatorCore, connection: Connection, request: Request
) -> Reply:
    subscription_id = _body(request).get("subscriptionId")
    if connection.conversation_subscriptions.pop(str(subscription_id), None) is None:
        raise Rejection(400, "Unknown subscriptionId")
    return Reply(STRING_RESPONSE, "OK")


def _subscribe_messaging_events(
    core: EmulatorCore, connection: Connection, request: Request
) -> Reply:
    body = _body(request)
    conversation = _own_conversation(core, connection, body.get("dialogId"))
    from_sequence = body.get("fromSeq", 0)
    if not isinstance(from_sequence, int) or isinstance(from_sequence, bool) or from_sequence < 0:
        raise Rejection(400, "'fromSeq' must be an integer >= 0")
    connection.dialog_ids.add(conversation.conversation_id)
    events = conversation.events_from(from_sequence)
    delay_seconds = core.faults.history_delay_seconds
    if delay_seconds > 0 and events:
        # The history_delay_ms knob: late, split, shuffled and partly repeated.
        frames = [messaging_event_frame(batch) for batch in core.faults.scramble_history(events)]
        return Reply("GenericSubscribeResponse", {}, [], frames, delay_seconds)
    replay = [
        messaging_event_frame(events[start : start + REPLAY_BATCH_SIZE])
        for start in range(0, len(events), REPLAY_BATCH_SIZE)
    ]
    return Reply("GenericSubscribeResponse", {}, replay)


def _publish_event(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    body = _body(request)
    conversation = _own_conversation(core, connection, body.get("dialogId"))
    checked = check_event(body.get("event"), core.objects.exists)
    stored = core.book.publish(
        conversation,
        core.participant_id(_consumer_id(connection)),
        CONSUMER,
        checked.event,
        checked.numbered,
        core.now_ms(),
    )
    sequence = stored.sequence if stored.sequence is not None else 0
    return Reply("ms.PublishEventResponse", {"sequence": sequence})


def _generate_upload_url(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    return Reply("ms.GenerateURLResponse", core.upload_url(_consumer_id(connection), request.body))


def _generate_download_url(core: EmulatorCore, connection: Connection, request: Request) -> Reply:
    return Reply("ms.GenerateURLResponse", core.download_url(request.body))


def _closes_conversation(conversation_field: Any, conversation_id: str) -> bool:
    if not isinstance(conversation_field, Mapping):
        raise Rejection(400, "'conversationField' entries must be objects")
    kind = conversation_field.get("field")
    if kind in ("ConversationStateField", "Stage"):
        return conversation_field.get("conversationState") == "CLOSE"
    if kind == "DialogChange":
        dialog = conversation_field.get("dialog")
        return (
            isinstance(dialog, Mapping)
            and dialog.get("dialogId") == conversation_id
            and dialog.get("state") == "CLOSE"
        )
    raise Rejection(400, "Unsupported conversation field")


def _update_conversation_field(
    core: EmulatorCore, connection: Connection, request: Request
) -> Reply:
    body = _body(request)
    conversation = _own_conversation(core, connection, body.get("conversationId"))
    fields = as_list(body.get("conversationField"))
    # Check every field before acting, so a bad second field does not half-apply the request.
    closes = [_closes_conversation(f, conversation.conversation_id) for f in fields]
    if not any(closes):
        raise Rejection(400, "Only closing the conversation is supported")
    core.book.close(conversation, CONSUMER, core.now_ms())
    return Reply(STRING_RESPONSE, "OK Conversation resolved successfully")


_Handler = Callable[[EmulatorCore, Connection, Request], Reply]

_HANDLERS: dict[str, _Handler] = {
    protocol.GET_CLOCK: _get_clock,
    "KeepAlive": _keep_alive,
    protocol.REQUEST_CONVERSATION: _request_conversation,
    protocol.SUBSCRIBE_EX_CONVERSATIONS: _subscribe_conversations,
    protocol.UNSUBSCRIBE_EX_CONVERSATIONS: _unsubscribe_conversations,
    protocol.SUBSCRIBE_MESSAGING_EVENTS: _subscribe_messaging_events,
    protocol.PUBLISH_EVENT: _publish_event,
    protocol.GENERATE_UPLOAD_URL: _generate_upload_url,
    protocol.GENERATE_DOWNLOAD_URL: _generate_download_url,
    protocol.UPDATE_CONVERSATION_FIELD: _update_conversation_field,
}


def _init_connection(core: EmulatorCore, connection: Connection, request: Request) -> Outcome:
    tokens = [
        header.get("jwt")
        for header in request.headers
        if header.get("type") == AUTHENTICATION_HEADER_TYPE
    ]
    token = tokens[0] if tokens else None
    try:
        if not isinstance(token, str):
            raise TokenError("no ConsumerAuthentication header")
        claims = core.verify_token(token)
    except TokenError:
        refusal = Rejection(401, "Invalid or expired token")
        return Outcome(error_response(request.request_id, refusal), [], AUTHENTICATION_CLOSE_CODE)
    if connection.consumer_id not in (None, claims.consumer_id):
        refusal = Rejection(400, "The connection is authenticated as another consumer")
        return Outcome(error_response(request.request_id, refusal))
    connection.authenticate(claims)
    return Outcome(build_response(request.request_id, 200, STRING_RESPONSE, "OK"))


def handle_request(core: EmulatorCore, connection: Connection, request: Request) -> Outcome:
    """Process one request of ``connection`` and return what to send back."""
    if request.type == protocol.INIT_CONNECTION:
        return _init_connection(core, connection, request)
    try:
        if connection.consumer_id is None:
            raise Rejection(401, "Send InitConnection with a token first")
        handler = _HANDLERS.get(request.type)
        if handler is None:
            raise Rejection(400, "Unsupported request type")
        reply = handler(core, connection, request)
    except Rejection as rejection:
        return Outcome(error_response(request.request_id, rejection))
    response = build_response(request.request_id, 200, reply.response_type, reply.body)
    return Outcome(
        response, reply.follow_ups, delayed=reply.delayed, delay_seconds=reply.delay_seconds
    )
