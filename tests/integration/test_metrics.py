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
from tests.helpers.harness import RunningDaemon, running_daemon, write_config
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
