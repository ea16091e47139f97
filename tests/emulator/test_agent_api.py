"""The brand (agent) Messaging API of the emulator, checked with raw frames as LivePerson's
getting-started page and its agent SDK send them: login and refresh, the brand socket,
ringing and accepting, conversation and event notifications in the agent's v2 form, files,
profiles and closing."""

from __future__ import annotations

import argparse
import os
from typing import Any

import pytest
import requests
import websocket

from syncd.emulator.app import redact_path
from syncd.emulator.command import add_arguments, settings_from
from syncd.emulator.faults import Faults
from syncd.emulator.rejection import Rejection
from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from tests.emulator.wire import (
    WAIT_SECONDS,
    Consumer,
    Frame,
    publish_text,
    request_conversation,
    storage_url,
    subscribe_events,
    upload,
)

MANUAL = [EmulatorSettings(agent_accept="manual")]
ROUTING = ".ams.routing.RoutingTaskNotification"
EX_CHANGE = ".ams.aam.ExConversationChangeNotification"
ONLINE_EVENT = ".ams.ms.OnlineEventDistribution"


def login(emulator: RunningEmulator) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/api/account/{emulator.account}/login?v=1.3",
        json={"username": "admin", "password": "admin-password"},
        timeout=WAIT_SECONDS,
    )


def brand_url(emulator: RunningEmulator, bearer: str, version: str = "2.1") -> str:
    path = f"/ws_api/account/{emulator.account}/messaging/brand/{bearer}?v={version}"
    return f"ws://{emulator.host_port}{path}"


def connect_agent(emulator: RunningEmulator, online: bool = True) -> Consumer:
    """Log in, open the brand socket, optionally go ONLINE, subscribe to routing tasks."""
    bearer = login(emulator).json()["bearer"]
    agent = Consumer(websocket.create_connection(brand_url(emulator, bearer), timeout=5))
    if online:
        answer = request(agent, ".ams.routing.SetAgentState", {"availability": "ONLINE"})
        assert answer["code"] == 202, answer
    answer = request(agent, ".ams.routing.SubscribeRoutingTasks", {"channelType": "MESSAGING"})
    assert answer["code"] == 200 and answer["body"]["subscriptionId"], answer
    return agent


_ids = iter(range(1, 1_000_000))


def request(agent: Consumer, request_type: str, body: Any) -> Frame:
    return agent.request({"kind": "req", "id": str(next(_ids)), "type": request_type, "body": body})


def rings(notification: Frame) -> list[dict[str, Any]]:
    return [
        dict(ring, taskCompleted=change["result"]["taskCompleted"], change=change["type"])
        for change in notification["body"]["changes"]
        for ring in change["result"]["ringsDetails"]
    ]


def waiting_ring(agent: Consumer, conversation_id: str) -> dict[str, Any]:
    def rings_waiting(frame: Frame) -> bool:
        return any(
            r["convId"] == conversation_id and r["ringState"] == "WAITING" for r in rings(frame)
        )

    return rings(agent.notification(ROUTING, rings_waiting))[0]


def test_login_refresh_and_the_brand_socket_refuse_what_they_should(
    emulator: RunningEmulator,
) -> None:
    base = f"{emulator.base_url}/api/account/{emulator.account}"
    domains = requests.get(f"{base}/service/baseURI.json?version=1.0", timeout=5).json()
    services = {entry["service"]: entry["baseURI"] for entry in domains["baseURIs"]}
    assert services["agentVep"] == services["asyncMessagingEnt"] == emulator.host_port
    session = requests.Session()
    logged_in = session.post(
        f"{base}/login?v=1.3", json={"username": "admin", "password": "admin-password"}, timeout=5
    ).json()
    assert logged_in["config"]["userPid"] == emulator.core.agent_id
    refreshed = session.post(f"{base}/refresh?v=1.3", json={"csrf": logged_in["csrf"]}, timeout=5)
    assert refreshed.status_code == 200
    wrong_csrf = session.post(f"{base}/refresh?v=1.3", json={"csrf": "nope"}, timeout=5)
    no_cookie = requests.post(f"{base}/refresh?v=1.3", json={"csrf": logged_in["csrf"]}, timeout=5)
    assert (wrong_csrf.status_code, no_cookie.status_code) == (401, 401)
    for url, status in (
        (brand_url(emulator, "not-a-bearer"), 401),
        (brand_url(emulator, logged_in["bearer"], version="3"), 400),
    ):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(url, timeout=5)
        assert refused.value.status_code == status
    masked = redact_path(f"/ws_api/account/1/messaging/brand/{logged_in['bearer']}")
    assert logged_in["bearer"] not in masked


