"""Connecting to the consumer WebSocket: the three ways to authenticate, refusals, idleness."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import requests
import websocket

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from tests.emulator.wire import (
    Consumer,
    consumer_url,
    open_socket,
    read_close_code,
    request_conversation,
    signup,
)

INIT_CONNECTION = (
    '{"kind":"req","id":"0","type":"InitConnection","headers":[{"type":".ams.headers.ClientProperties",'
    '"deviceFamily":"MOBILE","os":"ANDROID"},{"type":".ams.headers.ConsumerAuthentication",'
    '"jwt":"__YOUR_JWT__"}]}'
)


def _upgrade_status(url: str, header: list[str] | None = None) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, header=header or [], timeout=5)
    return int(refused.value.status_code)


def test_authorization_header_authenticates_the_socket(emulator: RunningEmulator) -> None:
    consumer = Consumer(open_socket(emulator, token=signup(emulator)))
    request_conversation(consumer)
    consumer.close()


def test_jwt_in_the_path_authenticates_the_socket(emulator: RunningEmulator) -> None:
    consumer = Consumer(open_socket(emulator, path_token=signup(emulator)))
    request_conversation(consumer)
    consumer.close()


def test_init_connection_frame_authenticates_the_socket(emulator: RunningEmulator) -> None:
    consumer = Consumer(open_socket(emulator))
    response = consumer.request(INIT_CONNECTION.replace("__YOUR_JWT__", signup(emulator)))
    assert response["reqId"] == "0"
    assert response["code"] == 200
    request_conversation(consumer)
    consumer.close()


def test_requests_before_init_connection_get_401(emulator: RunningEmulator) -> None:
    consumer = Consumer(open_socket(emulator))
    response = consumer.request('{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}')
    assert response["code"] == 401
    assert isinstance(response["body"], str)
    consumer.close()


def test_init_connection_with_a_forged_token_gets_401_then_close_4401(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer(open_socket(emulator))
    forged = signup(emulator)[:-4] + "AAAA"
    response = consumer.request(INIT_CONNECTION.replace("__YOUR_JWT__", forged))
    assert response["code"] == 401
    assert read_close_code(consumer.ws) == 4401


@pytest.mark.parametrize(
    "emulator_settings", [EmulatorSettings(init_connection_timeout_seconds=0.3)]
)
def test_socket_without_token_or_init_connection_is_closed_with_4401(
    emulator: RunningEmulator,
) -> None:
    ws = open_socket(emulator)
    assert read_close_code(ws) == 4401


def test_forged_token_is_refused_with_http_401_at_the_upgrade(emulator: RunningEmulator) -> None:
    token = signup(emulator)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert _upgrade_status(consumer_url(emulator), [f"Authorization: jwt {forged}"]) == 401
    assert _upgrade_status(consumer_url(emulator, path_token=forged)) == 401
    assert _upgrade_status(consumer_url(emulator), ["Authorization: jwt not-a-jwt"]) == 401
    assert _upgrade_status(consumer_url(emulator), [f"Authorization: Bearer {token}"]) == 401


def test_token_of_another_emulator_is_refused_with_http_401(emulator: RunningEmulator) -> None:
    with start_emulator(EmulatorSettings()) as other:
        foreign = signup(other)
    assert _upgrade_status(consumer_url(emulator), [f"Authorization: jwt {foreign}"]) == 401


def test_expired_token_is_refused_with_http_401_at_the_upgrade(emulator: RunningEmulator) -> None:
    expired = emulator.issue_token(lifetime_seconds=-10)
    assert _upgrade_status(consumer_url(emulator), [f"Authorization: jwt {expired}"]) == 401


def test_token_expiring_on_an_open_socket_closes_it_with_4401(emulator: RunningEmulator) -> None:
    short_lived = emulator.issue_token(lifetime_seconds=2)
    ws = open_socket(emulator, token=short_lived)
    assert read_close_code(ws, timeout_seconds=10) == 4401


def test_socket_needs_v3_and_a_known_account(emulator: RunningEmulator) -> None:
    token = signup(emulator)
    header = [f"Authorization: jwt {token}"]
    without_version = consumer_url(emulator).replace("?v=3", "")
    assert _upgrade_status(without_version, header) == 400
    assert _upgrade_status(consumer_url(emulator).replace("?v=3", "?v=2"), header) == 400
    other_account = consumer_url(emulator).replace(f"/account/{emulator.account}/", "/account/999/")
    assert _upgrade_status(other_account, header) == 404


def test_binary_frames_close_the_socket_with_1003(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    consumer.ws.send_binary(b"\x00\x01")
    assert read_close_code(consumer.ws) == 1003


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(idle_timeout_seconds=0.4)])
def test_idle_socket_is_dropped_without_a_close_frame(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    assert read_close_code(consumer.ws) is None


# Keeping a socket open must not depend on the machine's speed: activity every ~0.05 s (or
# as soon as the previous answer is back) against a 1.5 s idle timeout, and no fixed wait. A
# silent socket opened just after the kept one is the clock: once the server has dropped it
# for idleness, the kept socket has outlived a whole idle period.
KEEP_OPEN_IDLE = EmulatorSettings(idle_timeout_seconds=1.5)
KEEP_OPEN_TIMEOUT_SECONDS = 60


def _dropped_in_background(consumer: Consumer) -> threading.Event:
    """Return an event set once the server drops ``consumer``'s socket without a close code."""
    dropped = threading.Event()

    def read() -> None:
        if read_close_code(consumer.ws, timeout_seconds=KEEP_OPEN_TIMEOUT_SECONDS) is None:
            dropped.set()

    threading.Thread(target=read, name="silent-socket-reader", daemon=True).start()
    return dropped


