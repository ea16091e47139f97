"""Benchmark 5a: an idle daemon watching 20 routes in events mode: CPU share of one core.

The daemon starts on 20 empty outboxes against the emulator, is given a few seconds to
connect every route, then its user+system CPU time (from /proc/PID/stat) is read before and
after ``seconds`` of idling. Keepalives (every 30 s per route), the 0.1 s main-loop tick and
STATUS= once a second are all part of it.

Run alone: ``python -m bench.idle [--seconds S]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import daemon_run, report

ROUTE_COUNT = 20
CONNECT_SECONDS = 5.0


def run(seconds: float = 60.0) -> dict[str, Any]:
    """Measure the idle daemon's CPU over ``seconds``."""
    routes = [f"route{number:02d}" for number in range(ROUTE_COUNT)]
    with (
        tempfile.TemporaryDirectory(prefix="syncd-bench-idle-") as scratch,
        daemon_run.emulator() as running,
    ):
        config = daemon_run.write_config(Path(scratch), running, routes, watch="events")
        daemon = daemon_run.start_daemon(config, Path(scratch) / "syncd.log")
        try:
            startup_cpu = daemon.cpu_seconds()
            time.sleep(CONNECT_SECONDS)
            before, started = daemon.cpu_seconds(), time.monotonic()
            time.sleep(seconds)
            used, elapsed = daemon.cpu_seconds() - before, time.monotonic() - started
            rss = daemon.rss_mb()
        finally:
            daemon.stop()
    share = 100 * used / elapsed
    return {
        "title": "5a. Idle: 20 routes in events mode",
        "what": (
            f"A daemon with {ROUTE_COUNT} routes (inotify), connected to the emulator, left "
            f"alone for {elapsed:.0f} s after {CONNECT_SECONDS:.0f} s to connect; CPU = "
            "user+system time from /proc/PID/stat over that time."
        ),
        "tables": [
            {
                "columns": [
                    "CPU s used",
                    "seconds",
                    "% of one core",
                    "RSS MB",
                    "CPU s from start to READY=1",
                ],
                "rows": [
                    [
                        f"{used:.2f}",
                        f"{elapsed:.0f}",
                        f"{share:.2f}",
                        f"{rss:.0f}",
                        f"{startup_cpu:.2f}",
                    ]
                ],
            }
        ],
        "goals": [
            {
                "goal": "idle CPU < 1 % of a core (20 routes, events)",
                "measured": f"{share:.2f} %",
                "met": share < 1.0,
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    print(report.section(run(parser.parse_args().seconds)))


if __name__ == "__main__":
    main()
