"""Benchmark 2: a batch of scanner pages dropped at once into 2 routes, drop to published.

Candidate: the real daemon (child process) with the emulator on loopback. Each route first
sends one warm-up page (so signup and the conversation are done, as in a daemon that has been
running), then the batch is written into the two outboxes, alternating, as fast as the disk
takes it. Throughput = pages / (last publish seen by the emulator - start of the drop).

Baseline (the machine's limit): the image step alone on the same files, read from disk and
given to ``syncd.imaging.prepare`` by 2 threads, as the daemon's preparer does. Runs of the
two alternate (limit, syncd, limit, syncd, ...) and the medians are compared.

Run alone: ``python -m bench.throughput [--pages N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import daemon_run, inputs, report
from bench.timing import median, ratio

ROUTES = ("left", "right")
DPI, QUALITY = 300, 85  # a common office-scanner setting: A4 colour, ~2 MB per page


def image_step_alone(files: list[Path]) -> float:
    """Seconds for 2 threads to read and prepare every file (the machine's limit)."""
    from syncd.imaging import pipeline as imaging

    def one(path: Path) -> int:
        return len(imaging.prepare(path.read_bytes()).data)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


def daemon_batch(
    files: list[Path], scratch: Path, routes: tuple[str, ...] = ROUTES
) -> dict[str, float]:
    """Drop ``files`` into ``routes`` of a running daemon, alternating; timings of the batch."""
    with daemon_run.emulator() as running:
        config = daemon_run.write_config(scratch, running, list(routes))
        daemon = daemon_run.start_daemon(config, scratch / "syncd.log")
        try:
            for route in routes:
                shutil.copyfile(files[0], scratch / route / "outbox" / "warm-up.jpg")
            daemon_run.wait_for(
                lambda: len(daemon_run.published(running)) >= len(routes), 120, 0.1, "warm-up"
            )
            cpu_before = daemon.cpu_seconds()
            own_before = daemon_run.own_cpu_seconds()
            dropped_at = time.time()
            for number, path in enumerate(files):
                route = routes[number % len(routes)]
                shutil.copyfile(path, scratch / route / "outbox" / f"page-{number:04d}.jpg")
            drop_seconds = time.time() - dropped_at
            expected = len(files) + len(routes)
            daemon_run.wait_for(
                lambda: len(daemon_run.published(running)) >= expected,
                600,
                0.25,
                "the whole batch to be published",
            )
            events = daemon_run.published(running)
            batch = [event for event in events if event.caption.startswith("page-")]
            last = max(event.server_time for event in batch)
            first = min(event.server_time for event in batch)
            return {
                "seconds": last - dropped_at,
                "first_published_after": first - dropped_at,
                "drop_seconds": drop_seconds,
                "daemon_cpu": daemon.cpu_seconds() - cpu_before,
                "emulator_cpu": daemon_run.own_cpu_seconds() - own_before,
                "published": len(batch),
                "in_order": float(_in_order(batch)),
                "peak_rss_mb": daemon.peak_rss_mb(),
            }
        finally:
            daemon.stop()


def _in_order(batch: list[daemon_run.Published]) -> bool:
    """True when each conversation got its pages in name order (FIFO per route)."""
    by_conversation: dict[str, list[str]] = {}
    for event in sorted(batch, key=lambda event: event.server_time):
        by_conversation.setdefault(event.conversation_id, []).append(event.caption)
    return all(captions == sorted(captions) for captions in by_conversation.values())


def run(pages: int = 500, rounds: int = 2) -> dict[str, Any]:
    """Alternate the limit and the daemon ``rounds`` times; return tables and goals."""
    files = inputs.scanner_batch(pages, DPI, QUALITY)
    page_mb = sum(path.stat().st_size for path in files) / len(files) / 1e6
    limit_seconds: list[float] = []
    runs: list[dict[str, float]] = []
    for _ in range(rounds):
        limit_seconds.append(image_step_alone(files))
        with tempfile.TemporaryDirectory(prefix="syncd-bench-throughput-") as scratch:
            runs.append(daemon_batch(files, Path(scratch)))
    limit_rate = pages / median(limit_seconds)
    syncd_rate = pages / median([run["seconds"] for run in runs])
    steady = [pages / (run["seconds"] - run["first_published_after"]) for run in runs]
    share = ratio(syncd_rate, limit_rate)
    # CPU per page: the limit keeps 2 threads busy for its whole run.
    limit_cpu_ms = 2 * median(limit_seconds) / pages * 1000
    daemon_cpu_ms = median([run["daemon_cpu"] for run in runs]) / pages * 1000
    emulator_cpu_ms = median([run["emulator_cpu"] for run in runs]) / pages * 1000
    # With every cycle of both cores used, this is the best syncd/limit could be.
    ceiling = limit_cpu_ms / (daemon_cpu_ms + emulator_cpu_ms)
    rows = [
        [
            f"limit run {index + 1}",
            f"{pages / limit_seconds[index]:.1f}",
            f"{limit_seconds[index]:.1f}",
            "",
            "",
            "",
            "",
            "",
        ]
        for index in range(rounds)
    ]
    rows += [
        [
            f"syncd run {index + 1}",
            f"{pages / run['seconds']:.1f}",
            f"{run['seconds']:.1f}",
            f"{run['first_published_after']:.2f}",
            f"{run['drop_seconds']:.1f}",
            f"{run['daemon_cpu']:.1f}",
            f"{run['emulator_cpu']:.1f}",
            "yes" if run["in_order"] else "**no**",
        ]
        for index, run in enumerate(runs)
    ]
    return {
        "title": "2. Throughput: a batch dropped into 2 routes",
        "what": (
            f"{pages} A4 colour pages ({DPI} dpi JPEG q{QUALITY}, {page_mb:.2f} MB each) written "
            "at once into 2 routes of the real daemon (events mode, default settle), the "
            "emulator on loopback in the benchmark's process. pages/s = pages / (last publish "
            "received by the emulator - start of the drop). The limit is the image step alone "
            "on the same files with 2 threads, as the daemon's preparer runs it. Limit and "
            f"daemon runs alternate, {rounds} of each; medians compared."
        ),
        "tables": [
            {
                "columns": [
                    "run",
                    "pages/s",
                    "seconds",
                    "first publish after s",
                    "drop took s",
                    "daemon CPU s",
                    "emulator+bench CPU s",
                    "FIFO per route",
                ],
                "rows": rows,
            },
            {
                "columns": ["", "pages/s (median)"],
                "rows": [
                    ["limit: image step alone, 2 threads", f"{limit_rate:.1f}"],
                    ["syncd: drop to published", f"{syncd_rate:.1f}"],
                    ["syncd: first to last publish", f"{median(steady):.1f}"],
                    ["syncd / limit", f"{share:.2f}"],
                ],
            },
        ],
        "goals": [
            {
                "goal": ">= 0.85 of the image step's limit (2 workers)",
                "measured": f"{share:.2f} ({syncd_rate:.1f} vs {limit_rate:.1f} pages/s)",
                "met": share >= 0.85,
            },
            {
                "goal": "published FIFO per route",
                "measured": "all runs in order"
                if all(r["in_order"] for r in runs)
                else "out of order",
                "met": all(r["in_order"] for r in runs),
            },
        ],
        "notes": [
            "The emulator shares the 2 cores with the daemon (LivePerson would not): its CPU "
            "time is in the 'emulator+bench CPU s' column, time the daemon could not use.",
            f"What limits it: the daemon spends {daemon_cpu_ms:.0f} ms of CPU per page where the "
            f"image step alone spends {limit_cpu_ms:.0f} ms (reading the scan and writing the "
            "upload file, the state commits, the intake's hashing, the PUT and the publish), "
            f"and the emulator takes {emulator_cpu_ms:.0f} ms per page of the same 2 cores. "
            f"Even with both cores always busy, syncd/limit could not pass {ceiling:.2f}.",
            f"Daemon peak RSS during the batch: {max(r['peak_rss_mb'] for r in runs):.0f} MB.",
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    print(report.section(run(arguments.pages, arguments.rounds)))


if __name__ == "__main__":
    main()