def _keep_busy_until_the_silent_one_drops(
    emulator: RunningEmulator, activity: Callable[[Consumer, int], None]
) -> Consumer:
    kept = Consumer.connect(emulator)
    dropped = _dropped_in_background(Consumer.connect(emulator))
    rounds = 0
    while not dropped.wait(0.05):
        rounds += 1
        activity(kept, rounds)
        assert rounds < KEEP_OPEN_TIMEOUT_SECONDS * 20, "the silent socket was never dropped"
    return kept


@pytest.mark.parametrize("emulator_settings", [KEEP_OPEN_IDLE])
def test_websocket_pings_keep_an_otherwise_silent_socket_open(emulator: RunningEmulator) -> None:
    def ping(consumer: Consumer, _round: int) -> None:
        consumer.ws.ping(b"keepalive")
        opcode, _ = consumer.ws.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_PONG

    kept = _keep_busy_until_the_silent_one_drops(emulator, ping)
    response = kept.request('{"kind":"req","id":"1","type":"GetClock"}')
    assert response["code"] == 200
    kept.close()


@pytest.mark.parametrize("emulator_settings", [KEEP_OPEN_IDLE])
def test_get_clock_requests_keep_a_socket_open(emulator: RunningEmulator) -> None:
    def ask(consumer: Consumer, request_number: int) -> None:
        response = consumer.request({"kind": "req", "id": str(request_number), "type": "GetClock"})
        assert response["code"] == 200

    kept = _keep_busy_until_the_silent_one_drops(emulator, ask)
    ask(kept, 0)
    kept.close()


def test_control_api_closes_every_socket_with_the_requested_code(emulator: RunningEmulator) -> None:
    first = Consumer.connect(emulator)
    second = Consumer.connect(emulator)
    answer = requests.post(f"{emulator.base_url}/_emulator/sockets/close?code=4407", timeout=5)
    assert answer.json() == {"closed": 2}
    assert read_close_code(first.ws) == 4407
    assert read_close_code(second.ws) == 4407


def test_control_api_issues_tokens_of_a_chosen_lifetime(emulator: RunningEmulator) -> None:
    answer = requests.post(f"{emulator.base_url}/_emulator/tokens?ttl_seconds=-5", timeout=5).json()
    assert _upgrade_status(consumer_url(emulator), [f"Authorization: jwt {answer['jwt']}"]) == 401
    valid = requests.post(f"{emulator.base_url}/_emulator/tokens?ttl_seconds=600", timeout=5).json()
    consumer = Consumer(open_socket(emulator, token=valid["jwt"]))
    conversation_id = request_conversation(consumer)
    [conversation] = emulator.state()["conversations"]
    assert conversation["id"] == conversation_id
    assert conversation["consumerId"] == valid["consumerId"]
    consumer.close()