@pytest.mark.parametrize("emulator_settings", MANUAL)
def test_a_new_conversation_rings_and_accepting_joins_the_agent_as_the_console_does(
    emulator: RunningEmulator,
) -> None:
    agent = connect_agent(emulator)
    assert agent.notification(ROUTING)["body"]["changes"] == []  # nothing waits yet
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    ring = waiting_ring(agent, conversation_id)
    assert ring["ringId"] and ring["taskCompleted"] is False
    accepted = request(
        agent, ".ams.routing.UpdateRingState", {"ringId": ring["ringId"], "ringState": "ACCEPTED"}
    )
    assert (accepted["code"], accepted["body"]) == (202, "Ring state updated successfully")
    done = rings(agent.notification(ROUTING))
    assert [(r["ringId"], r["ringState"], r["taskCompleted"]) for r in done] == [
        (ring["ringId"], "ACCEPTED", True)
    ]
    state = emulator.state()["conversations"][0]
    assert state["agentState"] == "active"
    assert {"id": emulator.core.agent_id, "role": "ASSIGNED_AGENT"} in state["participants"]
    again = request(
        agent, ".ams.routing.UpdateRingState", {"ringId": ring["ringId"], "ringState": "ACCEPTED"}
    )
    assert again["code"] == 409
    # The console's Accept marks a ring accepted too: it is one model.
    other = Consumer.connect(emulator)
    second = request_conversation(other)
    ring = waiting_ring(agent, second)
    emulator.accept_conversation(second)
    assert rings(agent.notification(ROUTING))[0]["ringState"] == "ACCEPTED"
    for socket in (agent, consumer, other):
        socket.close()


@pytest.mark.parametrize("emulator_settings", MANUAL)
def test_an_away_agent_is_not_rung_until_it_goes_online_and_leaving_rings_again(
    emulator: RunningEmulator,
) -> None:
    agent = connect_agent(emulator, online=False)
    assert agent.notification(ROUTING)["body"]["changes"] == []
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    probe = request(agent, ".GetClock", {})  # anything a ring would have preceded
    assert probe["code"] == 200 and isinstance(probe["body"]["currentTime"], int)
    assert not [f for f in agent.unclaimed if f.get("type") == ROUTING]
    request(agent, ".ams.routing.SetAgentState", {"availability": "ONLINE"})
    ring = waiting_ring(agent, conversation_id)
    request(
        agent, ".ams.routing.UpdateRingState", {"ringId": ring["ringId"], "ringState": "ACCEPTED"}
    )
    agent.notification(ROUTING, lambda f: rings(f)[0]["ringState"] == "ACCEPTED")
    left = request(
        agent,
        ".ams.cm.UpdateConversationField",
        {
            "conversationId": conversation_id,
            "conversationField": [
                {"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT"}
            ],
        },
    )
    assert (left["code"], left["body"]) == (200, "OK Agent removed successfully")
    assert waiting_ring(agent, conversation_id)["ringId"] != ring["ringId"]
    assert emulator.state()["conversations"][0]["agentState"] == "waiting"
    bad = request(agent, ".ams.routing.SetAgentState", {"availability": "SLEEPING"})
    assert bad["code"] == 400
    agent.close()
    consumer.close()


