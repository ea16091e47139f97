"""One messaging WebSocket (``MessagingConnection``) against the emulator, without the consumer.

Frames are correlated by ``reqId``, refusals and silences become syncd errors, the end of the
connection is reported once with the right error, and ``close()`` leaves no thread behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from syncd.emulator.server import EmulatorSettings
from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    RequestRejectedError,
    RequestTimeoutError,
    SyncdError,
)
from syncd.liveperson import notifications, protocol, request_bodies, response_bodies
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import ConsumerIdentity, signup
from syncd.liveperson.session import MessagingConnection

# The client's own threads are daemon threads the shared leak check ignores.
pytestmark = pytest.mark.usefixtures("no_leaked_client_threads")


class Ends:
    """Records ``on_close`` calls; tests wait for the first one."""

    def __init__(self) -> None:
        self.errors: list[SyncdError] = []
        self.happened = threading.Event()

    def __call__(self, error: SyncdError) -> None:
        self.errors.append(error)
        self.happened.set()


@pytest.fixture
def identity(http: HttpClient, resolver: DomainResolver, emulator: Any) -> ConsumerIdentity:
    return signup(http, resolver, emulator.account)


@pytest.fixture
def url(resolver: DomainResolver, emulator: Any) -> str:
    return (
        f"{resolver.ws_url('asyncMessagingEnt')}/ws_api/account/{emulator.account}"
        "/messaging/consumer?v=3"
    )


@pytest.fixture
def connect(url: str, identity: ConsumerIdentity) -> Iterator[Any]:
    opened: list[MessagingConnection] = []

    def open_connection(
        jwt: str | None = None,
        on_close: Any = None,
        notifications: Any = None,
        keepalive_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
    ) -> MessagingConnection:
        connection = MessagingConnection()
        opened.append(connection)
        connection.connect(
            url,
            jwt or identity.jwt,
            timeout_seconds,
            None,
            keepalive_seconds,
            notifications if notifications is not None else (lambda n: None),
            on_close if on_close is not None else (lambda e: None),
        )
        return connection

    yield open_connection
    for connection in opened:
        connection.close()


def test_concurrent_requests_each_get_their_own_response(connect: Any) -> None:
    connection = connect()
    results: dict[int, Any] = {}

    def ask(index: int) -> None:
        results[index] = connection.request(protocol.GET_CLOCK)

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == list(range(8))
    assert len({response.request_id for response in results.values()}) == 8
    assert all(isinstance(r.body["currentTime"], int) for r in results.values())


def test_a_refused_request_raises_with_its_code_and_body(connect: Any) -> None:
    connection = connect()

    with pytest.raises(RequestRejectedError) as refused:
        connection.request(protocol.PUBLISH_EVENT, {"dialogId": "no-such-dialog"})

    assert refused.value.request_type == protocol.PUBLISH_EVENT
    assert 400 <= refused.value.code < 500
    assert connection.is_open


def test_a_request_without_a_response_times_out_and_the_socket_stays_usable(
    connect: Any, emulator: Any
) -> None:
    connection = connect()
    emulator.set_faults(drop_responses_rate=1.0)
    with pytest.raises(RequestTimeoutError):
        connection.request(protocol.GET_CLOCK, None, 0.5)

    emulator.set_faults(drop_responses_rate=0.0)
    assert connection.request(protocol.GET_CLOCK).ok


def test_a_forged_token_is_refused_at_the_upgrade_as_an_authentication_error(
    connect: Any,
) -> None:
    with pytest.raises(AuthenticationError):
        connect(jwt="eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")


def test_a_server_close_is_reported_once_and_fails_the_waiting_request(
    connect: Any, emulator: Any
) -> None:
    ends = Ends()
    connection = connect(on_close=ends)
    emulator.set_faults(ws_close_rate=1.0, ws_close_code=1011)

    with pytest.raises(ConnectionLostError):
        connection.request(protocol.GET_CLOCK)

    assert ends.happened.wait(5)
    assert connection.close_code == 1011
    assert [type(error) for error in ends.errors] == [ConnectionLostError]
    with pytest.raises(ConnectionLostError):
        connection.request(protocol.GET_CLOCK)


def test_an_expired_token_closes_the_socket_with_4401_reported_as_authentication(
    http: HttpClient, resolver: DomainResolver, emulator: Any, connect: Any
) -> None:
    emulator.set_faults(signup_token_ttl_seconds=1)
    short_lived = signup(http, resolver, emulator.account)
    ends = Ends()

    connect(jwt=short_lived.jwt, on_close=ends)

    assert ends.happened.wait(10)
    assert [type(error) for error in ends.errors] == [AuthenticationError]


def test_notifications_reach_the_handler_in_order(connect: Any, emulator: Any) -> None:
    received: list[protocol.Notification] = []
    connection = connect(notifications=received.append)
    conversation = connection.request(protocol.REQUEST_CONVERSATION, {})
    conversation_id = response_bodies.parse_conversation_id(conversation.body)

    connection.request(
        protocol.PUBLISH_EVENT, request_bodies.publish_text_body(conversation_id, "first")
    )
    connection.request(
        protocol.PUBLISH_EVENT, request_bodies.publish_text_body(conversation_id, "second")
    )
    body = request_bodies.subscribe_messaging_events_body(conversation_id, 0)
    connection.request(protocol.SUBSCRIBE_MESSAGING_EVENTS, body)
    connection.request(protocol.GET_CLOCK)

    texts = [
        event.text
        for notification in received
        if notification.type == protocol.MESSAGING_EVENT
        for event in notifications.parse_messaging_events(notification.body)
    ]
    assert texts == ["first", "second"]


def test_close_is_idempotent_and_does_not_report_an_end(connect: Any) -> None:
    ends = Ends()
    connection = connect(on_close=ends)

    connection.close()
    connection.close()

    assert not connection.is_open
    assert ends.errors == []


QUICKLY_IDLE = EmulatorSettings(port=0, idle_timeout_seconds=0.5)


@pytest.mark.parametrize("emulator_settings", [QUICKLY_IDLE])
def test_a_silent_socket_is_dropped_by_the_server_and_reported_as_lost(connect: Any) -> None:
    ends = Ends()
    connection = connect(on_close=ends, keepalive_seconds=0)

    assert ends.happened.wait(10)
    assert [type(error) for error in ends.errors] == [ConnectionLostError]
    assert connection.close_code == 1006


# Keepalive every 0.1 s against a 1.5 s idle timeout: only a stall of more than 1.4 s could
# drop the socket, far more than a loaded machine shows.
KEEPALIVE_IDLE = EmulatorSettings(port=0, idle_timeout_seconds=1.5)


@pytest.mark.parametrize("emulator_settings", [KEEPALIVE_IDLE])
def test_keepalive_holds_a_silent_socket_open_past_the_idle_timeout(connect: Any) -> None:
    ends = Ends()
    connection = connect(on_close=ends, keepalive_seconds=0.1)
    # No fixed wait: a twin without keepalive, opened just after, is the clock. Once the
    # server has dropped it for idleness, the kept socket has outlived a whole idle period.
    silent_ends = Ends()
    connect(on_close=silent_ends, keepalive_seconds=0)

    assert silent_ends.happened.wait(60)
    assert [type(error) for error in silent_ends.errors] == [ConnectionLostError]
    assert not ends.happened.is_set()
    assert connection.is_open


def test_keepalive_without_answers_drops_the_connection_as_lost(
    connect: Any, emulator: Any
) -> None:

    ends = Ends()
    connection = connect(on_close=ends, keepalive_seconds=0.1, timeout_seconds=0.3)
    emulator.set_faults(drop_responses_rate=1.0)

    assert ends.happened.wait(10)
    assert [type(error) for error in ends.errors] == [ConnectionLostError]
    assert not connection.is_open
