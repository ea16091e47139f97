"""What an operator reads in the journal while LivePerson is down, for a daemon with two routes.

Each line about a route's connection (the WebSocket, the consumer token, retried requests,
the outage) names its route; a library's exception chain is one short clause, not urllib3's
nested repr; and the attempt counter of a retried request counts on across the link's
reconnects instead of starting at "1 of 4" again.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from syncd.emulator.server import start_emulator
from tests.helpers.cli import DaemonProcess, run_syncd
from tests.helpers.harness import write_config
from tests.helpers.waiting import wait_until

ROUTES = ("claims", "invoices")
TIMEOUT_SECONDS = 90
# A journal line a person reads at a glance (urllib3's repr alone was ~400 characters).
MAX_LINE_CHARACTERS = 300
# One call tries this often (RetryPolicy.max_attempts); a number above it counted on.
ATTEMPTS_PER_CALL = 4
_SUMMARY = " (repeated "
# Lines syncd writes about itself, not about a route.
_DAEMON_LINES = re.compile(r" syncd\.(daemon|notify): ")
_LIBRARY_DETAIL = ("Caused by", "Max retries", "object at 0x", "HTTPConnection", "Errno")
_ATTEMPT = re.compile(r"route=(\w+): obtain a consumer token failed \(attempt (\d+)(?: of \d+)?\)")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _attempts(log: str) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {route: [] for route in ROUTES}
    for route, number in _ATTEMPT.findall(log):
        seen[route].append(int(number))
    return seen


def _connection_states(config: Path) -> set[str]:
    status = run_syncd("status", "--json", "--config", str(config))
    if status.returncode != 0:
        return set()
    return {str(route["connection"]) for route in json.loads(status.stdout)["routes"]}


def _token_failures(log_path: Path) -> int:
    """How many lines about a failed token request the log holds."""
    return log_path.read_text(encoding="utf-8").count("obtain a consumer token failed (")


def _lines(log_path: Path) -> list[str]:
    return log_path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def refused_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The log of a daemon whose LivePerson refuses every connection from the start, until
    each route's retried token request was logged once and then summarised."""
    folder = tmp_path_factory.mktemp("refused")
    port = _closed_port()
    config = write_config(
        folder, f"http://127.0.0.1:{port}", "12345678", [{"name": name} for name in ROUTES]
    )
    log_path = folder / "daemon.log"
    # Fast timers: a repeated warning is summarised after 30 s instead of 5 min.
    with DaemonProcess(config, log_path, env={"SYNCD_TEST_TIMERS": "fast"}) as daemon:
        wait_until(
            lambda: _token_failures(log_path) >= 2 * len(ROUTES),
            TIMEOUT_SECONDS,
            "a summary of each route's failed token requests",
        )
        assert daemon.stop() == 0
    return log_path.read_text(encoding="utf-8")


def test_every_line_about_a_connection_names_its_route(refused_log: str) -> None:
    lines = refused_log.splitlines()
    about_liveperson = [line for line in lines if " syncd.liveperson." in line]
    assert about_liveperson
    unnamed = [
        line
        for line in lines
        if (" syncd.liveperson." in line or " WARNING " in line or " ERROR " in line)
        and not _DAEMON_LINES.search(line)
        and not any(f"route={route}" in line for route in ROUTES)
    ]
    assert unnamed == []


def test_a_refused_connection_is_one_short_clause(refused_log: str) -> None:
    warnings = [line for line in refused_log.splitlines() if " WARNING " in line]
    assert any("connection refused by 127.0.0.1:" in line for line in warnings), warnings
    # A summary appends its count and times to the line it lets through.
    too_long = [line for line in warnings if len(line.split(_SUMMARY)[0]) > MAX_LINE_CHARACTERS]
    assert too_long == []
    assert [line for line in warnings if any(word in line for word in _LIBRARY_DETAIL)] == []


def test_the_attempt_counter_counts_on_across_reconnects(refused_log: str) -> None:
    for route, numbers in _attempts(refused_log).items():
        # The first failure, then the summary after the repeats: the count went on.
        assert len(numbers) == 2, (route, numbers)
        assert numbers[0] == 1 and numbers[1] > ATTEMPTS_PER_CALL, (route, numbers)
    assert f" of {ATTEMPTS_PER_CALL})" not in refused_log


def test_a_retried_request_is_logged_once_then_summarised_not_every_attempt(
    refused_log: str,
) -> None:
    for route in ROUTES:
        lines = [
            line
            for line in refused_log.splitlines()
            if f"route={route}: obtain a consumer token failed (" in line
        ]
        assert len(lines) == 2, lines
        assert _SUMMARY not in lines[0] and _SUMMARY in lines[1], lines


def test_a_lost_websocket_names_its_route(tmp_path: Path) -> None:
    """LivePerson goes away under open WebSockets: the lost connection, the failed reconnects
    and the outage are told per route."""
    emulator = start_emulator()
    try:
        config = write_config(
            tmp_path, emulator.base_url, emulator.account, [{"name": name} for name in ROUTES]
        )
        log_path = tmp_path / "daemon.log"
        with DaemonProcess(config, log_path) as daemon:
            wait_until(
                lambda: _connection_states(config) == {"connected"},
                TIMEOUT_SECONDS,
                "both routes' WebSockets",
            )
            emulator.stop()
            wait_until(
                lambda: sum("LivePerson unreachable (" in line for line in _lines(log_path)) >= 2,
                TIMEOUT_SECONDS,
                "both routes' outage",
            )
            assert daemon.stop() == 0
    finally:
        emulator.stop()
    lines = _lines(log_path)
    about_liveperson = [line for line in lines if " syncd.liveperson." in line]
    lost = [line for line in about_liveperson if "messaging connection lost" in line]
    assert {route for route in ROUTES for line in lost if f"route={route}:" in line} == set(
        ROUTES
    ), lost
    assert [line for line in about_liveperson if "route=" not in line] == []
    outage = [line for line in lines if "LivePerson unreachable (" in line]
    assert all("connection refused by 127.0.0.1:" in line for line in outage), outage
    assert all(len(line) <= MAX_LINE_CHARACTERS for line in lines if " WARNING " in line)
