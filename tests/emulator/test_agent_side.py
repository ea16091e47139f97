"""The emulator as agents and LivePerson really behave, checked with raw documented frames:
accepting, auto-closing, resuming, every agent file type, late and repeated history, and
participant ids unlike the token's ``sub``."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
import requests

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from tests.emulator.wire import (
    Consumer,
    jwt_part,
    publish_text,
    request_conversation,
    signup,
    subscribe_events,
)

EX_CHANGE = "cqm.ExConversationChangeNotification"
EVENTS = "ms.MessagingEventNotification"
SUBSCRIBE_OPEN = (
    '{"kind":"req","id":"open","body":{"convState":["OPEN"]},"type":"cqm.SubscribeExConversations"}'
)


def _changes(notification: dict[str, Any]) -> list[dict[str, Any]]:
    return list(notification["body"]["changes"])


def _roles(change: dict[str, Any]) -> list[str]:
    return [p["role"] for p in change["result"]["conversationDetails"]["participants"]]


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w/>")
    return buffer.getvalue()


def test_by_default_the_agent_accepts_a_conversation_as_it_is_requested(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    state = emulator.state()["conversations"][0]
    assert state["id"] == conversation_id
    assert state["agentState"] == "active"
    assert [p["role"] for p in state["participants"]] == ["CONSUMER", "ASSIGNED_AGENT"]
    consumer.close()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(agent_accept="manual")])
def test_with_manual_accept_a_conversation_waits_until_the_agent_accepts(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    assert emulator.state()["conversations"][0]["agentState"] == "waiting"
    emulator.accept_conversation(conversation_id)
    assert emulator.state()["conversations"][0]["agentState"] == "active"
    consumer.close()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(auto_close_seconds=1)])
def test_an_inactive_consumer_s_conversation_is_closed_by_the_system(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    consumer.request(SUBSCRIBE_OPEN)
    consumer.notification(EX_CHANGE)  # the snapshot
    deleted = consumer.notification(
        EX_CHANGE, lambda f: any(c["type"] == "DELETE" for c in _changes(f))
    )
    assert _changes(deleted)[0]["result"]["convId"] == conversation_id
    assert emulator.state()["conversations"][0]["closeReason"] == "SYSTEM"
    consumer.close()


def test_an_agent_resumes_a_closed_conversation_by_sending_into_it(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    emulator.close_conversation(conversation_id)
    consumer.request(SUBSCRIBE_OPEN)
    snapshot = consumer.notification(EX_CHANGE)
    assert _changes(snapshot) == []
    answer = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-message",
        json={"text": "one more thing"},
        timeout=5,
    )
    assert answer.status_code == 200
    resumed = consumer.notification(EX_CHANGE)
    [change] = _changes(resumed)
    assert change["type"] == "UPSERT"
    assert change["result"]["conversationDetails"]["state"] == "OPEN"
    consumer.close()


@pytest.mark.parametrize(
    ("data", "file_type"),
    [
        (b"%PDF-1.4\n%%EOF\n", "PDF"),
        (_docx(), "DOCX"),
    ],
)
def test_an_agent_sends_documents_typed_by_their_content(
    emulator: RunningEmulator, data: bytes, file_type: str
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    answer = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-file?caption=doc",
        data=data,
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["fileType"] == file_type
    refused = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-file",
        data=b"MZ an executable",
        timeout=5,
    )
    assert refused.status_code == 400
    consumer.close()


def test_conversation_metadata_carries_the_last_content_sequence(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    publish_text(consumer, conversation_id, "first", "p1")
    publish_text(consumer, conversation_id, "second", "p2")
    consumer.request(SUBSCRIBE_OPEN)
    [change] = _changes(consumer.notification(EX_CHANGE))
    last = change["result"]["lastContentEventNotification"]
    assert last["sequence"] == 1
    assert last["event"]["message"] == "second"
    consumer.close()


@pytest.mark.parametrize(
    "emulator_settings", [EmulatorSettings(participant_ids="distinct", history_delay_ms=300)]
)
def test_history_comes_late_split_and_repeated_and_ids_differ_from_the_token(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    consumer = Consumer.connect(emulator, token)
    conversation_id = request_conversation(consumer)
    for number in range(8):
        assert (
            publish_text(consumer, conversation_id, f"text {number}", f"p{number}")["code"] == 200
        )
    subscribed = subscribe_events(consumer, conversation_id, 0)
    assert subscribed["code"] == 200
    clock = consumer.request('{"kind":"req","id":"clock","type":"GetClock"}')
    assert clock["code"] == 200
    # The response to the later GetClock came before any of the history.
    assert not [f for f in consumer.unclaimed if f.get("type") == EVENTS]
    seen: list[int] = []
    notifications = 0
    while sorted(set(seen)) != list(range(8)):
        notification = consumer.notification(EVENTS)
        notifications += 1
        changes = _changes(notification)
        assert 1 <= len(changes) <= 3
        for change in changes:
            seen.append(change["sequence"])
            assert change["originatorMetadata"]["role"] == "CONSUMER"
            assert change["originatorId"] != jwt_part(token, 1)["sub"]
    assert notifications >= 3
    consumer.close()
