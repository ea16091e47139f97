"""A hostile LivePerson (compromised, or a MITM holding a trusted certificate) over loopback.

Every call has an overall deadline, every answer and message a size cap and a nesting limit,
sequences are sane integers, and events of conversations the route does not follow are left
out. Each violation is logged with the peer's address and costs a reconnect, not a thread.
Memory is measured in a child process (its own VmHWM), so the test runner's does not count.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.errors import ConnectionLostError, ProtocolError, SyncdError, TransientTransferError
from syncd.liveperson import protocol, response_bodies, session
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from syncd.liveperson.identity import signup
from syncd.liveperson.limits import MAX_SEQUENCE, PeerLimitError
from syncd.liveperson.session import MessagingConnection
from tests.helpers.hostile_peer import (
    accept_websocket,
    frame_header,
    hostile_peer,
    send_endless,
    send_text_frame,
    trickle,
)
from tests.helpers.waiting import wait_until
from tests.integration.test_liveperson_client import Route, jpeg_bytes, open_route  # noqa: F401 - fixture

pytestmark = pytest.mark.usefixtures("no_leaked_client_threads")

REPOSITORY = Path(__file__).resolve().parents[2]
RSS_LIMIT_KIB = 150 * 1024
WAIT_SECONDS = 30.0
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def run_in_thread(function: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``function`` on a thread; the dict gets its ``result`` or ``error``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = function()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def run_child(code: str) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line, returned here."""
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=REPOSITORY,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


PEAK_MEMORY = """
def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""


# --- HTTP: deadlines ------------------------------------------------------------------------


def test_trickled_download_is_abandoned_at_its_deadline_and_logged_with_the_peer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def one_byte_every_two_seconds(
        connection: socket.socket, head: bytes, stop: threading.Event
    ) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        trickle(connection, b"x" * 100, 2.0, stop)

    # A 3 s read timeout never fires on a byte every 2 s; only the call's deadline can.
    client = HttpClient(None, 3.0, "syncd-tests")
    with hostile_peer(one_byte_every_two_seconds) as peer, caplog.at_level(logging.WARNING):
        thread, outcome = run_in_thread(
            lambda: client.get_bytes(f"{peer.base_url}/v1/AUTH_x/c/o", max_bytes=1000)
        )
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "the download was not abandoned"
        assert isinstance(outcome.get("error"), TransientTransferError), outcome
        assert "abandoned" in str(outcome["error"])
        # The client hung up: the hostile handler's next byte was refused.
        assert peer.handler_ended.wait(WAIT_SECONDS)
    client.close()
    lines = [r.getMessage() for r in caplog.records if "abandoned" in r.getMessage()]
    assert len(lines) == 1 and f"127.0.0.1:{peer.port}" in lines[0], lines


def test_slow_signup_answer_is_abandoned_at_its_deadline() -> None:
    def domain_fast_signup_slow(
        connection: socket.socket, head: bytes, stop: threading.Event
    ) -> None:
        if b"/signup" in head.split(b"\r\n", 1)[0]:
            trickle(
                connection, b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"jwt":"x"}', 2.0, stop
            )
            return
        body = json.dumps({"baseURI": f"127.0.0.1:{port}"}).encode()
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )

    client = HttpClient(None, 3.0, "syncd-tests")
    with hostile_peer(domain_fast_signup_slow) as peer:
        port = peer.port
        resolver = DomainResolver(client, peer.base_url, "12345678")
        thread, outcome = run_in_thread(lambda: signup(client, resolver, "12345678"))
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "the sign-up was not abandoned"
    client.close()
    assert isinstance(outcome.get("error"), TransientTransferError), outcome
    assert "abandoned" in str(outcome["error"]) and "/signup" in str(outcome["error"])


# --- HTTP: size and nesting -----------------------------------------------------------------


def endless_json(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
    # No Content-Length: only reading can tell how long it is.
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n["
    )
    send_endless(connection, 200 * 1024 * 1024, stop)


def test_a_200_mb_json_answer_is_refused_with_peak_memory_under_150_mb() -> None:
    with hostile_peer(endless_json) as peer:
        outcome = run_child(
            PEAK_MEMORY
            + f"""
