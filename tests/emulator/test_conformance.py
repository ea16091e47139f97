"""The documented frames, sent verbatim as JSON text, get the documented answers.

Frames come from LivePerson's file-sharing tutorial ("Using bash") and protocol.md; answers
are checked with plain dict assertions, never through syncd's own protocol module.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from syncd.emulator.server import RunningEmulator
from tests.emulator.wire import (
    Consumer,
    jwt_part,
    make_image,
    read_close_code,
    signup,
    storage_url,
)

ANY_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

CREATE_CONVERSATION = '{"kind":"req","id":1,"type":"cm.ConsumerRequestConversation"}'
UPLOAD_URL = (
    '{"kind":"req","id":"3","body":{"fileSize":1000,"fileType":"PNG"},'
    '"type":"ms.GenerateURLForUploadFile"    }'
)
PUBLISH = (
    '{"kind":"req","id":"22","body":{"dialogId":"__CONVERSATION_ID__","event":{"type":"ContentEvent",'
    '"message":{"caption":"LivePerson logo","relativePath":"__relative_path__","fileType":"PNG",'
    '"preview":"data:image/png;base64,<Base64Image>"},"contentType":"hosted/file"}},'
    '"type":"ms.PublishEvent"}'
)
DOWNLOAD_URL = (
    '{"kind":"req","id":"33","body":{"relativePath":"__relative_path__"},'
    '"type":"ms.GenerateURLForDownloadFile"}'
)


def _relative_path_pattern(
    emulator: RunningEmulator, consumer_id: str, file_type: str
) -> re.Pattern[str]:
    return re.compile(
        rf"^/v1/AUTH_async-images/{emulator.account}/{consumer_id}_uuid_"
        r"[0-9a-f-]{36}_\d{2}-\d{2}-\d{4}_\d{2}-\d{2}-\d{2}-\d{3}\." + file_type + "$"
    )


def _consumer_id(token: str) -> str:
    return str(jwt_part(token, 1)["sub"])


def _create_conversation_and_upload_url(
    emulator: RunningEmulator,
) -> tuple[Consumer, str, dict[str, object]]:
    token = signup(emulator)
    consumer = Consumer.connect(emulator, token)
    created = consumer.request(CREATE_CONVERSATION)
    assert created["kind"] == "resp"
    assert created["reqId"] == "1"  # the numeric id comes back as a string
    assert created["code"] == 200
    assert created["type"] == "cm.RequestConversationResponse"
    assert ANY_UUID.match(created["body"]["conversationId"])
    upload = consumer.request(UPLOAD_URL)
    assert upload["reqId"] == "3"
    assert upload["code"] == 200
    assert upload["type"] == "ms.GenerateURLResponse"
    assert set(upload["body"]) == {"relativePath", "queryParams"}
    assert _relative_path_pattern(emulator, _consumer_id(token), "PNG").match(
        upload["body"]["relativePath"]
    )
    query = upload["body"]["queryParams"]
    assert re.fullmatch(r"[0-9a-f]{40}", query["temp_url_sig"])
    assert isinstance(query["temp_url_expires"], str) and query["temp_url_expires"].isdigit()
    return consumer, created["body"]["conversationId"], upload["body"]


def _publish_and_ask_for_download(
    consumer: Consumer, conversation_id: str, relative_path: str
) -> dict[str, object]:
    published = consumer.request(
        PUBLISH.replace("__CONVERSATION_ID__", conversation_id).replace(
            "__relative_path__", relative_path
        )
    )
    assert published == {
        "kind": "resp",
        "reqId": "22",
        "code": 200,
        "body": {"sequence": 0},
        "type": "ms.PublishEventResponse",
    }
    download = consumer.request(DOWNLOAD_URL.replace("__relative_path__", relative_path))
    assert download["reqId"] == "33"
    assert download["code"] == 200
    assert download["body"]["relativePath"] == relative_path
    assert re.fullmatch(r"[0-9a-f]{40}", download["body"]["queryParams"]["temp_url_sig"])
    body: dict[str, object] = download["body"]
    return body


def test_documented_file_sharing_frames_round_trip_an_image(emulator: RunningEmulator) -> None:
    consumer, conversation_id, upload_body = _create_conversation_and_upload_url(emulator)
    image = make_image("PNG")
    put = requests.put(storage_url(emulator, upload_body), data=image, timeout=5)
    assert put.status_code == 201
    assert put.headers["ETag"] == hashlib.md5(image).hexdigest()
    download_body = _publish_and_ask_for_download(
        consumer, conversation_id, str(upload_body["relativePath"])
    )
    got = requests.get(storage_url(emulator, download_body), timeout=5)
    assert got.status_code == 200
    assert got.content == image
    consumer.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not on PATH")
def test_documented_curl_upload_and_download_round_trip_an_image(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    consumer, conversation_id, upload_body = _create_conversation_and_upload_url(emulator)
    source = tmp_path / "LP_LOGO_1.png"
    source.write_bytes(make_image("PNG", (64, 64)))
    uploaded = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            storage_url(emulator, upload_body),
            "--upload-file",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert uploaded.stdout == "201"
    download_body = _publish_and_ask_for_download(
        consumer, conversation_id, str(upload_body["relativePath"])
    )
    target = tmp_path / "my.png"
    subprocess.run(
        ["curl", "-s", "-f", storage_url(emulator, download_body), "--output", str(target)],
        timeout=30,
        check=True,
    )
    assert target.read_bytes() == source.read_bytes()
    consumer.close()


def test_get_clock_answers_with_the_current_time_in_milliseconds(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    response = consumer.request('{"kind":"req","id":"1","type":"GetClock"}')
    assert response["code"] == 200
    assert isinstance(response["body"]["currentTime"], int)
    assert response["body"]["currentTime"] > 1_500_000_000_000  # milliseconds, not seconds
    keep_alive = consumer.request('{"kind":"req","id":"2","type":"KeepAlive"}')
    assert keep_alive["code"] == 200
    assert isinstance(keep_alive["body"]["currentTime"], int)
    consumer.close()


def test_leading_dot_get_clock_is_refused_as_not_a_consumer_request(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    response = consumer.request('{"kind":"req","id":"1","type":".GetClock"}')
    assert response["code"] == 400
    assert response["type"] == "StringResponse"
    assert isinstance(response["body"], str)
    consumer.close()


def test_unknown_request_type_gets_400_with_a_string_body(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    response = consumer.request('{"kind":"req","id":"9","type":"ms.NoSuchThing","body":{}}')
    assert response["reqId"] == "9"
    assert response["code"] == 400
    assert isinstance(response["body"], str) and len(response["body"]) <= 128
    consumer.close()


def test_text_that_is_not_json_closes_the_socket_with_policy_violation(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    consumer.send("this is not json")
    assert read_close_code(consumer.ws) == 1008


def test_documented_text_publish_frame_is_distributed_to_the_subscriber(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    consumer = Consumer.connect(emulator, token)
    conversation_id = consumer.request(CREATE_CONVERSATION)["body"]["conversationId"]
    subscribed = consumer.request(
        '{"kind":"req","id":"22","type":"ms.SubscribeMessagingEvents",'
        f'"body":{{"dialogId":"{conversation_id}","fromSeq":0}}}}'
    )
    assert subscribed == {
        "kind": "resp",
        "reqId": "22",
        "code": 200,
        "body": {},
        "type": "GenericSubscribeResponse",
    }
    published = consumer.request(
        '{"kind":"req","id":2,"type":"ms.PublishEvent","body":{"dialogId":"__YOUR_CONVERSATION_ID__",'
        '"event":{"type":"ContentEvent","contentType":"text/plain","message":"hi there"}}}'.replace(
            "__YOUR_CONVERSATION_ID__", conversation_id
        )
    )
    assert published["body"] == {"sequence": 0}
    notification = consumer.notification("ms.MessagingEventNotification")
    [change] = notification["body"]["changes"]
    consumer_id = _consumer_id(token)
    assert change == {
        "sequence": 0,
        "originatorId": consumer_id,
        "originatorMetadata": {"id": consumer_id, "role": "CONSUMER"},
        "serverTimestamp": change["serverTimestamp"],
        "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "hi there"},
        "conversationId": conversation_id,
        "dialogId": conversation_id,
    }
    assert isinstance(change["serverTimestamp"], int)
    consumer.close()
