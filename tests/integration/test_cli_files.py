"""`syncd files`, `status --json` without a state and output into a closed pipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundState
from tests.helpers.cli import REPOSITORY, run_syncd, syncd_environment
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until

EX_OK = 0
EX_UNAVAILABLE = 69
EX_CONFIG = 78
BIG_TIMEOUT = 90


def _drop(outbox: Path, name: str, data: bytes) -> None:
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)


def test_files_lists_each_file_with_its_journey_and_filters_it(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "page.jpg", jpeg_bytes(seed=3))
        _drop(route.outbox, "notes.jpg", b"text, not an image\n")

        def states() -> Counter[str]:
            rows = running.daemon.store.outbound_in_states(tuple(OutboundState))
            return Counter(row.state for row in rows)

        wait_until(lambda: states() == Counter(done=1, failed=1), BIG_TIMEOUT, "1 done 1 failed")
        conversation = running.conversation("scans")

    listed = run_syncd("files", "--json", "--config", str(config))
    text = run_syncd("files", "--config", str(config))
    failed_only = run_syncd("files", "--state", "failed", "--json", "--config", str(config))
    recent = run_syncd("files", "--since", "1h", "--route", "scans", "--config", str(config))
    future = run_syncd("files", "--since", "2999-01-01", "--config", str(config))
    bad_since = run_syncd("files", "--since", "yesterday-ish", "--config", str(config))

    assert listed.returncode == EX_OK, listed.stderr
    records = {record["name"]: record for record in json.loads(listed.stdout)}
    page, notes = records["page.jpg"], records["notes.jpg"]
    assert (page["state"], page["conversation"], page["sequence"]) == ("done", conversation, 0)
    assert page["bytes_before"] == len(jpeg_bytes(seed=3)) and page["bytes_after"] > 0
    assert page["finished_at"] >= page["seen_at"]
    assert page["reason"] is None
    assert notes["state"] == "failed" and "not an image" in notes["reason"]
    assert f"scans/page.jpg  done  {conversation} #0" in text.stdout
    assert [r["name"] for r in json.loads(failed_only.stdout)] == ["notes.jpg"]
    assert "page.jpg" in recent.stdout and "notes.jpg" in recent.stdout
    assert future.stdout == "no files\n"
    assert bad_since.returncode == EX_CONFIG and "--since" in bad_since.stderr


def test_status_json_without_a_state_database_still_prints_json(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")

    result = run_syncd("status", "--json", "--config", str(config))

    assert result.returncode == EX_UNAVAILABLE
    document = json.loads(result.stdout)
    assert document["routes"] == [] and "has not run yet" in document["error"]


def test_output_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    reader, writer = os.pipe()
    os.close(reader)  # the reader (`head`) is already gone
    try:
        result = subprocess.run(
            [sys.executable, "-m", "syncd", "check", "--config", str(config)],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPOSITORY,
            env=syncd_environment(),
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
    assert result.returncode == EX_OK
    assert result.stderr == ""