import json
from syncd.liveperson.http import HttpClient
client = HttpClient(None, 60.0, "syncd-tests")
try:
    client.get_json("{peer.base_url}/api/account/1/service/baseURI.json")
    error = None
except Exception as caught:
    error = type(caught).__name__
print(json.dumps({{"error": error, "peak_kib": peak_kib()}}))
"""
        )
    assert outcome["error"] == "PeerLimitError", outcome
    assert outcome["peak_kib"] < RSS_LIMIT_KIB, outcome


def test_deeply_nested_json_answer_is_a_protocol_error_not_a_recursion_error() -> None:
    def deep(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
        body = DEEP_JSON.encode()
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    client = HttpClient(None, 10.0, "syncd-tests")
    with hostile_peer(deep) as peer, pytest.raises(PeerLimitError, match="nests deeper"):
        client.get_json(f"{peer.base_url}/api/account/1/signup")
    client.close()


# --- WebSocket: size, nesting, handshake deadline -------------------------------------------


def giant_frame(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
    accept_websocket(connection, head)
    total = 150 * 1024 * 1024
    connection.sendall(frame_header(0x1, total))
    send_endless(connection, total, stop)


def giant_fragmented_message(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
    # 150 fragments of 1 MiB: each is small, together they are 150 MiB.
    accept_websocket(connection, head)
    piece = b"1," * (512 * 1024)
    for index in range(150):
        if stop.is_set():
            return
        opcode = 0x1 if index == 0 else 0x0
        connection.sendall(frame_header(opcode, len(piece), fin=index == 149) + piece)


@pytest.mark.parametrize("handler", [giant_frame, giant_fragmented_message])
def test_a_150_mb_websocket_message_is_refused_with_peak_memory_under_150_mb(
    handler: Callable[[socket.socket, bytes, threading.Event], None],
) -> None:
    with hostile_peer(handler) as peer:
        outcome = run_child(
            PEAK_MEMORY
            + f"""
import json, threading
from syncd.liveperson.session import MessagingConnection
ended = threading.Event()
errors = []
def on_close(error):
    errors.append(type(error).__name__ + ": " + str(error))
    ended.set()
