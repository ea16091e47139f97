"""`[metrics] listen`: the running daemon serves Prometheus metrics that tell the truth."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.rules.error_kinds import ErrorKind
from tests.helpers.harness import RunningDaemon, running_daemon, write_config
from tests.helpers.identity import drop_scan
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until

PROMTOOL = shutil.which("promtool")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        return str(answer.read().decode("utf-8"))


def _value(text: str, sample: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture
def with_metrics(tmp_path: Path, emulator: RunningEmulator) -> Iterator[tuple[RunningDaemon, int]]:
    port = _free_port()
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with config.open("a", encoding="utf-8") as file:
        file.write(f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    with running_daemon(config) as running:
        yield running, port


def test_a_published_file_shows_in_the_metrics(with_metrics: tuple[RunningDaemon, int]) -> None:
    running, port = with_metrics
    outbox = running.config.routes[0].outbox
    image = jpeg_bytes(seed=7)
    (outbox.parent / "page.jpg").write_bytes(image)
    os.rename(outbox.parent / "page.jpg", outbox / "page.jpg")
    (outbox.parent / "notes.jpg").write_bytes(b"text, not an image\n")
    os.rename(outbox.parent / "notes.jpg", outbox / "notes.jpg")

    def settled() -> str | None:
        text = _scrape(port)
        published = _value(text, 'syncd_files_published_total{route="scans"}')
        failed = _value(text, 'syncd_files_failed_total{route="scans"}')
        error = _value(text, 'syncd_last_error_info{kind="file",route="scans"}')
        return text if (published, failed, error) == (1, 1, 1) else None

    text = wait_until(settled, 90, "one published and one failed file in the metrics")

    assert _value(text, 'syncd_bytes_in_total{route="scans"}') == len(image)
    assert (_value(text, 'syncd_bytes_out_total{route="scans"}') or 0) > 0
    assert _value(text, 'syncd_files{route="scans",state="done"}') == 1
    assert _value(text, 'syncd_queue_files{route="scans"}') == 0
    assert _value(text, 'syncd_queue_oldest_age_seconds{route="scans"}') == 0
    assert _value(text, 'syncd_connection_up{route="scans"}') == 1
    assert (_value(text, 'syncd_last_success_timestamp_seconds{route="scans"}') or 0) > 0
    assert (_value(text, 'syncd_last_error_timestamp_seconds{route="scans"}') or 0) > 0
    assert _value(text, 'syncd_inbound_files_total{route="scans"}') == 0


def _error_kinds(text: str) -> list[str]:
    return [
        line.split('kind="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("syncd_last_error_info{")
    ]


def test_a_file_storage_refused_is_a_liveperson_problem_not_a_file_one(
    with_metrics: tuple[RunningDaemon, int], emulator: RunningEmulator
) -> None:
    """LivePerson's storage refuses every upload: the file fails after its tries, and the
    last error is filed under ``liveperson`` (the old guess read "failed:" and said ``file``)."""
    running, port = with_metrics
    running.conversation("scans")  # connected, with a conversation, before storage refuses
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=403)
    outbox = running.config.routes[0].outbox
    drop_scan(outbox, "refused.jpg", seed=11)

    def failed_and_recorded() -> str | None:
        text = _scrape(port)
        if _value(text, 'syncd_files_failed_total{route="scans"}') != 1:
            return None
        summary = running.daemon.store.route_summary("scans")
        # The quarantine's warning is the last word about the file: wait until it is stored.
        last = summary.last_error or ""
        return text if "refused.jpg: failed: not sent: HTTP 403" in last else None

    text = wait_until(failed_and_recorded, 90, "the refused file failed and its error recorded")
    assert _error_kinds(text) == ["liveperson"]
    summary = running.daemon.store.route_summary("scans")
    assert summary.last_error_kind == ErrorKind.LIVEPERSON
    assert (running.config.routes[0].failed_dir / "refused.jpg").exists()


def test_a_refused_connection_while_a_file_waits_is_a_liveperson_problem(
    with_metrics: tuple[RunningDaemon, int], emulator: RunningEmulator
) -> None:
    """LivePerson closes the socket and refuses new ones while a file is to be sent: every
    line about it is filed under ``liveperson`` (the old guess read "refused" and said
    ``inbound``)."""
    running, port = with_metrics
    running.conversation("scans")
    emulator.set_faults(ws_close_rate=1.0, ws_connect_error_rate=1.0)
    outbox = running.config.routes[0].outbox
    drop_scan(outbox, "waiting.jpg", seed=12)

    def refusal_recorded() -> str | None:
        text = _scrape(port)
        summary = running.daemon.store.route_summary("scans")
        scraped_at = _value(text, 'syncd_last_error_timestamp_seconds{route="scans"}')
        # The scrape and the summary show the same record, and it is about the refusal.
        if scraped_at is None or scraped_at != summary.last_error_at:
            return None
        return text if "refused with HTTP 503" in (summary.last_error or "") else None

    text = wait_until(refusal_recorded, 90, "the refused connection recorded as the last error")
    summary = running.daemon.store.route_summary("scans")
    assert _error_kinds(text) == ["liveperson"], summary.last_error
    assert _value(text, 'syncd_connection_up{route="scans"}') == 0


@pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)
def test_promtool_accepts_the_live_scrape(with_metrics: tuple[RunningDaemon, int]) -> None:
    _, port = with_metrics
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=_scrape(port),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout + result.stderr == ""
