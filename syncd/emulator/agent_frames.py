"""The shapes of what the brand (agent) WebSocket sends: notifications and event changes.

These are the wire forms LivePerson's UMS sends to agents, which LivePerson's own
``node-agent-sdk`` 1.2.0 reads (``lib/Transformer.js``) and turns into the events its README
documents:

* ``.ams.aam.ExConversationChangeNotification`` (the SDK's
  ``cqm.ExConversationChangeNotification``):
  ``conversationDetails.participants`` maps each role to the participants' *old* ids
  (``{account}.{userId}`` for agents) and ``participantsPId`` maps each role to their
  participant ids (uuids); the SDK rebuilds the v3 list from the latter.
* ``.ams.ms.OnlineEventDistribution`` (the SDK's ``ms.MessagingEventNotification``): one event,
  with ``originatorId`` the old id and ``originatorPId`` the participant id, as in
  developer-center ``agent-int-getting-started.html`` step 7.
* ``.ams.routing.RoutingTaskNotification`` (the SDK's ``routing.RoutingTaskNotification``).

Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

from syncd.emulator.model import Conversation, StoredEvent
from syncd.liveperson.protocol import build_notification

EX_CONVERSATION_CHANGE = ".ams.aam.ExConversationChangeNotification"
ONLINE_EVENT = ".ams.ms.OnlineEventDistribution"
ROUTING_TASK = ".ams.routing.RoutingTaskNotification"
AGENT_USER_ID = "1"  # the emulator admin's ``config.userId`` at login


def old_agent_id(account: str) -> str:
    """The emulated agent's id in LivePerson's older form, ``{account}.{userId}``."""
    return f"{account}.{AGENT_USER_ID}"


class AgentIds:
    """Translates participant ids (uuids) to the older ids the agent API also shows."""

    def __init__(self, account: str, agent_pid: str) -> None:
        self.account = account
        self.agent_pid = agent_pid
        self.agent_old_id = old_agent_id(account)

    def old(self, participant_id: str) -> str:
        """The old id of a participant: the agent's ``{account}.1``, anyone else's own id."""
        return self.agent_old_id if participant_id == self.agent_pid else participant_id


def event_change(ids: AgentIds, event: StoredEvent) -> dict[str, Any]:
    """One event as the agent API carries it (``originatorId`` old, ``originatorPId`` new)."""
    change = event.as_change()
    change["originatorId"] = ids.old(event.originator_id)
    change["originatorPId"] = event.originator_id
    return change


def conversation_details(ids: AgentIds, conversation: Conversation) -> dict[str, Any]:
    """``conversationDetails`` in the agent API's v2 form (role → ids maps)."""
    details = conversation.details()
    by_role: dict[str, list[str]] = {}
    for participant_id, role in conversation.participants:
        by_role.setdefault(role, []).append(participant_id)
    details["participants"] = {
        role: [ids.old(pid) for pid in pids] for role, pids in by_role.items()
    }
    details["participantsPId"] = by_role
    details["convId"] = conversation.conversation_id
    return details


def conversation_change(
    ids: AgentIds, conversation: Conversation, deleted: bool = False
) -> dict[str, Any]:
    """An UPSERT (or DELETE) change of an ExConversationChangeNotification."""
    result: dict[str, Any] = {
        "convId": conversation.conversation_id,
        "effectiveTTR": -1,
        "conversationDetails": conversation_details(ids, conversation),
    }
    last = conversation.last_content_event()
    if last is not None:
        result["lastContentEventNotification"] = event_change(ids, last)
    return {"type": "DELETE" if deleted else "UPSERT", "result": result}


def conversation_frame(subscription_id: str, changes: list[dict[str, Any]]) -> str:
    """One ``.ams.aam.ExConversationChangeNotification`` frame."""
    body = {"subscriptionId": subscription_id, "changes": changes}
    return build_notification(EX_CONVERSATION_CHANGE, body)


def online_event_frame(ids: AgentIds, event: StoredEvent) -> str:
    """One ``.ams.ms.OnlineEventDistribution`` frame carrying ``event``."""
    return build_notification(ONLINE_EVENT, event_change(ids, event))


def routing_frame(subscription_id: str, changes: list[dict[str, Any]]) -> str:
    """One ``.ams.routing.RoutingTaskNotification`` frame."""
    return build_notification(ROUTING_TASK, {"subscriptionId": subscription_id, "changes": changes})
