"""The upload window over a network round trip: the next files' uploads overlap, the
publishes stay in file order, each file once (the emulator's ``rtt_ms`` knob)."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.emulator.network import Interval
from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundState
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import captions_in_order
from tests.helpers.waiting import wait_until

FILES = 6
RTT_MS = 150


def _overlapping_pairs(intervals: list[Interval]) -> int:
    """How many pairs of intervals were in progress at the same moment."""
    return sum(
        1
        for index, first in enumerate(intervals)
        for second in intervals[index + 1 :]
        if first.started < second.finished and second.started < first.finished
    )


@pytest.mark.parametrize("window_files", [1, 4])
def test_uploads_run_ahead_while_publishes_keep_file_order(
    tmp_path: Path, emulator: RunningEmulator, window_files: int
) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "scans", "upload_window_files": window_files}],
    )
    emulator.set_faults(rtt_ms=RTT_MS)
    names = [f"scan-{number:02d}.jpg" for number in range(FILES)]
    outbox = tmp_path / "scans" / "outbox"
    for number, name in enumerate(names):
        (outbox / name).write_bytes(jpeg_bytes(seed=number))
    with running_daemon(config) as running:
        store = running.daemon.store
        wait_until(
            lambda: store.counts_by_state("scans").get(OutboundState.DONE, 0) == FILES,
            120,
            "every scan to be published",
        )
    assert captions_in_order(emulator) == names  # in file order, each exactly once
    puts = [entry for entry in emulator.core.network_log.entries("http") if entry.method == "PUT"]
    assert len(puts) == FILES
    if window_files == 1:
        # One file at a time: each upload ends before the next one starts.
        assert _overlapping_pairs(puts) == 0
    else:
        assert _overlapping_pairs(puts) > 0