def update_ring(agent: Consumer, ring: dict[str, Any], state: str) -> Frame:
    return request(
        agent, ".ams.routing.UpdateRingState", {"ringId": ring["ringId"], "ringState": state}
    )


def ring_turned(agent: Consumer, ring: dict[str, Any], state: str) -> dict[str, Any]:
    """Wait for the notification that ``ring`` is now ``state``; return that ring."""

    def turned(frame: Frame) -> bool:
        return any(r["ringId"] == ring["ringId"] and r["ringState"] == state for r in rings(frame))

    return rings(agent.notification(ROUTING, turned))[0]


@pytest.mark.parametrize("emulator_settings", MANUAL)
def test_an_unanswered_ring_expires_and_the_conversation_rings_again_until_accepted(
    emulator: RunningEmulator,
) -> None:
    emulator.set_faults(ring_timeout_seconds=1, ring_pause_seconds=0)
    agent = connect_agent(emulator)
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    first = waiting_ring(agent, conversation_id)
    assert first["ringExpiration"] == 1000
    assert first["ringExpirationTs"] == first["weight"] + 1000
    # The knob sets the lifetime of rings made from now on: the next one may wait longer.
    emulator.set_faults(ring_timeout_seconds=30)
    expired = ring_turned(agent, first, "EXPIRED")
    assert (expired["taskCompleted"], expired["change"]) == (False, "UPSERT")
    second = waiting_ring(agent, conversation_id)
    assert second["ringId"] != first["ringId"] and second["ringExpiration"] == 30_000
    assert emulator.state()["conversations"][0]["agentState"] == "waiting"
    assert update_ring(agent, first, "ACCEPTED")["code"] == 409  # too late for that one
    assert update_ring(agent, second, "ACCEPTED")["code"] == 202
    accepted = ring_turned(agent, second, "ACCEPTED")
    assert accepted["taskCompleted"] is True
    state = emulator.state()["conversations"][0]
    assert state["agentState"] == "active"
    assert {"id": emulator.core.agent_id, "role": "ASSIGNED_AGENT"} in state["participants"]
    agent.close()
    consumer.close()


@pytest.mark.parametrize(
    "emulator_settings", [EmulatorSettings(agent_accept="manual", ring_pause_seconds=1.0)]
)
def test_a_rejected_ring_leaves_the_conversation_waiting_and_it_rings_again_after_the_pause(
    emulator: RunningEmulator,
) -> None:
    agent = connect_agent(emulator)
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    first = waiting_ring(agent, conversation_id)
    before_ms = request(agent, ".GetClock", {})["body"]["currentTime"]
    rejected = update_ring(agent, first, "REJECTED")
    assert (rejected["code"], rejected["body"]) == (202, "Ring state updated successfully")
    assert ring_turned(agent, first, "REJECTED")["taskCompleted"] is False
    assert update_ring(agent, first, "REJECTED")["code"] == 409
    assert emulator.state()["conversations"][0]["agentState"] == "waiting"
    second = waiting_ring(agent, conversation_id)
    assert second["ringId"] != first["ringId"]
    assert second["weight"] >= before_ms + 1000  # rung again only after the pause
    emulator.accept_conversation(conversation_id)  # the console's Accept takes it too
    assert ring_turned(agent, second, "ACCEPTED")["taskCompleted"] is True
    agent.close()
    consumer.close()


def test_ring_times_come_from_the_command_line_and_the_knobs_check_them() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = settings_from(parser.parse_args([]), env=os.environ)
    assert (defaults.ring_timeout_seconds, defaults.ring_pause_seconds) == (72.0, 10.0)
    chosen = settings_from(
        parser.parse_args(["--ring-timeout-seconds", "0", "--ring-pause-seconds", "2.5"]),
        env=os.environ,
    )
    assert (chosen.ring_timeout_seconds, chosen.ring_pause_seconds) == (None, 2.5)
    for option in ("--ring-timeout-seconds", "--ring-pause-seconds"):
        with pytest.raises(ValueError, match=option):
            settings_from(parser.parse_args([option, "-1"]), env=os.environ)
    for bad in ({"ring_timeout_seconds": 0}, {"ring_pause_seconds": -1}):
        with pytest.raises(Rejection):
            Faults().update(bad)


