"""Conversations: one open per consumer, skills, ExConversation notifications, closing."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from tests.emulator.wire import Consumer, jwt_part, publish_text, request_conversation, signup

EX_CHANGE = "cqm.ExConversationChangeNotification"
SUBSCRIBE_OPEN_AND_CLOSED = (
    '{"kind":"req","id":"33","body":{"minLastUpdatedTime":0,"convState":["OPEN","CLOSE"]},'
    '"type":"cqm.SubscribeExConversations"}'
)
SUBSCRIBE_OPEN = (
    '{"kind":"req","id":"34","body":{"convState":["OPEN"]},"type":"cqm.SubscribeExConversations"}'
)


def _subscribe(consumer: Consumer, frame: str) -> tuple[str, dict[str, Any]]:
    """Subscribe and return (subscriptionId, the initial notification)."""
    response = consumer.request(frame)
    assert response["code"] == 200
    assert response["type"] == "cqm.SubscribeExConversationsResponse"
    subscription_id = str(response["body"]["subscriptionId"])
    initial = consumer.notification(EX_CHANGE)
    assert initial["body"]["subscriptionId"] == subscription_id
    return subscription_id, initial


def _next_change(consumer: Consumer) -> dict[str, Any]:
    notification = consumer.notification(EX_CHANGE)
    [change] = notification["body"]["changes"]
    return dict(change)


def _close_frame(conversation_id: str, request_id: str, as_array: bool) -> dict[str, Any]:
    field = {"field": "ConversationStateField", "conversationState": "CLOSE"}
    return {
        "kind": "req",
        "id": request_id,
        "type": "cm.UpdateConversationField",
        "body": {
            "conversationId": conversation_id,
            "conversationField": [field] if as_array else field,
        },
    }


def test_second_open_conversation_of_a_consumer_is_refused_with_400(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    request_conversation(consumer, "1")
    second = consumer.request('{"kind":"req","id":"2","type":"cm.ConsumerRequestConversation"}')
    assert second["code"] == 400
    assert second["type"] == "StringResponse"
    assert isinstance(second["body"], str)
    assert len(emulator.state()["conversations"]) == 1
    consumer.close()


def test_a_new_conversation_may_start_once_the_previous_one_is_closed(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    first = request_conversation(consumer, "1")
    assert consumer.request(_close_frame(first, "2", as_array=True))["code"] == 200
    second = request_conversation(consumer, "3")
    assert second != first
    consumer.close()


def test_subscription_without_conversations_gets_an_empty_change_list(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    _, initial = _subscribe(consumer, SUBSCRIBE_OPEN_AND_CLOSED)
    assert initial["body"]["changes"] == []
    consumer.close()


def test_new_conversation_is_upserted_with_v3_details_and_the_requested_skill(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    consumer_id = jwt_part(token, 1)["sub"]
    consumer = Consumer.connect(emulator, token)
    _subscribe(consumer, SUBSCRIBE_OPEN)
    created = consumer.request(
        {
            "kind": "req",
            "id": "1",
            "type": "cm.ConsumerRequestConversation",
            "body": {"channelType": "MESSAGING", "skillId": "1234"},
        }
    )
    conversation_id = created["body"]["conversationId"]
    change = _next_change(consumer)
    assert change["type"] == "UPSERT"
    assert change["result"]["convId"] == conversation_id
    details = change["result"]["conversationDetails"]
    assert details["participants"] == [{"id": consumer_id, "role": "CONSUMER"}]
    assert details["skillId"] == "1234"
    assert details["brandId"] == emulator.account
    assert details["state"] == "OPEN"
    assert details["stage"] == "OPEN"
    assert isinstance(details["startTs"], int)
    assert isinstance(details["metaDataLastUpdateTs"], int)
    [dialog] = details["dialogs"]
    assert dialog["dialogId"] == conversation_id
    assert dialog["dialogType"] == "MAIN"
    assert "closeReason" not in details
    assert emulator.state()["conversations"][0]["skillId"] == "1234"
    consumer.close()


def test_conversation_without_skill_targets_the_default_skill(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    request_conversation(consumer)
    assert emulator.state()["conversations"][0]["skillId"] == "-1"
    consumer.close()


def test_existing_open_conversation_is_in_the_initial_notification(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    first_socket = Consumer.connect(emulator, token)
    conversation_id = request_conversation(first_socket)
    second_socket = Consumer.connect(emulator, token)
    _, initial = _subscribe(second_socket, SUBSCRIBE_OPEN)
    [change] = initial["body"]["changes"]
    assert change["type"] == "UPSERT"
    assert change["result"]["convId"] == conversation_id
    first_socket.close()
    second_socket.close()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(agent_accept="manual")])
def test_agent_joining_is_upserted_with_an_assigned_agent(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    _subscribe(consumer, SUBSCRIBE_OPEN)
    base = f"{emulator.base_url}/_emulator/conversations/{conversation_id}"
    # With manual accept the agent cannot send before accepting.
    refused = requests.post(f"{base}/agent-message", json={"text": "Hello"}, timeout=5)
    assert refused.status_code == 409
    answer = requests.post(f"{base}/accept", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["state"] == "active"
    change = _next_change(consumer)
    assert change["type"] == "UPSERT"
    roles = [p["role"] for p in change["result"]["conversationDetails"]["participants"]]
    assert roles == ["CONSUMER", "ASSIGNED_AGENT"]
    consumer.close()


def test_closing_deletes_the_conversation_from_an_open_only_subscription(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    _subscribe(consumer, SUBSCRIBE_OPEN)
    closed = consumer.request(_close_frame(conversation_id, "9", as_array=True))
    assert closed["code"] == 200
    assert closed["type"] == "StringResponse"
    assert isinstance(closed["body"], str)
    change = _next_change(consumer)
    assert change == {"type": "DELETE", "result": {"convId": conversation_id}}
    consumer.close()


def test_consumer_close_with_a_single_field_object_is_upserted_as_closed(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    _subscribe(consumer, SUBSCRIBE_OPEN_AND_CLOSED)
    assert consumer.request(_close_frame(conversation_id, "9", as_array=False))["code"] == 200
    change = _next_change(consumer)
    assert change["type"] == "UPSERT"
    details = change["result"]["conversationDetails"]
    assert details["state"] == "CLOSE"
    assert details["stage"] == "CLOSE"
    assert details["closeReason"] == "CONSUMER"
    assert details["endTs"] >= details["startTs"]
    assert emulator.state()["conversations"][0]["state"] == "CLOSE"
    consumer.close()


def test_agent_close_through_the_control_api_has_close_reason_agent(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    _subscribe(consumer, SUBSCRIBE_OPEN_AND_CLOSED)
    answer = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/close", timeout=5
    )
    assert answer.json() == {"id": conversation_id, "state": "CLOSE"}
    details = _next_change(consumer)["result"]["conversationDetails"]
    assert details["closeReason"] == "AGENT"
    again = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/close", timeout=5
    )
    assert again.status_code == 409
    consumer.close()


def test_publishing_to_a_closed_or_unknown_dialog_is_refused_with_400(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    consumer.request(_close_frame(conversation_id, "c", as_array=True))
    closed = publish_text(consumer, conversation_id, "too late", "p1")
    assert closed["code"] == 400
    unknown = publish_text(consumer, "00000000-0000-4000-8000-000000000000", "nobody", "p2")
    assert unknown["code"] == 400
    consumer.close()


def test_another_consumers_conversation_cannot_be_used(emulator: RunningEmulator) -> None:
    owner = Consumer.connect(emulator)
    conversation_id = request_conversation(owner)
    stranger = Consumer.connect(emulator)
    assert publish_text(stranger, conversation_id, "intrusion", "p")["code"] == 400
    assert stranger.request(_close_frame(conversation_id, "c", as_array=True))["code"] == 400
    owner.close()
    stranger.close()


def test_unsubscribed_subscription_hears_nothing_more(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    subscription_id, _ = _subscribe(consumer, SUBSCRIBE_OPEN)
    unsubscribed = consumer.request(
        {
            "kind": "req",
            "id": "u",
            "type": "cqm.UnsubscribeExConversations",
            "body": {"subscriptionId": subscription_id},
        }
    )
    assert unsubscribed["code"] == 200
    request_conversation(consumer)
    # GetClock is a barrier: everything the conversation request caused is sent before it.
    consumer.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    frames = consumer.frames_until_response("barrier")
    assert [f for f in frames if f.get("type") == EX_CHANGE] == []
    consumer.close()
