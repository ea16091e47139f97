"""Fault knobs: each one misbehaves as documented, and the same seed gives the same faults."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import requests
import websocket
from swiftclient.utils import generate_temp_url

from syncd.emulator.rejection import Rejection
from syncd.emulator.server import RunningEmulator
from tests.emulator.wire import (
    Consumer,
    make_image,
    open_socket,
    read_close_code,
    request_conversation,
    signup,
    storage_url,
    text_publish_frame,
    upload_url,
)


def _faults_url(emulator: RunningEmulator) -> str:
    return f"{emulator.base_url}/_emulator/faults"


def _wait_until(condition: Callable[[], bool], timeout_seconds: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _object_url(emulator: RunningEmulator, method: str) -> str:
    path = f"/v1/AUTH_async-images/{emulator.account}/fault.PNG"
    return emulator.base_url + str(
        generate_temp_url(path, 60, emulator.temp_url_key, method, digest="sha1")
    )


def test_knobs_are_read_merged_validated_and_reset_over_http(emulator: RunningEmulator) -> None:
    defaults = requests.get(_faults_url(emulator), timeout=5).json()
    assert defaults["request_error_rate"] == 0
    assert defaults["seed"] == 0
    merged = requests.put(
        _faults_url(emulator), json={"latency_ms": 5, "request_error_code": 429}, timeout=5
    )
    assert merged.status_code == 200
    assert merged.json() == defaults | {"latency_ms": 5, "request_error_code": 429}
    unknown = requests.put(_faults_url(emulator), json={"chaos_monkey": 1}, timeout=5)
    assert unknown.status_code == 400
    assert "chaos_monkey" in unknown.json()["error"]
    assert (
        requests.put(_faults_url(emulator), json={"ws_close_rate": 2}, timeout=5).status_code == 400
    )
    assert (
        requests.put(_faults_url(emulator), json={"swift_error_code": 200}, timeout=5).status_code
        == 400
    )
    assert requests.get(_faults_url(emulator), timeout=5).json()["latency_ms"] == 5
    assert requests.delete(_faults_url(emulator), timeout=5).json() == defaults
    with pytest.raises(Rejection):
        emulator.set_faults(no_such_knob=True)


def test_ws_close_rate_closes_the_socket_with_the_code_instead_of_answering(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(ws_close_rate=1.0, ws_close_code=4407)
    consumer.send('{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}')
    assert read_close_code(consumer.ws) == 4407
    assert emulator.state()["conversations"] == []


def _requests_answered_before_close(emulator: RunningEmulator) -> int:
    consumer = Consumer.connect(emulator)
    for number in range(200):
        consumer.send({"kind": "req", "id": str(number), "type": "GetClock"})
        try:
            consumer.response_to(str(number))
        except websocket.WebSocketConnectionClosedException:
            return number
    raise AssertionError("the socket was never closed")


def test_ws_close_faults_repeat_with_the_same_seed(emulator: RunningEmulator) -> None:
    emulator.set_faults(ws_close_rate=0.2, ws_close_code=1011, seed=21)
    first_run = _requests_answered_before_close(emulator)
    emulator.set_faults(seed=21)
    assert _requests_answered_before_close(emulator) == first_run


def test_request_error_rate_answers_with_the_code_and_does_not_process(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(request_error_rate=1.0, request_error_code=429, retry_after_seconds=2)
    response = consumer.request('{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}')
    assert response["code"] == 429
    assert response["type"] == "StringResponse"
    assert "2 seconds" in response["body"]
    assert emulator.state()["conversations"] == []
    consumer.close()


def test_request_error_types_limit_the_errors_to_the_named_requests(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(
        request_error_rate=1.0, request_error_code=400, request_error_types=["ms.PublishEvent"]
    )
    assert requests.get(_faults_url(emulator), timeout=5).json()["request_error_types"] == [
        "ms.PublishEvent"
    ]
    clock = consumer.request({"kind": "req", "id": "1", "type": "GetClock"})
    assert clock["code"] == 200
    publish = consumer.request(
        {
            "kind": "req",
            "id": "2",
            "type": "ms.PublishEvent",
            "body": {"dialogId": "nowhere", "event": {"type": "ContentEvent", "message": "x"}},
        }
    )
    assert publish["code"] == 400
    assert publish["body"] == "Injected fault"
    consumer.close()
    assert (
        requests.put(
            _faults_url(emulator), json={"request_error_types": [""]}, timeout=5
        ).status_code
        == 400
    )


def test_publish_delay_lets_later_requests_answer_first(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    emulator.set_faults(publish_delay_ms=3000)
    consumer.send(text_publish_frame(dialog_id, "hi", request_id="late"))
    consumer.send({"kind": "req", "id": "clock", "type": "GetClock"})
    answered = [
        frame["reqId"] for frame in consumer.frames_until_response("late") if "reqId" in frame
    ]
    assert answered == ["clock", "late"]
    events = emulator.state()["conversations"][0]["events"]
    assert [event["event"]["message"] for event in events] == ["hi"]
    consumer.close()


def test_a_delayed_publish_whose_socket_closed_is_never_handled(
    emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="syncd.emulator")
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    emulator.set_faults(publish_delay_ms=2000)
    consumer.send(text_publish_frame(dialog_id, "x", request_id="lost"))
    # GetClock answered: the publish reached the emulator before the socket closed.
    assert consumer.request({"kind": "req", "id": "clock", "type": "GetClock"})["code"] == 200
    consumer.close()
    # The delayed handler logs its decision; wait for it rather than for a fixed time.
    _wait_until(
        lambda: "fault: dropping a delayed ms.PublishEvent, its socket closed" in caplog.messages,
        timeout_seconds=15.0,
    )
    assert emulator.state()["conversations"][0]["events"] == []


def test_ws_connect_error_rate_refuses_the_upgrade_with_the_status_and_retry_after(
    emulator: RunningEmulator,
) -> None:
    token = signup(emulator)
    emulator.set_faults(ws_connect_error_rate=1.0, ws_connect_error_code=503, retry_after_seconds=3)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_socket(emulator, token)
    assert refused.value.status_code == 503
    assert (refused.value.resp_headers or {}).get("retry-after") == "3"
    emulator.reset_faults()
    Consumer(open_socket(emulator, token)).close()


def _response_codes(consumer: Consumer, count: int) -> list[int]:
    return [
        consumer.request({"kind": "req", "id": f"c{n}", "type": "GetClock"})["code"]
        for n in range(count)
    ]


def test_request_errors_repeat_with_the_same_seed(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(request_error_rate=0.5, request_error_code=503, seed=7)
    first_run = _response_codes(consumer, 30)
    emulator.set_faults(seed=7)
    assert _response_codes(consumer, 30) == first_run
    assert set(first_run) == {200, 503}
    consumer.close()


def _answered_publishes(emulator: RunningEmulator, count: int, seed: int) -> list[int]:
    """Publish ``count`` texts while half the responses are dropped; return which were answered."""
    consumer = Consumer.connect(emulator)
    dialog_id = request_conversation(consumer)
    emulator.set_faults(drop_responses_rate=0.5, seed=seed)
    for number in range(count):
        consumer.send(
            {
                "kind": "req",
                "id": str(number),
                "type": "ms.PublishEvent",
                "body": {
                    "dialogId": dialog_id,
                    "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "m"},
                },
            }
        )

    def all_processed() -> bool:
        conversation = next(c for c in emulator.state()["conversations"] if c["id"] == dialog_id)
        return len(conversation["events"]) == count

    _wait_until(all_processed)
    emulator.reset_faults()
    consumer.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    frames = consumer.frames_until_response("barrier")
    consumer.close()
    return [int(f["reqId"]) for f in frames if f.get("kind") == "resp" and f["reqId"] != "barrier"]


def test_dropped_responses_are_processed_but_never_sent(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(drop_responses_rate=1.0)
    consumer.send('{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}')
    _wait_until(lambda: len(emulator.state()["conversations"]) == 1)
    emulator.reset_faults()
    consumer.send('{"kind":"req","id":"barrier","type":"GetClock"}')
    frames = consumer.frames_until_response("barrier")
    assert [f.get("reqId") for f in frames] == ["barrier"]
    consumer.close()


def test_dropped_responses_repeat_with_the_same_seed(emulator: RunningEmulator) -> None:
    first_run = _answered_publishes(emulator, 20, seed=3)
    assert _answered_publishes(emulator, 20, seed=3) == first_run
    assert 0 < len(first_run) < 20


def test_swift_error_rate_answers_storage_with_the_code_and_retry_after(
    emulator: RunningEmulator,
) -> None:
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=503, retry_after_seconds=3)
    stored = requests.put(_object_url(emulator, "PUT"), data=make_image(), timeout=5)
    assert stored.status_code == 503
    assert stored.headers["Retry-After"] == "3"
    assert requests.get(_object_url(emulator, "GET"), timeout=5).status_code == 503
    assert emulator.state()["objects"] == []


def _head_statuses(emulator: RunningEmulator, count: int) -> list[int]:
    return [
        requests.head(_object_url(emulator, "GET"), timeout=5).status_code for _ in range(count)
    ]


def test_swift_errors_repeat_with_the_same_seed(emulator: RunningEmulator) -> None:
    requests.put(_object_url(emulator, "PUT"), data=make_image(), timeout=5)
    emulator.set_faults(swift_error_rate=0.5, swift_error_code=500, seed=11)
    first_run = _head_statuses(emulator, 20)
    emulator.set_faults(seed=11)
    assert _head_statuses(emulator, 20) == first_run
    assert set(first_run) == {200, 500}


def test_latency_delays_websocket_answers_past_a_shorter_client_timeout(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(latency_ms=800)
    consumer.send('{"kind":"req","id":"slow","type":"GetClock"}')
    consumer.ws.settimeout(0.1)
    with pytest.raises(websocket.WebSocketTimeoutException):
        consumer.ws.recv()
    assert consumer.response_to("slow")["code"] == 200
    consumer.close()


def test_latency_delays_storage_answers_past_a_shorter_client_timeout(
    emulator: RunningEmulator,
) -> None:
    requests.put(_object_url(emulator, "PUT"), data=make_image(), timeout=5)
    emulator.set_faults(latency_ms=800)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(_object_url(emulator, "GET"), timeout=(5, 0.1))
    assert requests.get(_object_url(emulator, "GET"), timeout=5).status_code == 200


def test_upload_url_ttl_knob_sets_the_lifetime_of_new_urls(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    emulator.set_faults(upload_url_ttl_seconds=-5)
    expired = upload_url(consumer, 1000, "PNG", request_id="1")
    refused = requests.put(storage_url(emulator, expired["body"]), data=make_image(), timeout=5)
    assert refused.status_code == 401
    assert refused.text == "401 Unauthorized: Temp URL invalid\n"
    emulator.set_faults(upload_url_ttl_seconds=600)
    before = int(time.time())
    long_lived = upload_url(consumer, 1000, "PNG", request_id="2")
    expires = int(long_lived["body"]["queryParams"]["temp_url_expires"])
    assert before + 600 <= expires <= int(time.time()) + 600
    consumer.close()