def test_conversation_notifications_have_the_agent_v2_form_and_closing_reaches_the_consumer(
    emulator: RunningEmulator,
) -> None:
    agent = connect_agent(emulator)
    old_id = f"{emulator.account}.1"
    answer = request(
        agent, ".ams.aam.SubscribeExConversations", {"convState": ["OPEN"], "agentIds": [old_id]}
    )
    assert answer["code"] == 200 and answer["body"]["subscriptionId"]
    assert agent.notification(EX_CHANGE)["body"]["changes"] == []
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)  # accepted at once (agent_accept auto)
    upsert = agent.notification(EX_CHANGE)["body"]["changes"][0]
    details = upsert["result"]["conversationDetails"]
    consumer_pid = emulator.state()["conversations"][0]["consumerId"]
    assert upsert["type"] == "UPSERT" and upsert["result"]["convId"] == conversation_id
    assert details["participants"] == {"CONSUMER": [consumer_pid], "ASSIGNED_AGENT": [old_id]}
    assert details["participantsPId"] == {
        "CONSUMER": [consumer_pid],
        "ASSIGNED_AGENT": [emulator.core.agent_id],
    }
    assert details["dialogs"][0]["participantsDetails"][1]["state"] == "ACTIVE"
    joined = request(
        agent,
        ".ams.cm.UpdateConversationField",
        {
            "conversationId": conversation_id,
            "conversationField": [
                {"field": "ParticipantsChange", "type": "ADD", "role": "MANAGER"}
            ],
        },
    )
    assert (joined["code"], joined["body"]) == (200, "OK Agent added successfully")
    as_manager = agent.notification(EX_CHANGE)["body"]["changes"][0]["result"]
    assert as_manager["conversationDetails"]["participantsPId"]["MANAGER"] == [
        emulator.core.agent_id
    ]
    closed = request(
        agent,
        ".ams.cm.UpdateConversationField",
        {
            "conversationId": conversation_id,
            "conversationField": [
                {"field": "ConversationStateField", "conversationState": "CLOSE"}
            ],
        },
    )
    assert closed["code"] == 200, closed
    assert agent.notification(EX_CHANGE)["body"]["changes"][0]["type"] == "DELETE"
    state = emulator.state()["conversations"][0]
    assert (state["state"], state["closeReason"]) == ("CLOSE", "AGENT")
    unknown = request(agent, ".ams.cm.UpdateConversationField", {"conversationId": "nope"})
    assert unknown["code"] == 400
    agent.close()
    consumer.close()


def test_events_flow_both_ways_and_query_messages_starts_at_its_sequence(
    emulator: RunningEmulator,
) -> None:
    agent = connect_agent(emulator)
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    subscribe_events(consumer, conversation_id)
    for index in range(3):
        assert publish_text(consumer, conversation_id, f"text {index}", f"p{index}")["code"] == 200
    online = agent.notification(ONLINE_EVENT, lambda f: f["body"]["sequence"] == 2)["body"]
    assert online["originatorPId"] == online["originatorId"] == online["originatorMetadata"]["id"]
    assert online["dialogId"] == conversation_id and online["event"]["message"] == "text 2"
    queried = request(
        agent, ".ams.ms.QueryMessages", {"dialogId": conversation_id, "newerThanSequence": 1}
    )
    assert queried["type"] == ".ams.ms.QueryMessages$Response"
    assert [change["sequence"] for change in queried["body"]] == [1, 2]
    sent = request(
        agent,
        ".ams.ms.PublishEvent",
        {
            "dialogId": conversation_id,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "answer"},
        },
    )
    assert sent["body"] == {"sequence": 3}
    seen = consumer.notification("ms.MessagingEventNotification", lambda f: "answer" in str(f))
    change = seen["body"]["changes"][0]
    assert change["originatorMetadata"] == {"id": emulator.core.agent_id, "role": "ASSIGNED_AGENT"}
    typing = request(
        agent,
        "ms.PublishEvent",  # the getting-started page's spelling
        {
            "dialogId": conversation_id,
            "event": {"type": "ChatStateEvent", "chatState": "COMPOSING"},
        },
    )
    assert typing["code"] == 200
    agent.close()
    consumer.close()


