"""Messaging events: sequences per dialog, replay from fromSeq, distribution, hosted files."""

from __future__ import annotations

from typing import Any

import requests

from syncd.emulator.server import RunningEmulator
from tests.emulator.wire import (
    Consumer,
    download,
    make_image,
    publish_text,
    request_conversation,
    signup,
    subscribe_events,
    upload,
)

EVENT = "ms.MessagingEventNotification"


def _publish(
    consumer: Consumer, dialog_id: str, event: dict[str, Any], request_id: str
) -> dict[str, Any]:
    return consumer.request(
        {
            "kind": "req",
            "id": request_id,
            "type": "ms.PublishEvent",
            "body": {"dialogId": dialog_id, "event": event},
        }
    )


def _hosted_file(relative_path: str, **overrides: Any) -> dict[str, Any]:
    message = {"caption": "scan", "relativePath": relative_path, "fileType": "PNG"} | overrides
    message = {key: value for key, value in message.items() if value is not None}
    return {"type": "ContentEvent", "contentType": "hosted/file", "message": message}


def _replayed_sequences(frames: list[dict[str, Any]]) -> list[int]:
    return [c["sequence"] for f in frames if f.get("type") == EVENT for c in f["body"]["changes"]]


def test_sequences_count_per_dialog_from_zero_for_content_and_accept_events(
    emulator: RunningEmulator,
) -> None:
    first = Consumer.connect(emulator)
    second = Consumer.connect(emulator)
    first_dialog = request_conversation(first)
    second_dialog = request_conversation(second)
    assert publish_text(first, first_dialog, "one", "1")["body"] == {"sequence": 0}
    accept = {"type": "AcceptStatusEvent", "status": "ACCEPT", "sequenceList": [0]}
    assert _publish(first, first_dialog, accept, "2")["body"] == {"sequence": 1}
    typing = {"type": "ChatStateEvent", "chatState": "COMPOSING"}
    assert _publish(first, first_dialog, typing, "3")["body"] == {"sequence": 0}
    assert publish_text(first, first_dialog, "two", "4")["body"] == {"sequence": 2}
    assert publish_text(second, second_dialog, "other dialog", "5")["body"] == {"sequence": 0}
    first.close()
    second.close()


