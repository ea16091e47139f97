"""The LivePerson client side against the real emulator over loopback sockets.

Every test starts its own emulator on port 0 and talks to it through the real modules:
CSDS resolution, IdP signup, the consumer WebSocket, Swift temp URLs and the admin API.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pytest
import requests
from PIL import Image

from syncd.emulator.server import EmulatorSettings
from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    LinkDownError,
    ProtocolError,
    RequestRejectedError,
    RequestTimeoutError,
    TransientTransferError,
    UploadUrlExpiredError,
)
from syncd.liveperson import admin
from syncd.liveperson.consumer import ConsumerClient, ConsumerSettings
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.http_answers import ResponseTooLargeError
from syncd.liveperson.identity import ConsumerIdentity, jwt_expires_at, jwt_payload, signup
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from syncd.liveperson.retrying import ReconnectBackoff, RetryPolicy
from syncd.liveperson.storage import SwiftStorage
from tests.reliability.workload import counting_faults

# The client's own threads are daemon threads the shared leak check ignores.
pytestmark = pytest.mark.usefixtures("no_leaked_client_threads")

WAIT_SECONDS = 10.0
Item = TypeVar("Item")

# Zero waits between in-call retries; short bounded pauses between reconnect attempts, so a
# supervisor facing a refusing emulator does not spin.
TEST_RETRY_POLICY = RetryPolicy(max_attempts=3).without_waits()
TEST_SETTINGS = ConsumerSettings(
    request_timeout_seconds=5.0,
    connect_timeout_seconds=5.0,
    keepalive_seconds=30.0,
    retry_policy=TEST_RETRY_POLICY,
    reconnect_policy=ReconnectBackoff(first_wait_seconds=0.05, max_wait_seconds=0.2),
)


# --- helpers -------------------------------------------------------------------------------


def jpeg_bytes(width: int = 64, height: int = 48, color: str = "navy") -> bytes:
    """Return a real JPEG made with Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class Recorder(Generic[Item]):
    """Collects what callbacks report (on other threads); tests wait on it with a timeout."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._items: list[Item] = []

    def __call__(self, item: Item) -> None:
        with self._condition:
            self._items.append(item)
            self._condition.notify_all()

    @property
    def items(self) -> list[Item]:
        with self._condition:
            return list(self._items)

    def wait_for(self, predicate: Callable[[Item], bool], timeout: float = WAIT_SECONDS) -> Item:
        """Return the first item matching ``predicate``; fail after ``timeout`` seconds."""
        found: list[Item] = []

        def matched() -> bool:
            found[:] = [item for item in self._items if predicate(item)][:1]
            return bool(found)

        with self._condition:
            if not self._condition.wait_for(matched, timeout):
                raise AssertionError(f"nothing matching within {timeout} s in {self._items!r}")
        return found[0]


@dataclass
class IdentityBox:
    """The identity store the daemon backs with SQLite, kept in memory here."""

    identity: ConsumerIdentity | None = None
    saved: list[ConsumerIdentity] = field(default_factory=list)

    def load(self) -> ConsumerIdentity | None:
        return self.identity

    def save(self, identity: ConsumerIdentity) -> None:
        self.identity = identity
        self.saved.append(identity)


@dataclass
class Route:
    """A consumer client and everything it reported."""

    client: ConsumerClient
    identities: IdentityBox
    events: Recorder[MessagingEvent]
    changes: Recorder[ConversationChange]
    cursors: dict[str, int]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)


def control(base_url: str, path: str, data: bytes | None = None, **params: Any) -> Any:
    """POST to the emulator's control API; return its JSON answer (None when empty)."""
    response = requests.post(f"{base_url}/_emulator/{path}", data=data, params=params, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def stored_events(emulator: Any, conversation_id: str) -> list[dict[str, Any]]:
    """Return the events the emulator stored for ``conversation_id``."""
    for conversation in emulator.state()["conversations"]:
        if conversation["id"] == conversation_id:
            events: list[dict[str, Any]] = conversation["events"]
            return events
    raise AssertionError(f"conversation {conversation_id} is not in the emulator")


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def storage(http: HttpClient, resolver: DomainResolver) -> SwiftStorage:
    return SwiftStorage(http, resolver.base_uri("swift"), resolver.http_scheme, TEST_RETRY_POLICY)


@pytest.fixture
def open_route(
    http: HttpClient, resolver: DomainResolver, emulator: Any
) -> Iterator[Callable[..., Route]]:
    routes: list[Route] = []

    def build(
        identities: IdentityBox | None = None,
        skill_id: str | None = None,
        settings: ConsumerSettings = TEST_SETTINGS,
        on_connected: Callable[[], None] = lambda: None,
    ) -> Route:
        box = identities or IdentityBox()
        events: Recorder[MessagingEvent] = Recorder()
        cursors: dict[str, int] = {}

        def on_event(event: MessagingEvent) -> None:
            if event.sequence is not None:
                cursors[event.dialog_id] = max(cursors.get(event.dialog_id, 0), event.sequence + 1)
            events(event)

        changes: Recorder[ConversationChange] = Recorder()
        client = ConsumerClient(
            resolver=resolver,
            http=http,
            account=emulator.account,
            skill_id=skill_id,
            load_identity=box.load,
            save_identity=box.save,
            resume_sequence=lambda conversation_id: cursors.get(conversation_id, 0),
            on_messaging_event=on_event,
            on_conversation_change=changes,
            settings=settings,
            on_connected=on_connected,
        )
        route = Route(client, box, events, changes, cursors)
        routes.append(route)
        return route

    yield build
    for route in routes:
        route.client.close()


# --- Domain API and identity ---------------------------------------------------------------


def test_domain_api_resolves_every_service_to_the_emulator_with_plain_http_schemes(
    resolver: DomainResolver, emulator: Any
) -> None:
    assert resolver.base_uri("swift") == emulator.host_port
    assert resolver.http_url("idp") == f"http://{emulator.host_port}"
    assert resolver.ws_url("asyncMessagingEnt") == f"ws://{emulator.host_port}"
    assert resolver.http_scheme == "http"


def test_domain_api_reports_an_unknown_service_as_a_protocol_error(
    resolver: DomainResolver,
) -> None:
    with pytest.raises(ProtocolError):
        resolver.base_uri("noSuchService")


def test_signup_identity_is_the_jwt_subject_and_the_token_stays_out_of_repr(
    http: HttpClient, resolver: DomainResolver, emulator: Any
) -> None:
    identity = signup(http, resolver, emulator.account)

    assert identity.consumer_id == jwt_payload(identity.jwt)["sub"]
    assert jwt_payload(identity.jwt)["aud"] == f"acc:{emulator.account}"
    expires_at = jwt_expires_at(identity.jwt)
    assert expires_at is not None and expires_at > time.time()
    assert identity.jwt not in repr(identity)


# --- conversations -------------------------------------------------------------------------


def test_open_conversation_is_reused_by_a_new_session_of_the_same_consumer(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    first = open_route()
    conversation_id = first.client.ensure_open_conversation()
    first.client.close()

    second = open_route(identities=first.identities)
    assert second.client.ensure_open_conversation() == conversation_id
    assert second.client.consumer_id == first.client.consumer_id
    assert [c["id"] for c in emulator.state()["conversations"]] == [conversation_id]


def test_conversation_closed_by_the_agent_is_replaced_by_a_new_one(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route()
    closed_id = route.client.ensure_open_conversation()

    control(emulator.base_url, f"conversations/{closed_id}/close")
    route.changes.wait_for(lambda c: c.conversation_id == closed_id and not c.is_open)

    new_id = route.client.ensure_open_conversation()
    assert new_id != closed_id
    states = {c["id"]: c["state"] for c in emulator.state()["conversations"]}
    assert states == {closed_id: "CLOSE", new_id: "OPEN"}


def test_conversation_closed_by_us_is_closed_in_the_emulator(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()

    route.client.close_conversation(conversation_id)

    states = {c["id"]: c["state"] for c in emulator.state()["conversations"]}
    assert states == {conversation_id: "CLOSE"}


# --- files both ways -----------------------------------------------------------------------


def test_uploaded_image_is_published_and_found_again_by_replay(
    open_route: Callable[..., Route], storage: SwiftStorage, emulator: Any
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    image = jpeg_bytes()

    temp_url = route.client.request_upload_url(len(image), "JPG")
    storage.upload(temp_url, image)
    sequence = route.client.publish_hosted_file(
        conversation_id, "scan 1", temp_url.relative_path, "JPG", None
    )

    replayed = route.client.replay_events(conversation_id)
    ours = [
        e
        for e in replayed
        if e.hosted_file and e.hosted_file.relative_path == temp_url.relative_path
    ]
    assert [e.sequence for e in ours] == [sequence]
    assert ours[0].originator_id == route.client.consumer_id
    assert ours[0].hosted_file is not None and ours[0].hosted_file.caption == "scan 1"
    assert stored_events(emulator, conversation_id)[-1]["sequence"] == sequence


def test_replay_from_a_sequence_leaves_out_earlier_events(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    for text in ("one", "two", "three"):
        control(emulator.base_url, f"conversations/{conversation_id}/agent-message", text.encode())
    texts = [e.text for e in route.client.replay_events(conversation_id) if e.text]
    assert texts == ["one", "two", "three"]

    all_events = route.client.replay_events(conversation_id)
    from_second = route.client.replay_events(conversation_id, all_events[1].sequence or 0)
    assert from_second == all_events[1:]


def test_publish_without_a_response_is_not_sent_again_and_replay_finds_it_once(
    open_route: Callable[..., Route], storage: SwiftStorage, emulator: Any
) -> None:
    quick = ConsumerSettings(
        request_timeout_seconds=0.5, retry_policy=TEST_RETRY_POLICY, keepalive_seconds=30.0
    )
    route = open_route(settings=quick)
    conversation_id = route.client.ensure_open_conversation()
    image = jpeg_bytes()
    temp_url = route.client.request_upload_url(len(image), "JPG")
    storage.upload(temp_url, image)

    emulator.set_faults(drop_responses_rate=1.0)
    with pytest.raises(RequestTimeoutError):
        route.client.publish_hosted_file(conversation_id, "", temp_url.relative_path, "JPG", None)
    emulator.set_faults(drop_responses_rate=0.0)

    published = [
        e
        for e in route.client.replay_events(conversation_id)
        if e.hosted_file and e.hosted_file.relative_path == temp_url.relative_path
    ]
    assert len(published) == 1
    assert len(stored_events(emulator, conversation_id)) == 1


def test_conversation_requested_for_a_skill_is_routed_to_it(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route(skill_id="1234")

    conversation_id = route.client.ensure_open_conversation()

    skills = {c["id"]: c["skillId"] for c in emulator.state()["conversations"]}
    assert skills == {conversation_id: "1234"}


def test_agent_file_is_downloaded_and_the_size_cap_stops_a_larger_one(
    open_route: Callable[..., Route], storage: SwiftStorage, emulator: Any
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    image = jpeg_bytes(color="darkred")

    control(emulator.base_url, f"conversations/{conversation_id}/agent-file", image, caption="hi")
    event = route.events.wait_for(lambda e: e.hosted_file is not None)
    assert event.originator_id != route.client.consumer_id
    assert event.hosted_file is not None and event.hosted_file.caption == "hi"

    relative_path = event.hosted_file.relative_path
    downloaded = storage.download(route.client.request_download_url(relative_path), len(image))
    assert downloaded == image
    with pytest.raises(ResponseTooLargeError):
        storage.download(route.client.request_download_url(relative_path), len(image) - 1)


def test_expired_upload_url_raises_upload_url_expired(
    open_route: Callable[..., Route], storage: SwiftStorage, emulator: Any
) -> None:
    route = open_route()
    route.client.ensure_open_conversation()
    emulator.set_faults(upload_url_ttl_seconds=-1)
    image = jpeg_bytes()

    with pytest.raises(UploadUrlExpiredError):
        storage.upload(route.client.request_upload_url(len(image), "JPG"), image)

    emulator.set_faults(upload_url_ttl_seconds=60)
    storage.upload(route.client.request_upload_url(len(image), "JPG"), image)


def test_storage_retries_a_503_and_then_stores_the_file(
    open_route: Callable[..., Route],
    storage: SwiftStorage,
    emulator: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="syncd.liveperson.retrying")
    route = open_route()
    route.client.ensure_open_conversation()
    image = jpeg_bytes()
    temp_url = route.client.request_upload_url(len(image), "JPG")
    # With this seed the first storage request fails and the second succeeds.
    emulator.set_faults(swift_error_rate=0.5, swift_error_code=503, seed=seed_failing_first(0.5))

    storage.upload(temp_url, image)

    assert temp_url.relative_path in str(emulator.state()["objects"])
    assert retries_logged(caplog) == ["storage upload failed (attempt 1 of 3)"]


def test_storage_gives_up_on_a_persistent_429_after_the_policy_attempts(
    open_route: Callable[..., Route], storage: SwiftStorage, emulator: Any
) -> None:
    route = open_route()
    route.client.ensure_open_conversation()
    image = jpeg_bytes()
    temp_url = route.client.request_upload_url(len(image), "JPG")
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=429)

    with pytest.raises(TransientTransferError) as raised:
        storage.upload(temp_url, image)

    assert "429" in str(raised.value)
    assert raised.value.retry_after_seconds is not None
    assert raised.value.retry_after_seconds >= 1.0


def test_messaging_request_answered_429_once_is_retried(
    open_route: Callable[..., Route], emulator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="syncd.liveperson.retrying")
    route = open_route()
    route.client.ensure_open_conversation()
    emulator.set_faults(
        request_error_rate=0.5, request_error_code=429, seed=seed_failing_first(0.5)
    )

    temp_url = route.client.request_upload_url(1000, "JPG")

    assert temp_url.relative_path.startswith("/v1/")
    assert retries_logged(caplog) == ["ms.GenerateURLForUploadFile failed (attempt 1 of 3)"]


def retries_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the "<call> failed (attempt n of m)" part of each retry log line."""
    return [r.getMessage().split(":")[0] for r in caplog.records if "retrying in" in r.getMessage()]


def seed_failing_first(rate: float) -> int:
    """Return a seed whose first draw is a fault at ``rate`` and whose next two are not."""
    for seed in range(10_000):
        draws = random.Random(seed)
        if draws.random() < rate and draws.random() >= rate and draws.random() >= rate:
            return seed
    raise AssertionError("no seed found")


# --- connection loss and tokens ------------------------------------------------------------


def test_lost_connection_is_reconnected_and_events_sent_meanwhile_still_arrive(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    control(emulator.base_url, f"conversations/{conversation_id}/agent-message", b"before")
    route.events.wait_for(lambda e: e.text == "before")

    emulator.set_faults(ws_close_rate=1.0, ws_close_code=1011)
    with pytest.raises(ConnectionLostError):
        route.client.request_upload_url(1000, "JPG")
    control(emulator.base_url, f"conversations/{conversation_id}/agent-message", b"meanwhile")
    emulator.set_faults(ws_close_rate=0.0)

    route.events.wait_for(lambda e: e.text == "meanwhile")
    wait_until(lambda: route.client.connection_state == "connected")
    control(emulator.base_url, f"conversations/{conversation_id}/agent-message", b"after")
    route.events.wait_for(lambda e: e.text == "after")
    # Resubscribed from the stored cursor: "before" was not delivered a second time.
    assert [e.text for e in route.events.items if e.text == "before"] == ["before"]


def test_during_an_outage_requests_wait_for_the_link_which_says_when_it_is_back(
    open_route: Callable[..., Route], emulator: Any
) -> None:
    connects: Recorder[str] = Recorder()
    route = open_route(
        settings=dataclasses.replace(TEST_SETTINGS, reconnect_policy=ReconnectBackoff()),
        on_connected=lambda: connects("up"),
    )
    route.client.ensure_open_conversation()
    assert connects.items == ["up"]
    assert route.client.link.connections == 1
    # LivePerson down: sockets closed, new ones refused with "come back in 60 s".
    emulator.set_faults(
        ws_close_rate=1.0,
        ws_connect_error_rate=1.0,
        ws_connect_error_code=503,
        retry_after_seconds=60,
    )
    with counting_faults() as counter:
        with pytest.raises(ConnectionLostError):
            route.client.request_upload_url(1000, "JPG")
        assert route.client.connection_state == "offline"
        assert route.client.link.offline_since is not None
        # The server's Retry-After is honoured (not the 10 s cap). Waited for before the
        # knocks are counted: the supervisor, woken by the drop, may still be making its own
        # attempt (it sets the next one's time only after that attempt failed).
        wait_until(lambda: (route.client.link.next_attempt_at or 0) > time.time() + 50)
        knocks = counter.connection_attempts
        for _ in range(5):
            # Refused at once, without a socket of their own: the supervisor reconnects.
            with pytest.raises(LinkDownError):
                route.client.request_upload_url(1000, "JPG")
        assert counter.connection_attempts == knocks
    emulator.reset_faults()
    route.client.reconnect_now()
    wait_until(lambda: connects.items == ["up", "up"])
    assert route.client.connection_state == "connected"
    assert route.client.link.offline_since is None
    assert route.client.request_upload_url(1000, "JPG").relative_path


@pytest.mark.parametrize("code", [4401, 4407])
def test_one_auth_close_reconnects_with_the_same_token_and_keeps_the_conversation(
    open_route: Callable[..., Route], emulator: Any, code: int
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    first_consumer = route.client.consumer_id

    assert emulator.close_sockets(code) == 1
    # The next request finds the socket closed (or already reopened) and goes through.
    route.client.request_upload_url(1000, "JPG")
    # Signup tokens live ~13 years: one 4401/4407 does not cost the route its consumer.
    assert route.client.consumer_id == first_consumer
    assert [i.consumer_id for i in route.identities.saved] == [first_consumer]
    assert route.client.ensure_open_conversation() == conversation_id


@pytest.mark.parametrize("code", [4401, 4407])
def test_a_token_closed_again_on_its_retry_is_replaced_by_a_new_signup_that_is_saved(
    open_route: Callable[..., Route], emulator: Any, code: int
) -> None:
    route = open_route()
    old_conversation = route.client.ensure_open_conversation()
    first_consumer = route.client.consumer_id

    # Every request closes the socket: the retry with the same token is closed as well.
    emulator.set_faults(ws_close_rate=1.0, ws_close_code=code)
    with pytest.raises(ConnectionLostError):
        route.client.request_upload_url(1000, "JPG")
    wait_until(lambda: bool(route.identities.saved))
    emulator.set_faults(ws_close_rate=0.0)

    wait_until(lambda: route.client.connection_state == "connected")
    assert route.client.consumer_id != first_consumer
    assert route.identities.identity is not None
    assert route.identities.identity.consumer_id == route.client.consumer_id
    # The old consumer's conversation is reported gone, so the route opens a new one.
    gone = route.changes.wait_for(
        lambda change: change.conversation_id == old_conversation and not change.is_open
    )
    assert gone.change_type == "DELETE"
    assert route.client.ensure_open_conversation() != old_conversation


def test_a_stored_token_the_server_refuses_is_replaced_by_a_new_signup(
    open_route: Callable[..., Route], caplog: pytest.LogCaptureFixture
) -> None:
    forged = ConsumerIdentity(
        "someone", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzb21lb25lIn0.c2lnbmF0dXJl"
    )
    route = open_route(identities=IdentityBox(identity=forged))

    with caplog.at_level("INFO", logger="syncd.liveperson"):
        route.client.ensure_open_conversation()

    assert route.client.consumer_id not in (None, "someone")
    assert [i.consumer_id for i in route.identities.saved] == [route.client.consumer_id]
    # Losing a stored identity hides its conversations: that deserves a warning.
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("signed up as NEW consumer" in message for message in warnings), warnings


def test_the_first_signup_of_a_fresh_state_is_information_not_a_warning(
    open_route: Callable[..., Route], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="syncd.liveperson"):
        route = open_route()
        route.client.ensure_open_conversation()

    signups = [r for r in caplog.records if "signed up as" in r.getMessage()]
    assert [r.levelname for r in signups] == ["INFO"], [r.getMessage() for r in signups]
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert route.client.consumer_id in signups[0].getMessage()


# --- admin: file sharing switch ------------------------------------------------------------

FILE_SHARING_OFF = EmulatorSettings(port=0, file_sharing_enabled=False)


@pytest.mark.parametrize("emulator_settings", [FILE_SHARING_OFF])
def test_enabling_file_sharing_reports_old_and_new_values_and_unlocks_uploads(
    http: HttpClient, resolver: DomainResolver, open_route: Callable[..., Route], emulator: Any
) -> None:
    route = open_route()
    route.client.ensure_open_conversation()
    with pytest.raises(RequestRejectedError) as refused:
        route.client.request_upload_url(1000, "JPG")
    assert 400 <= refused.value.code < 500

    session = admin.login(http, resolver, emulator.account, "admin", "admin-password")
    assert session.bearer not in repr(session)
    old, new = admin.enable_file_sharing(http, resolver, emulator.account, session)

    assert (old, new) == (False, True)
    assert route.client.request_upload_url(1000, "JPG").relative_path.startswith("/v1/")


def test_enabling_file_sharing_twice_changes_nothing_the_second_time(
    http: HttpClient, resolver: DomainResolver, emulator: Any
) -> None:
    session = admin.login(http, resolver, emulator.account, "admin", "admin-password")
    admin.enable_file_sharing(http, resolver, emulator.account, session)

    assert admin.enable_file_sharing(http, resolver, emulator.account, session) == (True, True)


def test_wrong_admin_password_is_an_authentication_error(
    http: HttpClient, resolver: DomainResolver, emulator: Any
) -> None:

    with pytest.raises(AuthenticationError):
        admin.login(http, resolver, emulator.account, "admin", "not-the-password")