def test_agent_files_go_through_the_same_store_and_urls(emulator: RunningEmulator) -> None:
    agent = connect_agent(emulator)
    consumer = Consumer.connect(emulator)
    conversation_id = request_conversation(consumer)
    subscribe_events(consumer, conversation_id)
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n"
    url = request(
        agent, ".ams.ms.GenerateURLForUploadFile", {"fileSize": len(pdf), "fileType": "PDF"}
    )
    assert url["code"] == 200 and url["body"]["relativePath"].endswith(".PDF")
    put = requests.put(storage_url(emulator, url["body"]), data=pdf, timeout=5)
    assert put.status_code == 201
    message = {"caption": "form", "relativePath": url["body"]["relativePath"], "fileType": "PDF"}
    event = {"type": "ContentEvent", "contentType": "hosted/file", "message": message}
    published = request(
        agent, ".ams.ms.PublishEvent", {"dialogId": conversation_id, "event": event}
    )
    assert published["code"] == 200, published
    file_seen = consumer.notification("ms.MessagingEventNotification", lambda f: "form" in str(f))
    assert (
        file_seen["body"]["changes"][0]["event"]["message"]["relativePath"]
        == message["relativePath"]
    )
    scan = upload(emulator, consumer, b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    link = request(agent, ".ams.ms.GenerateURLForDownloadFile", {"relativePath": scan})
    fetched = requests.get(storage_url(emulator, link["body"]), timeout=5)
    assert fetched.content.startswith(b"\x89PNG")
    for body in (
        {"fileSize": 10, "fileType": "EXE"},
        {"fileSize": 6 * 1024 * 1024, "fileType": "PDF"},
    ):
        assert request(agent, ".ams.ms.GenerateURLForUploadFile", body)["code"] == 400
    missing = dict(message, relativePath=message["relativePath"] + "x")
    event = {"type": "ContentEvent", "contentType": "hosted/file", "message": missing}
    assert (
        request(agent, ".ams.ms.PublishEvent", {"dialogId": conversation_id, "event": event})[
            "code"
        ]
        == 400
    )
    agent.close()
    consumer.close()


def test_user_profiles_of_the_agent_and_of_a_consumer(emulator: RunningEmulator) -> None:
    agent = connect_agent(emulator)
    consumer = Consumer.connect(emulator)
    request_conversation(consumer)
    consumer_id = emulator.state()["conversations"][0]["consumerId"]
    own = request(agent, ".ams.userprofile.GetUserProfile", {})
    assert own["body"] == {"userId": f"{emulator.account}.1"}
    profile = request(agent, ".ams.userprofile.GetUserProfile", consumer_id)  # as the SDK sends it
    assert profile["type"] == ".ams.userprofile.GetUserProfile$Response"
    assert profile["body"]["privateData"] == {"userId": consumer_id}
    by_field = request(agent, ".ams.userprofile.GetUserProfile", {"userId": consumer_id})
    assert by_field["body"] == profile["body"]
    assert request(agent, ".ams.userprofile.GetUserProfile", "someone-else")["code"] == 404
    assert request(agent, ".ams.routing.Nonsense", {})["code"] == 400
    agent.close()
    consumer.close()
