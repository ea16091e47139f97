"""LivePerson unreachable for minutes while scans keep arriving: when it comes back, the
backlog goes at once, and during the outage the daemon knocks politely.

The emulator refuses everything (every socket upgrade 503, every request on an open socket
answered by closing it, every storage request 503) for 60 s (240 s in the soak run) while a
scanner drops a page every few seconds and an agent file waits to be downloaded. Then the
faults clear. Within 15 s every queued page must be published, once and in order, and the
agent's file be in the inbox. Connection attempts are counted in the emulator's log.

The daemon must reconnect within the reconnect cap (the longest wait full jitter can draw,
10 s) and the whole backlog be out within 15 s of the faults clearing. The measured total is
printed (run with ``-s``).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.rules import retry_delay_seconds
from syncd.rules.outage import RECONNECT_MAX_WAIT_SECONDS
from syncd.rules.retry import FAST_TEST_RETRY_POLICY
from syncd.state.model import InboundState, OutboundRow, OutboundState
from tests.helpers.cli import run_syncd
from tests.helpers.harness import read_state, stop_process
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until
from tests.reliability.workload import ROUTE, Workload, counting_faults

# Every socket, request and upload refused, as in the measurements.
EVERYTHING_REFUSED: dict[str, Any] = {
    "ws_connect_error_rate": 1.0,
    "ws_connect_error_code": 503,
    "ws_close_rate": 1.0,
    "ws_close_code": 1011,
    "request_error_rate": 1.0,
    "request_error_code": 503,
    "swift_error_rate": 1.0,
    "swift_error_code": 503,
}
# A socket opened within the reconnect cap (plus the connect itself) after the faults clear,
# and the whole backlog out within this many seconds of the faults clearing (the bar).
CONNECT_SECONDS = 2.0
BACKLOG_SECONDS = 15.0
# "At most one connection attempt per few seconds per route". The waits are random (full
# jitter: uniform up to 1, 2, 4, 8, then 10 s), so a correct daemon makes 15 attempts in a
# minute on average; a bound of one per 3 s fails it about once in a hundred runs (CI saw
# 22). One per 2.5 s (24 in 60 s) fails it about once in 8,000 runs (a simulation of
# 500,000 minutes) and still catches a daemon that knocks every second or two.
MIN_SECONDS_PER_ATTEMPT = 2.5
SETUP_TIMEOUT_SECONDS = 60.0


def _status(workload: Workload) -> dict[str, Any]:
    result = run_syncd("status", "--json", "--config", str(workload.config))
    assert result.returncode == 0, result.stderr
    route: dict[str, Any] = json.loads(result.stdout)["routes"][0]
    return route


def _attempts_of(workload: Workload) -> list[int]:
    rows = read_state(
        workload.database, lambda store: store.outbound_in_states(tuple(OutboundState), ROUTE)
    )
    return [row.attempts for row in rows or []]


def _published_captions(emulator: RunningEmulator) -> list[str]:
    events = sorted(hosted_file_events(emulator), key=lambda event: event["sequence"])
    return [str(event["event"]["message"]["caption"]) for event in events]


def _run_outage(tmp_path: Path, emulator: RunningEmulator, outage_seconds: float) -> None:
    context = f"an outage of {outage_seconds:.0f} s"
    workload = Workload.create(tmp_path, emulator)
    process = workload.start()
    try:
        _outage_then_recovery(workload, process, emulator, outage_seconds, context)
        assert process.poll() is None, f"{context}: the daemon exited\n{workload.log_tail()}"
    finally:
        code = stop_process(process)
    assert code == 0, f"{context}: exit code {code} on SIGTERM\n{workload.log_tail()}"
    workload.check_invariants(context)


def _outage_then_recovery(
    workload: Workload,
    process: subprocess.Popen[bytes],
    emulator: RunningEmulator,
    outage_seconds: float,
    context: str,
) -> None:
    # The first scan opens the conversation (syncd opens none before a file is ready).
    workload.drop_good(1, "before")
    workload.wait_settled(context, SETUP_TIMEOUT_SECONDS)
    conversation = workload.conversation()
    # Storage goes first: the agent's file is recorded but its download cannot happen.
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=503)
    workload.agent_sends("form during the outage", seed=1, conversation_id=conversation)
    wait_until(
        lambda: workload.inbound_states()[InboundState.PENDING] == 1,
        SETUP_TIMEOUT_SECONDS,
        "the agent's file recorded and its download pending",
    )
    with counting_faults() as counter:
        emulator.set_faults(**EVERYTHING_REFUSED)
        outage_started = time.monotonic()
        backlog = _keep_scanning(workload, process, outage_started + outage_seconds, context)
        attempts = counter.connection_attempts
        emulator.reset_faults()
        cleared = time.monotonic()
        # Nothing of the backlog went out while everything was refused.
        assert _published_captions(emulator) == ["before_00.jpg"], context
        wait_until(
            workload.settled,
            BACKLOG_SECONDS,
            f"the backlog of {len(backlog)} pages and the agent's file after the faults cleared",
        )
        recovery_seconds = time.monotonic() - cleared
        reconnected_at = min(t for t in counter.sockets_opened_at if t >= cleared)
    assert reconnected_at - cleared <= RECONNECT_MAX_WAIT_SECONDS + CONNECT_SECONDS, (
        f"{context}: reconnected {reconnected_at - cleared:.1f} s after the faults cleared"
    )
    assert _published_captions(emulator) == ["before_00.jpg", *backlog], (
        f"{context}: not published once each in order\n{workload.log_tail()}"
    )
    elapsed = cleared - outage_started
    assert 2 <= attempts <= elapsed / MIN_SECONDS_PER_ATTEMPT, (
        f"{context}: {attempts} connection attempts in {elapsed:.0f} s"
    )
    log = workload.log_text()
    assert log.count("LivePerson unreachable (") == 1, workload.log_tail()
    assert "LivePerson reachable again after" in log, workload.log_tail()
    assert f"{len(backlog)} files queued" in log or f"{len(backlog) + 1} files queued" in log, (
        workload.log_tail()
    )
    # The figures the issue asks for, shown with -s.
    print(
        f"{context}: {len(backlog)} pages and 1 download out {recovery_seconds:.1f} s after "
        f"the faults cleared; {attempts} connection attempts in {elapsed:.0f} s"
    )


def _keep_scanning(
    workload: Workload, process: subprocess.Popen[bytes], until: float, context: str
) -> list[str]:
    """Drop a page every few seconds until ``until`` (monotonic); while waiting, check that
    the daemon lives, nothing is published and ``syncd status`` shows the outage."""
    backlog: list[str] = []
    outage_seen = threading.Event()
    index = 0
    while time.monotonic() < until:
        backlog += workload.drop_good(1, f"outage{index:02d}", seed=10 + index)
        index += 1
        next_drop = min(time.monotonic() + 8.0, until)

        def checked(expected: int = len(backlog), next_drop: float = next_drop) -> bool:
            assert process.poll() is None, f"{context}: the daemon exited\n{workload.log_tail()}"
            # Waiting for the link is no failed attempt of the file's own.
            attempts = _attempts_of(workload)
            assert set(attempts) == {0}, f"{context}: attempts {attempts}\n{workload.log_tail()}"
            if not outage_seen.is_set():
                outage = _status(workload)["outage"]
                # The agent's pending download waits too.
                if outage is not None and outage["files_waiting"] == expected + 1:
                    outage_seen.set()
            return time.monotonic() >= next_drop

        wait_until(checked, until - time.monotonic() + 30, "the next page of the scanner")
    assert outage_seen.is_set(), f"{context}: syncd status never showed the outage"
    status = _status(workload)
    assert status["connection"] == "offline", status
    assert status["outage"]["since"] is not None, status
    return backlog


def test_after_a_one_minute_outage_the_backlog_goes_at_once(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _run_outage(tmp_path, emulator, 60.0)


@pytest.mark.soak
def test_after_a_four_minute_outage_the_backlog_goes_at_once(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    _run_outage(tmp_path, emulator, 240.0)


def test_a_publish_refused_with_a_4xx_still_follows_the_durable_schedule(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    context = "every publish answered 400 for a while"
    workload = Workload.create(tmp_path, emulator)
    process = workload.start()
    try:
        workload.conversation()
        workload.drop_good(1, "before")
        workload.wait_settled(context, SETUP_TIMEOUT_SECONDS)
        emulator.set_faults(
            request_error_rate=1.0, request_error_code=400, request_error_types=["ms.PublishEvent"]
        )
        workload.drop_good(1, "refused")

        def refused_row(attempts: int) -> OutboundRow | None:
            rows = read_state(
                workload.database,
                lambda store: store.outbound_in_states(tuple(OutboundState), ROUTE),
            )
            found = [row for row in rows or [] if row.source_name == "refused_00.jpg"]
            return found[0] if found and found[0].attempts >= attempts else None

        for attempts in (1, 2):
            row = wait_until(
                lambda attempts=attempts: refused_row(attempts),
                SETUP_TIMEOUT_SECONDS,
                f"refused attempt {attempts}",
            )
            # The file's own failure climbs its schedule: 5 s, then 10 s (protocol.md §3.4);
            # the daemon runs with SYNCD_TEST_TIMERS=fast (conftest), a tenth of that, while
            # this process keeps the production policy, so the fast one is named here.
            expected_seconds = retry_delay_seconds(row.attempts, policy=FAST_TEST_RETRY_POLICY)
            assert row.next_attempt_at - row.updated_at >= expected_seconds
            assert "rejected with code 400" in (row.last_error or "")
        # Lifted at once: the third refusal fails the file, 1 s (fast timers) after the
        # second. Nothing slow (such as a `syncd status` run) may come in between; that the
        # refusals were no outage is checked in the log below ("LivePerson unreachable").
        emulator.reset_faults()
        workload.wait_settled(context, SETUP_TIMEOUT_SECONDS)
        assert process.poll() is None, f"{context}: the daemon exited\n{workload.log_tail()}"
    finally:
        code = stop_process(process)
    assert code == 0, f"{context}: exit code {code} on SIGTERM\n{workload.log_tail()}"
    workload.check_invariants(context)
    log = workload.log_text()
    assert "refused_00.jpg: ms.PublishEvent rejected with code 400" in log, workload.log_tail()
    assert "LivePerson unreachable" not in log, workload.log_tail()
