"""SIGKILL right after each outbound state transition, then restart: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from syncd.state.model import OutboundState
from tests.helpers.harness import read_state, start_daemon_process, stop_process, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

FILES = ("a_first.jpg", "b_second.jpg", "c_third.jpg")


def _states(database: Path) -> Counter[str]:
    rows = read_state(database, lambda store: store.outbound_in_states(tuple(OutboundState)))
    return Counter(row.state for row in rows or [])


@pytest.mark.parametrize(
    "emulator_settings",
    [
        pytest.param(EmulatorSettings(), id="plain"),
        pytest.param(
            EmulatorSettings(participant_ids="distinct", history_delay_ms=400),
            id="unordered-distinct-ids",
        ),
    ],
)
@pytest.mark.parametrize(
    "transition", ["detected", "claimed", "prepared", "uploaded", "publishing", "published", "done"]
)
def test_a_kill_right_after_each_transition_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, emulator: RunningEmulator, transition: str
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    outbox = tmp_path / "scans" / "outbox"
    database = tmp_path / "state" / "syncd.sqlite3"
    for index, name in enumerate(FILES):
        (outbox / name).write_bytes(jpeg_bytes(640, 480, seed=index))
    log = tmp_path / "daemon.log"
    # The second file's transition kills it, so one file is before and one after the crash.
    crashing = start_daemon_process(
        config,
        env={"SYNCD_CRASH_AFTER": transition, "SYNCD_CRASH_AFTER_COUNT": "2"},
        log_path=log,
    )
    assert crashing.wait(timeout=90) == -signal.SIGKILL, log.read_text(errors="replace")
    restarted = start_daemon_process(config, log_path=log)
    try:
        wait_until(
            lambda: _states(database)[OutboundState.DONE] == len(FILES),
            90,
            f"all files done after a crash after {transition!r}",
        )
    finally:
        assert stop_process(restarted) == 0
    captions = Counter(
        event["event"]["message"]["caption"] for event in hosted_file_events(emulator)
    )
    assert captions == Counter(FILES), captions
    assert _states(database) == Counter({OutboundState.DONE: len(FILES)})
    work = tmp_path / "scans" / "outbox" / ".syncd-work"
    assert sorted(os.listdir(work)) == []
    assert sorted(os.listdir(tmp_path / "scans" / "outbox" / "sent")) == sorted(FILES)
    assert [name for name in os.listdir(outbox) if not name.startswith(".")] == ["sent"]
