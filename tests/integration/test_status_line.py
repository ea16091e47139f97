"""What a running daemon tells about itself: the STATUS= line it sends systemd (received on a
real notify socket) and the last error ``syncd status`` shows.

A failed file the operator deals with by removing it from ``failed/`` is ``dismissed``: the
STATUS line must stop counting it as failed, as ``syncd status`` and ``syncd files`` do.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from syncd.config import load_config
from syncd.emulator.server import RunningEmulator
from syncd.service.daemon import Daemon
from syncd.service.notify import Notifier
from tests.helpers.cli import NotifyListener, run_syncd
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.waiting import wait_until
from tests.integration.test_inbox import agent_sends

TIMEOUT_SECONDS = 90


def _drop(outbox: Path, name: str, data: bytes) -> None:
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)


def test_a_failed_file_removed_from_failed_is_counted_dismissed_not_failed(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = load_config(write_config(tmp_path, emulator.base_url, emulator.account))
    route = config.routes[0]
    with NotifyListener() as listener:
        daemon = Daemon(config, notifier=Notifier(listener.address))
        daemon.start()
        loop = threading.Thread(target=daemon.run_until_stopped, name="test-daemon", daemon=True)
        loop.start()
        try:
            _drop(route.outbox, "notes.jpg", b"just some text, not an image\n")
            _drop(route.outbox, "memo.png", b"also text\n" * 50)
            listener.wait_for(
                lambda line: line.startswith("STATUS=queued 0, sent 0, failed 2, inbound 0"),
                TIMEOUT_SECONDS,
                "two failed files in the STATUS line",
            )

            # The operator deals with one of them by deleting it from failed/.
            (route.failed_dir / "memo.png").unlink()

            line = listener.wait_for(
                lambda line: "dismissed" in line, TIMEOUT_SECONDS, "a dismissed file"
            )
        finally:
            daemon.request_stop()
            loop.join(timeout=60)
    assert not loop.is_alive()
    assert line.startswith("STATUS=queued 0, sent 0, failed 1, dismissed 1, inbound 0; scans: ")


def test_a_file_refused_from_an_agent_is_the_routes_last_error_with_its_time(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    """``last error`` covers inbound problems too, not only retried sends."""
    config_path = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config_path) as running:
        conversation = running.conversation("scans")
        before = time.time()
        # An agent client that calls a PDF an image: the content decides, and it disagrees.
        agent_sends(emulator, conversation, b"%PDF-1.4\n% not an image\n", "contract", "JPG")

        def last_error() -> dict[str, Any] | None:
            status = run_syncd("status", "--json", "--config", str(config_path))
            route: dict[str, Any] = json.loads(status.stdout)["routes"][0]
            return route if "declared as JPG" in (route["last_error"] or "") else None

        route = wait_until(last_error, TIMEOUT_SECONDS, "the refused file in status")
    assert route["last_error"].startswith(f"route=scans: file from conversation {conversation} ")
    assert before <= route["last_error_at"] <= time.time()
    text = run_syncd("status", "--config", str(config_path)).stdout
    assert "declared as JPG but the content is PDF" in text
