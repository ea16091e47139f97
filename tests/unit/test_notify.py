"""sd_notify against real unix datagram sockets standing in for systemd's notify socket."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.service.notify import Notifier, format_status, watchdog_interval_seconds

RECEIVE_TIMEOUT_SECONDS = 5.0


def bound_datagram_socket(address: str | bytes) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(RECEIVE_TIMEOUT_SECONDS)
    return listener


def received(listener: socket.socket, count: int = 1) -> list[str]:
    """Wait (up to the socket timeout each) for ``count`` datagrams and decode them."""
    return [listener.recv(65536).decode("utf-8") for _ in range(count)]


@pytest.fixture
def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "notify.sock"


@pytest.fixture
def listener(socket_path: Path) -> Iterator[socket.socket]:
    with bound_datagram_socket(str(socket_path)) as bound:
        yield bound


@pytest.fixture
def notifier(socket_path: Path, listener: socket.socket) -> Iterator[Notifier]:
    made = Notifier.from_environment({"NOTIFY_SOCKET": str(socket_path)})
    yield made
    made.close()


def test_ready_sends_exactly_ready_to_a_socket_path(
    notifier: Notifier, listener: socket.socket
) -> None:
    assert notifier.enabled
    assert notifier.ready() is True
    assert received(listener) == ["READY=1"]


def test_ready_with_a_status_sends_both_in_one_datagram(
    notifier: Notifier, listener: socket.socket
) -> None:
    notifier.ready("watching 2 routes")
    assert received(listener) == ["READY=1\nSTATUS=watching 2 routes"]


def test_an_abstract_socket_name_receives_the_same_datagrams() -> None:
    name = f"syncd-test-{uuid.uuid4().hex}"
    with bound_datagram_socket(b"\0" + name.encode()) as abstract_listener:
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": f"@{name}"})
        try:
            notifier.ready()
            notifier.watchdog()
            notifier.stopping()
        finally:
            notifier.close()
        assert received(abstract_listener, 3) == ["READY=1", "WATCHDOG=1", "STOPPING=1"]


def test_status_is_sent_only_when_it_changes(notifier: Notifier, listener: socket.socket) -> None:
    notifier.status("queued 1")
    notifier.status("queued 1")
    notifier.status("queued 2")
    notifier.watchdog()
    assert received(listener, 3) == ["STATUS=queued 1", "STATUS=queued 2", "WATCHDOG=1"]


def test_status_given_with_ready_is_not_repeated(
    notifier: Notifier, listener: socket.socket
) -> None:
    notifier.ready("starting")
    notifier.status("starting")
    notifier.status("running")
    assert received(listener, 2) == ["READY=1\nSTATUS=starting", "STATUS=running"]


def test_line_breaks_in_a_status_cannot_smuggle_in_another_assignment(
    notifier: Notifier, listener: socket.socket
) -> None:
    notifier.status("sent scan.jpg\nMAINPID=1\r\nREADY=1")
    assert received(listener) == ["STATUS=sent scan.jpg MAINPID=1  READY=1"]


def test_a_status_in_another_script_arrives_as_utf8(
    notifier: Notifier, listener: socket.socket
) -> None:
    notifier.status("Счёт_0001.jpg → отправлен")
    assert received(listener) == ["STATUS=Счёт_0001.jpg → отправлен"]


def test_stopping_can_say_what_is_being_finished(
    notifier: Notifier, listener: socket.socket
) -> None:
    notifier.stopping("finishing 1 upload")
    assert received(listener) == ["STOPPING=1\nSTATUS=finishing 1 upload"]


def test_extend_timeout_asks_in_microseconds(notifier: Notifier, listener: socket.socket) -> None:
    notifier.extend_timeout(42.5)
    assert received(listener) == ["EXTEND_TIMEOUT_USEC=42500000"]


def test_without_notify_socket_every_call_is_a_quiet_no_op(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    results = [
        notifier.ready("up"),
        notifier.status("queued 0"),
        notifier.watchdog(),
        notifier.stopping(),
        notifier.extend_timeout(5),
    ]
    notifier.close()
    assert results == [False] * 5
    assert caplog.records == []


@pytest.mark.parametrize("value", ["vsock:2:9999", "run/systemd/notify", "@"])
def test_an_unsupported_notify_socket_is_ignored_with_one_warning(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": value})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


def test_a_vanished_socket_is_logged_once_never_raised_and_found_again(
    socket_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first_listener = bound_datagram_socket(str(socket_path))
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": str(socket_path)})
    try:
        assert notifier.ready() is True
        first_listener.close()
        socket_path.unlink()

        assert [notifier.watchdog() for _ in range(3)] == [False, False, False]
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1

        # systemd re-creates its socket at the same path (daemon-reexec): pings reach it again.
        with bound_datagram_socket(str(socket_path)) as second_listener:
            assert notifier.watchdog() is True
            assert received(second_listener) == ["WATCHDOG=1"]
    finally:
        notifier.close()


@pytest.mark.parametrize(
    ("environment", "expected_seconds"),
    [
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "not-a-pid"}, None),
        ({"WATCHDOG_USEC": "sixty"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout_and_only_for_this_process(
    environment: dict[str, str], expected_seconds: float | None
) -> None:
    assert watchdog_interval_seconds(environment) == expected_seconds


def test_watchdog_interval_honours_an_explicit_process_id() -> None:
    environment = {"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}
    assert watchdog_interval_seconds(environment, pid=4242) == 5.0
    assert watchdog_interval_seconds(environment, pid=4243) is None


def test_status_summary_lists_counts_then_each_route_in_order() -> None:
    summary = format_status(
        queued=3,
        sent=120,
        failed=1,
        inbound=4,
        route_states={"invoices": "connected", "claims": "reconnecting"},
    )
    assert (
        summary
        == "queued 3, sent 120, failed 1, inbound 4; invoices: connected, claims: reconnecting"
    )


def test_status_summary_without_routes_has_only_counts() -> None:
    summary = format_status(queued=0, sent=0, failed=0, inbound=0, route_states={})
    assert summary == "queued 0, sent 0, failed 0, inbound 0"


def test_status_summary_keeps_a_route_name_with_a_line_break_on_one_line() -> None:
    summary = format_status(
        queued=0, sent=1, failed=0, inbound=0, route_states={"night\nshift": "connected"}
    )
    assert summary == "queued 0, sent 1, failed 0, inbound 0; night shift: connected"


def test_status_summary_blanks_c1_controls_and_bidi_overrides() -> None:
    # `systemctl status` prints STATUS= to a terminal: U+009B is a one-byte CSI there.
    summary = format_status(
        queued=0, sent=1, failed=0, inbound=0, route_states={"night\x9b2J\u202eshift": "connected"}
    )
    assert summary == "queued 0, sent 1, failed 0, inbound 0; night 2J shift: connected"
