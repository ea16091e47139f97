"""The STATUS= line a running daemon sends systemd, received on a real notify socket.

A failed file the operator deals with by removing it from ``failed/`` is ``dismissed``: the
STATUS line must stop counting it as failed, as ``syncd status`` and ``syncd files`` do.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from syncd.config import load_config
from syncd.emulator.server import RunningEmulator
from syncd.service.daemon import Daemon
from syncd.service.notify import Notifier
from tests.helpers.cli import NotifyListener
from tests.helpers.harness import write_config

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
