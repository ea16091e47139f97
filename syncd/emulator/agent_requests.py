"""Answers to the agent (brand) Messaging API requests, as LivePerson's agent SDK sends them.

``handle_agent_request`` takes one parsed request of one brand socket and returns the frames
to send: the response first, then follow-ups (a subscription's first notification, the
messages a ``QueryMessages`` found). No aiohttp here; ``agent_socket.py`` queues the frames.

Request types are matched without their leading ``.`` and ``ams.`` (the SDK sends
``.ams.ms.PublishEvent``, LivePerson's getting-started page ``ms.PublishEvent``). Accepting,
closing and sending go through ``agent.py``, the code the console and the control API use.

Choices where LivePerson is silent, made here:

* ``QueryMessages`` (what the SDK sends for ``subscribeMessagingEvents``) returns the events
  whose sequence is at least ``newerThanSequence`` — the start index, as LivePerson's web
  client describes it — oldest first, at most ``maxQuantity``.
* ``GetUserProfile`` of a consumer answers from its identity: ``authenticatedData.lp_sdes``
  (the SDEs of its JWT), ``firstName`` (its name, when no ``personal`` SDE says it) and
  ``privateData.userId`` (the consumer id, when no ``ctmrinfo`` SDE names the customer).
  An empty body (or the agent's own id) answers the agent's ``userId``.
* Errors are ``{"code": 4xx, "type": ".ReqBody$StringResp", "body": "<reason>"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.emulator import agent
from syncd.emulator.agent_frames import conversation_frame, event_change, routing_frame
from syncd.emulator.agent_hub import AgentSubscriber, ConversationFilter
from syncd.emulator.core import EmulatorCore
from syncd.emulator.events import HOSTED_FILE_TYPES, check_event
from syncd.emulator.model import ASSIGNED_AGENT, CONSUMER, Conversation
from syncd.emulator.rejection import Rejection
from syncd.liveperson.protocol import Request, as_list, build_response

STRING_RESPONSE = ".ReqBody$StringResp"
SUBSCRIBE_RESPONSE = ".ams.GenericSubscribe$Response"
JOINABLE_ROLES = frozenset({ASSIGNED_AGENT, "MANAGER", "READER", "AGENT"})


@dataclass
class Reply:
    """A successful answer: response ``type``, ``code`` and ``body``, then follow-ups."""

    response_type: str
    body: Any
    follow_ups: list[str] = field(default_factory=list)
    code: int = 200


def _body(request: Request) -> Mapping[str, Any]:
    if not isinstance(request.body, Mapping):
        raise Rejection(400, "The body must be an object")
    return request.body


def _conversation(core: EmulatorCore, conversation_id: Any) -> Conversation:
    conversation = core.book.get(conversation_id) if isinstance(conversation_id, str) else None
    if conversation is None:
        raise Rejection(400, "Unknown dialog or conversation")
    return conversation


def _get_clock(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    return Reply(".GetClock$Response", {"currentTime": core.now_ms()})


def _subscribe_conversations(
    core: EmulatorCore, socket: AgentSubscriber, request: Request
) -> Reply:
    conversation_filter = ConversationFilter.from_body(request.body)
    changes = [
        change
        for conversation in core.book.all()
        if (change := conversation_filter.change_for(core.agent_hub.ids, conversation))
    ]
    socket.conversation_filters[conversation_filter.subscription_id] = conversation_filter
    initial = conversation_frame(conversation_filter.subscription_id, changes)
    body = {"subscriptionId": conversation_filter.subscription_id}
    return Reply(".ams.aam.SubscribeExConversations$Response", body, [initial])


def _unsubscribe_conversations(
    core: EmulatorCore, socket: AgentSubscriber, request: Request
) -> Reply:
    if socket.conversation_filters.pop(str(_body(request).get("subscriptionId")), None) is None:
        raise Rejection(400, "Unknown subscriptionId")
    return Reply(STRING_RESPONSE, "OK")


def _subscribe_routing(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    subscription_id = f"routing-{len(socket.routing_subscriptions) + 1}-{id(socket):x}"
    socket.routing_subscriptions.add(subscription_id)
    initial = routing_frame(subscription_id, core.agent_hub.routing_changes())
    return Reply(SUBSCRIBE_RESPONSE, {"subscriptionId": subscription_id}, [initial])


def _set_agent_state(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    core.agent_hub.set_availability(_body(request).get("availability"))
    return Reply(STRING_RESPONSE, "Agent state updated successfully", code=202)


def _update_ring_state(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    body = _body(request)
    ring = core.agent_hub.update_ring(body.get("ringId"), body.get("ringState"))
    if body.get("ringState") == "ACCEPTED":
        agent.accept(core, ring.conversation_id)
    return Reply(STRING_RESPONSE, "Ring state updated successfully", code=202)


def _change_participants(core: EmulatorCore, conversation: Conversation, change: Any) -> str:
    role = change.get("role")
    user_id = change.get("userId")
    ids = core.agent_hub.ids
    if role not in JOINABLE_ROLES or user_id not in (None, ids.agent_old_id, ids.agent_pid):
        raise Rejection(400, "Only the emulated agent may join or leave, in an agent role")
    if change.get("type") == "ADD":
        if role == ASSIGNED_AGENT:
            agent.accept(core, conversation.conversation_id)
        else:
            core.book.join(conversation, core.agent_id, role, core.now_ms())
        return "OK Agent added successfully"
    if change.get("type") == "REMOVE":
        if not core.book.leave(conversation, core.agent_id, role, core.now_ms()):
            raise Rejection(400, f"The agent is no {role} of the conversation")
        return "OK Agent removed successfully"
    raise Rejection(400, "'type' must be ADD or REMOVE")


def _closes(change: Mapping[str, Any], conversation_id: str) -> bool:
    if change.get("field") == "ConversationStateField":
        return change.get("conversationState") == "CLOSE"
    dialog = change.get("dialog")
    return (
        isinstance(dialog, Mapping)
        and dialog.get("dialogId") == conversation_id
        and dialog.get("state") == "CLOSE"
    )


def _update_conversation_field(
    core: EmulatorCore, socket: AgentSubscriber, request: Request
) -> Reply:
    body = _body(request)
    conversation = _conversation(core, body.get("conversationId"))
    changes = as_list(body.get("conversationField"))
    supported = ("ParticipantsChange", "ConversationStateField", "DialogChange")
    if not changes or not all(
        isinstance(c, Mapping) and c.get("field") in supported for c in changes
    ):
        raise Rejection(400, "Supported fields: ParticipantsChange, ConversationStateField")
    answer = "OK"
    for change in changes:
        if change["field"] == "ParticipantsChange":
            answer = _change_participants(core, conversation, change)
        elif _closes(change, conversation.conversation_id):
            agent.close(core, conversation.conversation_id)
            answer = "OK Conversation resolved successfully"
        else:
            raise Rejection(400, "Only closing the conversation or its dialog is supported")
    return Reply(STRING_RESPONSE, answer)


def _checked_agent_event(core: EmulatorCore, event: Any) -> tuple[Mapping[str, Any], bool]:
    message = event.get("message") if isinstance(event, Mapping) else None
    file_type = message.get("fileType") if isinstance(message, Mapping) else None
    if file_type in agent.AGENT_FILE_TYPES and file_type not in HOSTED_FILE_TYPES:
        # Office files: agents may send them, the consumer schema does not list them.
        path = message.get("relativePath") if isinstance(message, Mapping) else None
        if not isinstance(path, str) or not core.objects.exists(path):
            raise Rejection(400, "The file at 'relativePath' was not uploaded")
        return dict(event), True
    checked = check_event(event, core.objects.exists)
    return checked.event, checked.numbered


def _publish_event(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    body = _body(request)
    conversation = _conversation(core, body.get("dialogId"))
    event, numbered = _checked_agent_event(core, body.get("event"))
    stored = agent.publish(core, conversation.conversation_id, event, numbered)
    sequence = stored.sequence if stored.sequence is not None else 0
    return Reply(".ams.ms.PublishEvent$Response", {"sequence": sequence})


def _query_messages(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    body = _body(request)
    conversation = _conversation(core, body.get("dialogId"))
    start = body.get("newerThanSequence", 0)
    limit = body.get("maxQuantity")
    if not isinstance(start, int) or isinstance(start, bool):
        raise Rejection(400, "'newerThanSequence' must be an integer")
    events = conversation.events_from(max(start, 0))
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        events = events[:limit]
    socket.dialog_ids.add(conversation.conversation_id)
    changes = [event_change(core.agent_hub.ids, event) for event in events]
    return Reply(".ams.ms.QueryMessages$Response", changes)


def _upload_url(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    return Reply(".ams.ms.GenerateURLForUploadFile$Response", agent.upload_url(core, request.body))


def _download_url(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    return Reply(".ams.ms.GenerateURLForDownloadFile$Response", core.download_url(request.body))


def _user_profile(core: EmulatorCore, socket: AgentSubscriber, request: Request) -> Reply:
    wanted = request.body.get("userId") if isinstance(request.body, Mapping) else request.body
    ids = core.agent_hub.ids
    if wanted in (None, "", ids.agent_pid, ids.agent_old_id):
        return Reply(".ams.userprofile.GetUserProfile$Response", {"userId": ids.agent_old_id})
    consumers = {
        pid: c.consumer_id
        for c in core.book.all()
        for pid, role in c.participants
        if role == CONSUMER
    }
    consumer_id = consumers.get(wanted) if isinstance(wanted, str) else None
    if consumer_id is None:
        raise Rejection(404, "Unknown user")
    record = core.identities.consumers.get(consumer_id)
    sdes = list(record.sdes) if record is not None else []
    kinds = {sde.get("type") for sde in sdes if isinstance(sde, Mapping)}
    profile: dict[str, Any] = {"userId": wanted, "role": "CONSUMER"}
    if sdes:
        profile["authenticatedData"] = {"lp_sdes": sdes}
    if record is not None and record.name and "personal" not in kinds:
        profile["firstName"] = record.name
    if "ctmrinfo" not in kinds:
        profile["privateData"] = {"userId": consumer_id}
    return Reply(".ams.userprofile.GetUserProfile$Response", profile)


_Handler = Callable[[EmulatorCore, AgentSubscriber, Request], Reply]

HANDLERS: dict[str, _Handler] = {
    "GetClock": _get_clock,
    "aam.SubscribeExConversations": _subscribe_conversations,
    "aam.UnsubscribeExConversations": _unsubscribe_conversations,
    "routing.SubscribeRoutingTasks": _subscribe_routing,
    "routing.SetAgentState": _set_agent_state,
    "routing.UpdateRingState": _update_ring_state,
    "cm.UpdateConversationField": _update_conversation_field,
    "ms.PublishEvent": _publish_event,
    "ms.QueryMessages": _query_messages,
    "ms.GenerateURLForUploadFile": _upload_url,
    "ms.GenerateURLForDownloadFile": _download_url,
    "userprofile.GetUserProfile": _user_profile,
}


def request_name(request_type: str) -> str:
    """``.ams.ms.PublishEvent`` and ``ms.PublishEvent`` → ``ms.PublishEvent``."""
    name = request_type.removeprefix(".")
    return name.removeprefix("ams.")


def error_frame(request_id: str, rejection: Rejection) -> str:
    """The response refusing a request with ``rejection``'s code and reason."""
    return build_response(request_id, rejection.code, STRING_RESPONSE, rejection.reason)


def handle_agent_request(
    core: EmulatorCore, socket: AgentSubscriber, request: Request
) -> list[str]:
    """Process one request of a brand socket; return the response, then its follow-ups."""
    handler = HANDLERS.get(request_name(request.type))
    try:
        if handler is None:
            raise Rejection(400, "Unsupported request type")
        reply = handler(core, socket, request)
    except Rejection as rejection:
        return [error_frame(request.request_id, rejection)]
    response = build_response(request.request_id, reply.code, reply.response_type, reply.body)
    return [response, *reply.follow_ups]
