"""Benchmark 6: two 500 MB scans dropped at once: the daemon's peak memory.

Each scan is an A4 page at 600 dpi (4960x7016, a JPEG) followed by trailing data up to
500 MB, the way multi-picture JPEGs carry further images after the first one. syncd sends
the first image; what matters here is that reading a file never costs memory in proportion
to its size. Both files are renamed into the outbox back to back, so both are claimed and
prepared together. The figure is the daemon's peak RSS (VmHWM from /proc/PID/status) from
start until both are published, against the goal of 300 MB (the unit's MemoryMax= is 1 GiB).

Run alone: ``python -m bench.large_scans`` (adds its section to bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image

from bench import daemon_run, report

SCAN_BYTES = 500_000_000
SCAN_COUNT = 2
PEAK_GOAL_MB = 300.0
PAGE_SIZE = (4960, 7016)
_CHUNK_BYTES = 8 * 1024 * 1024


def make_scan(path: Path, seed: int) -> int:
    """Write one scan of ``SCAN_BYTES`` to ``path``; returns the size of its first image."""
    page = Image.effect_noise(PAGE_SIZE, 30 + seed).convert("RGB")
    page.save(path, "JPEG", quality=90)
    first_image_bytes = path.stat().st_size
    with open(path, "ab") as handle:
        remaining = SCAN_BYTES - first_image_bytes - 2
        while remaining > 0:
            chunk = os.urandom(min(_CHUNK_BYTES, remaining))
            handle.write(chunk)
            remaining -= len(chunk)
        handle.write(b"\xff\xd9")
    return first_image_bytes


def run() -> dict[str, Any]:
    """Drop ``SCAN_COUNT`` scans of ``SCAN_BYTES`` at once and measure the daemon."""
    with (
        tempfile.TemporaryDirectory(prefix="syncd-bench-large-", dir="/var/tmp") as scratch,
        daemon_run.emulator() as running,
    ):
        folder = Path(scratch)
        config = daemon_run.write_config(folder, running, ["large"], settle_seconds=0.5)
        staging = folder / "staging"
        staging.mkdir()
        names = [f"large-{index}.jpg" for index in range(SCAN_COUNT)]
        first_image_bytes = [make_scan(staging / name, index) for index, name in enumerate(names)]
        daemon = daemon_run.start_daemon(config, folder / "syncd.log")
        try:
            ready_rss = daemon.rss_mb()
            started = time.monotonic()
            for name in names:
                os.rename(staging / name, folder / "large" / "outbox" / name)
            daemon_run.wait_for(
                lambda: len(daemon_run.published(running)) >= SCAN_COUNT,
                600,
                interval=0.2,
                what="both scans published",
            )
            seconds = time.monotonic() - started
            peak = daemon.peak_rss_mb()
        finally:
            daemon.stop()
    met = peak <= PEAK_GOAL_MB
    return {
        "title": "6. Two 500 MB scans at once",
        "what": (
            f"{SCAN_COUNT} files of {SCAN_BYTES / 1e6:.0f} MB each (an A4 600 dpi JPEG page of "
            f"{first_image_bytes[0] / 1e6:.1f} MB followed by trailing data, as multi-picture "
            "JPEGs carry) renamed into one outbox back to back; peak RSS = VmHWM of the daemon "
            "from start until both were published."
        ),
        "tables": [
            {
                "columns": ["files", "MB each", "RSS at READY=1 MB", "peak RSS MB", "seconds"],
                "rows": [
                    [
                        SCAN_COUNT,
                        f"{SCAN_BYTES / 1e6:.0f}",
                        f"{ready_rss:.1f}",
                        f"{peak:.1f}",
                        f"{seconds:.1f}",
                    ]
                ],
            }
        ],
        "goals": [
            {
                "goal": f"peak RSS <= {PEAK_GOAL_MB:.0f} MB with two 500 MB scans at once",
                "measured": f"{peak:.0f} MB",
                "met": met,
            }
        ],
        "notes": [
            "Scans over 64 MiB are streamed from the file (Pillow reads small blocks and "
            "stops at the end of the image) and prepared one at a time; smaller ones are "
            "read into memory as before.",
        ],
    }


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    result = run()
    date = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    report.add_result(report.RESULTS, result, "python -m bench.large_scans", date)
    print(report.section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