def test_chat_state_is_distributed_without_sequence_or_timestamp(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    subscribe_events(consumer, dialog_id)
    _publish(consumer, dialog_id, {"type": "ChatStateEvent", "chatState": "COMPOSING"}, "t")
    [change] = consumer.notification(EVENT)["body"]["changes"]
    assert "sequence" not in change
    assert "serverTimestamp" not in change
    assert change["event"] == {"type": "ChatStateEvent", "chatState": "COMPOSING"}
    assert emulator.state()["conversations"][0]["events"] == []
    consumer.close()


def test_subscribing_replays_from_from_seq_before_the_next_request_is_answered(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    writer = Consumer.connect(emulator, token)
    dialog_id = request_conversation(writer)
    for number in range(5):
        publish_text(writer, dialog_id, f"message {number}", f"p{number}")
    reader = Consumer.connect(emulator, token)
    reader.send(
        {
            "kind": "req",
            "id": "sub",
            "type": "ms.SubscribeMessagingEvents",
            "body": {"dialogId": dialog_id, "fromSeq": 3},
        }
    )
    reader.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    frames = reader.frames_until_response("barrier")
    assert frames[0] == {
        "kind": "resp",
        "reqId": "sub",
        "code": 200,
        "body": {},
        "type": "GenericSubscribeResponse",
    }
    assert _replayed_sequences(frames) == [3, 4]
    texts = [
        c["event"]["message"]
        for f in frames
        if f.get("type") == EVENT
        for c in f["body"]["changes"]
    ]
    assert texts == ["message 3", "message 4"]
    writer.close()
    reader.close()


def test_long_replays_come_in_several_notifications_in_order(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    for number in range(45):
        publish_text(consumer, dialog_id, str(number), f"p{number}")
    subscribe_events(consumer, dialog_id, from_sequence=0)
    consumer.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    frames = consumer.frames_until_response("barrier")
    notifications = [f for f in frames if f.get("type") == EVENT]
    assert len(notifications) > 1
    assert _replayed_sequences(frames) == list(range(45))
    consumer.close()


def test_live_events_reach_every_subscribed_socket_of_the_consumer(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    first = Consumer.connect(emulator, token)
    second = Consumer.connect(emulator, token)
    dialog_id = request_conversation(first)
    subscribe_events(first, dialog_id)
    subscribe_events(second, dialog_id)
    publish_text(first, dialog_id, "to both", "p")
    for socket in (first, second):
        [change] = socket.notification(EVENT)["body"]["changes"]
        assert change["event"]["message"] == "to both"
        assert change["sequence"] == 0
    first.close()
    second.close()


def test_publish_response_comes_before_the_notification_it_causes(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    subscribe_events(consumer, dialog_id)
    consumer.send(
        {
            "kind": "req",
            "id": "p",
            "type": "ms.PublishEvent",
            "body": {
                "dialogId": dialog_id,
                "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "x"},
            },
        }
    )
    consumer.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    kinds = [(f["kind"], f.get("reqId")) for f in consumer.frames_until_response("barrier")]
    assert kinds == [("resp", "p"), ("notification", None), ("resp", "barrier")]
    consumer.close()


def test_hosted_file_needs_caption_file_type_and_an_uploaded_object(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    relative_path = upload(emulator, consumer, make_image("PNG"))
    never_uploaded = relative_path.replace("_uuid_", "_uuid_0")
    assert (
        _publish(consumer, dialog_id, _hosted_file(relative_path, caption=None), "1")["code"] == 400
    )
    assert (
        _publish(consumer, dialog_id, _hosted_file(relative_path, fileType=None), "2")["code"]
        == 400
    )
    assert (
        _publish(consumer, dialog_id, _hosted_file(relative_path, fileType="BMP"), "3")["code"]
        == 400
    )
    refused = _publish(consumer, dialog_id, _hosted_file(never_uploaded), "4")
    assert refused["code"] == 400
    assert isinstance(refused["body"], str)
    assert _publish(consumer, dialog_id, _hosted_file(relative_path, caption=""), "5")["body"] == {
        "sequence": 0
    }
    consumer.close()


def test_hosted_file_preview_must_stay_under_30000_characters(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    relative_path = upload(emulator, consumer, make_image("PNG"))
    prefix = "data:image/png;base64,"
    too_big = prefix + "A" * (30_000 - len(prefix))
    just_fits = prefix + "A" * (29_999 - len(prefix))
    assert (
        _publish(consumer, dialog_id, _hosted_file(relative_path, preview=too_big), "1")["code"]
        == 400
    )
    assert (
        _publish(consumer, dialog_id, _hosted_file(relative_path, preview=just_fits), "2")["code"]
        == 200
    )
    consumer.close()


def test_agent_file_reaches_the_consumer_as_a_downloadable_hosted_file(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    subscribe_events(consumer, dialog_id)
    image = make_image("JPEG", (40, 30))
    answer = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{dialog_id}/agent-file?caption=Your%20receipt",
        data=image,
        timeout=5,
    )
    assert answer.status_code == 200
    sent = answer.json()
    [change] = consumer.notification(EVENT)["body"]["changes"]
    assert change["sequence"] == sent["sequence"] == 0
    assert change["originatorMetadata"]["role"] == "ASSIGNED_AGENT"
    assert change["event"] == {
        "type": "ContentEvent",
        "contentType": "hosted/file",
        "message": {
            "caption": "Your receipt",
            "relativePath": sent["relativePath"],
            "fileType": "JPG",
        },
    }
    got = download(emulator, consumer, sent["relativePath"])
    assert got.content == image
    assert got.headers["Content-Type"] == "image/jpeg"
    consumer.close()


def test_agent_file_of_an_unknown_type_is_refused(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    answer = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{dialog_id}/agent-file",
        data=b"PK\x03\x04 a zip archive",
        timeout=5,
    )
    assert answer.status_code == 400
    assert "error" in answer.json()
    missing = requests.post(
        f"{emulator.base_url}/_emulator/conversations/nope/agent-file", data=make_image(), timeout=5
    )
    assert missing.status_code == 404
    consumer.close()


def test_agent_text_may_be_json_or_plain_text(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    base = f"{emulator.base_url}/_emulator/conversations/{dialog_id}/agent-message"
    assert requests.post(base, json={"text": "as json"}, timeout=5).json() == {"sequence": 0}
    plain = requests.post(base, data=b"as text", headers={"Content-Type": "text/plain"}, timeout=5)
    assert plain.json() == {"sequence": 1}
    events = emulator.state()["conversations"][0]["events"]
    assert [e["event"]["message"] for e in events] == ["as json", "as text"]
    assert {e["role"] for e in events} == {"ASSIGNED_AGENT"}
    consumer.close()


def test_agent_may_send_a_pdf_document(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    document = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    sent = emulator.send_agent_file(dialog_id, document, "contract")
    assert sent["relativePath"].endswith(".PDF")
    [event] = emulator.state()["conversations"][0]["events"]
    assert event["event"]["message"]["fileType"] == "PDF"
    got = download(emulator, consumer, sent["relativePath"])
    assert got.content == document
    assert got.headers["Content-Type"] == "application/pdf"
    consumer.close()