connection = MessagingConnection()
connection.connect("ws://127.0.0.1:{peer.port}/ws", "jwt", 10.0, None, 0, lambda n: None, on_close)
ended.wait(60)
connection.close()
print(json.dumps({{"errors": errors, "peak_kib": peak_kib()}}))
"""
        )
    assert len(outcome["errors"]) == 1, outcome
    assert outcome["errors"][0].startswith("ConnectionLostError"), outcome
    assert "message of at least" in outcome["errors"][0], outcome
    assert outcome["peak_kib"] < RSS_LIMIT_KIB, outcome


class Ends:
    def __init__(self) -> None:
        self.errors: list[SyncdError] = []
        self.happened = threading.Event()

    def __call__(self, error: SyncdError) -> None:
        self.errors.append(error)
        self.happened.set()


def test_deeply_nested_frame_drops_the_connection_once_with_the_peer_address(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def deep_then_wait(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
        accept_websocket(connection, head)
        send_text_frame(connection, '{"kind":"notification","type":"x","body":' + DEEP_JSON + "}")
        while not stop.is_set() and connection.recv(4096):
            pass

    ends = Ends()
    reader_errors: list[BaseException] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda arguments: reader_errors.append(arguments.exc_value)  # type: ignore[assignment,return-value]
    try:
        with hostile_peer(deep_then_wait) as peer, caplog.at_level(logging.WARNING):
            connection = MessagingConnection()
            connection.connect(
                f"ws://127.0.0.1:{peer.port}/ws", "jwt", 5.0, None, 0, lambda n: None, ends
            )
            assert ends.happened.wait(WAIT_SECONDS)
            connection.close()
    finally:
        threading.excepthook = previous_hook
    assert not reader_errors, reader_errors
    assert len(ends.errors) == 1 and isinstance(ends.errors[0], ConnectionLostError)
    assert ends.errors[0].retry_after_seconds == session.VIOLATION_PAUSE_SECONDS
    lines = [r.getMessage() for r in caplog.records if "broke a limit" in r.getMessage()]
    assert len(lines) == 1 and f"127.0.0.1:{peer.port}" in lines[0], lines
    assert "nests deeper" in lines[0]


def test_trickled_websocket_handshake_is_abandoned_at_its_deadline() -> None:
    def slow_upgrade(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
        trickle(connection, b"HTTP/1.1 101 Switching Protocols\r\n" * 10, 2.0, stop)

    with hostile_peer(slow_upgrade) as peer:
        connection = MessagingConnection()
        thread, outcome = run_in_thread(
            lambda: connection.connect(
                f"ws://127.0.0.1:{peer.port}/ws", "jwt", 3.0, None, 0, lambda n: None, Ends()
            )
        )
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "the handshake was not abandoned"
    assert isinstance(outcome.get("error"), ConnectionLostError), outcome
    assert "no handshake from 127.0.0.1" in str(outcome["error"])


def test_a_send_to_a_peer_that_stops_reading_is_abandoned_at_its_deadline() -> None:
    def never_reads(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
        accept_websocket(connection, head)
        stop.wait(4 * WAIT_SECONDS)  # until the test ends: longer than it waits for the send

    with hostile_peer(never_reads) as peer:
        connection = MessagingConnection()
        connection.connect(
            f"ws://127.0.0.1:{peer.port}/ws", "jwt", 3.0, None, 0, lambda n: None, Ends()
        )
        # Far more than the socket buffers hold: the send blocks until someone reads.
        body = {"text": "x" * (64 * 1024 * 1024)}
        thread, outcome = run_in_thread(lambda: connection.request("ms.PublishEvent", body))
        thread.join(WAIT_SECONDS)
        assert not thread.is_alive(), "the send was not abandoned"
        connection.close()
    assert isinstance(outcome.get("error"), ConnectionLostError), outcome
    assert "within its deadline" in str(outcome["error"])


# --- consumer: sequences and conversations that are not ours ---------------------------------


def messaging_frame(changes: list[dict[str, Any]]) -> str:
    return protocol.build_notification(protocol.MESSAGING_EVENT, {"changes": changes})


def text_change(conversation_id: str, sequence: object, text: str = "hello") -> dict[str, Any]:
    return {
        "sequence": sequence,
        "originatorId": "agent-1",
        "originatorMetadata": {"role": "ASSIGNED_AGENT"},
        "serverTimestamp": 1,
        "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
        "dialogId": conversation_id,
    }


def test_insane_sequences_are_refused_the_rest_kept_and_the_connection_renewed(
    open_route: Callable[..., Route],  # noqa: F811 - the imported fixture
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session, "VIOLATION_PAUSE_SECONDS", 0.2)
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    real = emulator.send_agent_message(conversation_id, "before")["sequence"]
    route.events.wait_for(lambda event: event.text == "before")
    connections_before = len(emulator.core.hub.subscribers())
    with caplog.at_level(logging.WARNING):
        frame = messaging_frame(
            [
                text_change(conversation_id, True),
                text_change(conversation_id, 2**63),
                text_change(conversation_id, 2**62),
                text_change(conversation_id, -1),
                text_change(conversation_id, 50_000_000),  # in range, but jumps past the cursor
                text_change(conversation_id, real, "the good one"),
            ]
        )
        assert emulator.send_raw_frame(frame) == connections_before
        route.events.wait_for(lambda event: event.text == "the good one")
        # The connection was renewed: a fresh one is up and the route still receives.
        wait_until(
            lambda: (
                route.client.connection_state == "connected"
                and len([r for r in caplog.records if "broke a limit" in r.getMessage()]) == 1
            )
        )
        emulator.send_agent_message(conversation_id, "after the renewal")
        route.events.wait_for(lambda event: event.text == "after the renewal")
    sequences = [event.sequence for event in route.events.items]
    assert all(s is not None and 0 <= s <= MAX_SEQUENCE and s < 1000 for s in sequences), sequences
    assert max(route.cursors.values()) < 1000
    lines = [r.getMessage() for r in caplog.records if "broke a limit" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "127.0.0.1" in lines[0] and "5 event(s) refused" in lines[0], lines


def test_events_and_changes_of_an_unknown_conversation_are_ignored(
    open_route: Callable[..., Route],  # noqa: F811 - the imported fixture
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    route = open_route()
    conversation_id = route.client.ensure_open_conversation()
    stranger = "not-this-routes-conversation"
    file_change = {
        **text_change(stranger, 3),
        "event": {
            "type": "ContentEvent",
            "contentType": "hosted/file",
            "message": {"relativePath": "/v1/AUTH_x/c/o.jpg", "fileType": "JPG"},
        },
    }
    closing = protocol.build_notification(
        protocol.EX_CONVERSATION_CHANGE,
        {
            "changes": [
                {
                    "type": "UPSERT",
                    "result": {"convId": stranger, "conversationDetails": {"state": "CLOSE"}},
                },
                {"type": "DELETE", "result": {"convId": stranger}},
                {
                    "type": "UPSERT",
                    "result": {"convId": stranger, "conversationDetails": {"state": "OPEN"}},
                },
            ]
        },
    )
    with caplog.at_level(logging.WARNING):
        emulator.send_raw_frame(messaging_frame([file_change]))
        emulator.send_raw_frame(closing)
        emulator.send_agent_file(conversation_id, jpeg_bytes())
        route.events.wait_for(lambda event: event.hosted_file is not None)
    assert all(event.dialog_id == conversation_id for event in route.events.items)
    assert all(change.conversation_id == conversation_id for change in route.changes.items)
    assert route.client.ensure_open_conversation() == conversation_id
    ignored = [r.getMessage() for r in caplog.records if "ignoring" in r.getMessage()]
    assert len(ignored) == 1 and stranger in ignored[0], ignored


def test_publish_answer_with_an_insane_sequence_is_a_protocol_error() -> None:
    for sequence in (True, 2**63, -1, "5"):
        with pytest.raises(ProtocolError):
            response_bodies.parse_sequence({"sequence": sequence})


# --- the daemon: a hostile frame costs no route, no thread and no conversation ------------------


def test_the_daemon_keeps_its_conversation_and_cursor_through_hostile_frames(
    tmp_path: Path, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    from syncd.state.model import ConversationState, InboundState
    from tests.helpers.harness import running_daemon, write_config

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(session, "VIOLATION_PAUSE_SECONDS", 0.2)
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    stranger = "f0e1d2c3-not-this-routes-conversation"
    try:
        with caplog.at_level(logging.INFO, logger="syncd"), running_daemon(config) as running:
            store = running.daemon.store
            conversation = running.conversation("scans")
            emulator.send_raw_frame(messaging_frame([text_change(stranger, 4)]))
            emulator.send_raw_frame(
                messaging_frame(
                    [
                        text_change(conversation, 2**63),
                        text_change(conversation, 2**62),
                        text_change(conversation, True),
                    ]
                )
            )
            emulator.send_agent_file(conversation, jpeg_bytes())
            wait_until(
                lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == 1,
                WAIT_SECONDS,
                "the agent's file after the hostile frames",
            )
            rows = store.conversations_for("scans")
    finally:
        monkeypatch.undo()
    assert [row.conversation_id for row in rows] == [conversation]
    assert rows[0].state == ConversationState.OPEN
    assert 0 <= rows[0].last_seen_sequence < 1000
    assert not [r for r in caplog.records if "OverflowError" in r.getMessage()]
    assert not [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
