"""The emulated network (``rtt_ms``, ``uplink_kbps``): requests in flight overlap, a socket's
answers keep their order, and all uploads share one line.

Nothing here times a request against a clock: the emulator records when each request arrived
and when its answer left, and the tests check facts about those intervals (they overlap; the
answers left in order; a shared line cannot carry more than its rate, a lower bound that a
slow machine only makes larger).
"""

from __future__ import annotations

import argparse
import os
import threading

import pytest
import requests

from syncd.emulator.command import add_arguments, settings_from
from syncd.emulator.faults import Faults
from syncd.emulator.network import UPLINK_BURST_BYTES, Interval, Uplink
from syncd.emulator.rejection import Rejection
from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from tests.emulator.wire import Consumer, signup, storage_url, upload_url

RTT_MS = 1000.0  # long enough that four requests start within it on a loaded machine


def _set_faults(emulator: RunningEmulator, **knobs: object) -> None:
    response = requests.put(f"{emulator.base_url}/_emulator/faults", json=knobs, timeout=5)
    assert response.status_code == 200, response.text


def _all_in_flight_together(intervals: list[Interval]) -> bool:
    """True when some moment lies inside every interval (each began before any ended)."""
    return max(entry.started for entry in intervals) < min(entry.finished for entry in intervals)


def test_uplink_shares_its_rate_between_concurrent_senders() -> None:
    line = Uplink()
    kbps = 800.0  # 100,000 bytes per second
    chunk_bytes = 10_000
    # Two senders interleave 20 chunks each at the same instant: the line carries them one
    # after another, so the last is through only when all 400,000 bytes would be.
    waits = [line.reserve(chunk_bytes, 0.0, kbps) for _ in range(40)]
    assert waits == sorted(waits)
    burst_seconds = UPLINK_BURST_BYTES / 100_000
    assert waits[-1] == pytest.approx(40 * chunk_bytes / 100_000 - burst_seconds)
    alone = Uplink()
    assert alone.reserve(20 * chunk_bytes, 0.0, kbps) == pytest.approx(2.0 - burst_seconds)
    # An idle line saves up one burst, no more; no limit means no wait.
    assert line.reserve(chunk_bytes, 100.0, kbps) == 0.0
    assert Uplink().reserve(10**9, 0.0, None) == 0.0


def test_network_knobs_are_validated() -> None:
    faults = Faults()
    faults.update({"rtt_ms": 25, "uplink_kbps": 10_000})
    assert faults.rtt_seconds == 0.025
    assert faults.uplink_kbps == 10_000
    faults.update({"uplink_kbps": None})
    assert faults.uplink_kbps is None
    for bad in ({"rtt_ms": -1}, {"uplink_kbps": 0}, {"uplink_kbps": "fast"}):
        with pytest.raises(Rejection):
            faults.update(bad)


def test_network_knobs_come_from_the_command_line() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    settings = settings_from(
        parser.parse_args(["--rtt-ms", "100", "--uplink-kbps", "10000"]), env=os.environ
    )
    assert (settings.rtt_ms, settings.uplink_kbps) == (100.0, 10_000.0)
    with pytest.raises(ValueError, match="--uplink-kbps"):
        settings_from(parser.parse_args(["--uplink-kbps", "0"]), env=os.environ)


@pytest.mark.parametrize(
    "emulator_settings", [EmulatorSettings(port=0, rtt_ms=5, uplink_kbps=1000)]
)
def test_settings_give_the_knobs_start_values(emulator: RunningEmulator) -> None:
    knobs = requests.get(f"{emulator.base_url}/_emulator/faults", timeout=5).json()
    assert (knobs["rtt_ms"], knobs["uplink_kbps"]) == (5, 1000)
    requests.delete(f"{emulator.base_url}/_emulator/faults", timeout=5)
    knobs = requests.get(f"{emulator.base_url}/_emulator/faults", timeout=5).json()
    assert (knobs["rtt_ms"], knobs["uplink_kbps"]) == (5, 1000)


def test_http_requests_in_flight_overlap(emulator: RunningEmulator) -> None:
    _set_faults(emulator, rtt_ms=RTT_MS)
    url = f"{emulator.base_url}/api/account/{emulator.account}/service/idp/baseURI.json"
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(requests.get(url, timeout=10).status_code))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    intervals = emulator.core.network_log.entries("http")
    assert len(intervals) == 4
    # Each waited its round trip, and all four waited at the same time, not in turn.
    assert all(entry.finished - entry.started >= RTT_MS / 1000 for entry in intervals)
    assert _all_in_flight_together(intervals)


def test_socket_answers_overlap_in_flight_and_keep_their_order(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator, signup(emulator))
    try:
        _set_faults(emulator, rtt_ms=RTT_MS)
        emulator.core.network_log.clear()
        request_ids = [f"clock-{number}" for number in range(5)]
        for request_id in request_ids:
            consumer.send({"kind": "req", "id": request_id, "type": "GetClock"})
        answered = [consumer.response_to(request_id)["reqId"] for request_id in request_ids]
        frames = emulator.core.network_log.entries("ws")
    finally:
        consumer.close()
    assert answered == request_ids
    assert len(frames) == 5
    # Answers left in the order they were queued, each a round trip after it.
    assert [frame.finished for frame in frames] == sorted(frame.finished for frame in frames)
    assert all(frame.finished - frame.started >= RTT_MS / 1000 for frame in frames)
    # The reader did not wait for one answer to leave before handling the next request.
    assert _all_in_flight_together(frames)


def test_concurrent_uploads_share_one_uplink(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator, signup(emulator))
    size_bytes = 200_000
    kbps = 1600.0  # 200,000 bytes per second: each upload alone would take 1 s
    try:
        urls = [
            storage_url(
                emulator, upload_url(consumer, size_bytes, "JPG", request_id=f"up-{n}")["body"]
            )
            for n in range(2)
        ]
    finally:
        consumer.close()
    _set_faults(emulator, uplink_kbps=kbps)
    emulator.core.network_log.clear()
    statuses: list[int] = []

    def put(url: str) -> None:
        statuses.append(requests.put(url, data=b"\xff" * size_bytes, timeout=30).status_code)

    threads = [threading.Thread(target=put, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201, 201]
    intervals = emulator.core.network_log.entries("http")
    assert len(intervals) == 2
    assert _all_in_flight_together(intervals)
    # Together they needed the line for both bodies: twice what one alone would take.
    line_seconds = (2 * size_bytes - UPLINK_BURST_BYTES) / (kbps * 1000 / 8)
    together = max(e.finished for e in intervals) - min(e.started for e in intervals)
    assert together >= line_seconds
