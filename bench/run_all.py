"""Run every benchmark and rewrite bench/RESULTS.md (``make bench``).

``python -m bench.run_all`` takes about 15 minutes on 2 cores; ``--quick`` is a smoke run of
about 2-3 minutes with fewer rounds, pages and drops (its figures are noisier). ``--only``
runs some of the benchmarks (the others are left out of RESULTS.md). A benchmark that fails
is reported in RESULTS.md and makes the exit code 1; the others still run.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import (
    documents,
    idle,
    image_step,
    large_scans,
    latency,
    network,
    report,
    scale,
    seed_method,
    throughput,
)

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def plan(quick: bool) -> dict[str, Callable[[], dict[str, Any]]]:
    """Name -> call of every benchmark, with full or quick settings."""
    if quick:
        return {
            "image_step": lambda: image_step.run(rounds=3),
            "throughput": lambda: throughput.run(pages=100, rounds=1),
            "latency": lambda: latency.run(drops=20),
            "seed_method": lambda: seed_method.run(files_count=30, rounds=1),
            "idle": lambda: idle.run(seconds=30),
            "scale": lambda: scale.run(rows=100_000, queued=1_000, rounds=2),
            "large_scans": large_scans.run,
            "documents": lambda: documents.run(rounds=2),
            "network": lambda: network.run(quick=True),
        }
    return {
        "image_step": lambda: image_step.run(rounds=7),
        "throughput": lambda: throughput.run(pages=500, rounds=2),
        "latency": lambda: latency.run(drops=200),
        "seed_method": lambda: seed_method.run(files_count=100, rounds=2),
        "idle": lambda: idle.run(seconds=60),
        "scale": lambda: scale.run(rows=100_000, queued=10_000, rounds=5),
        "documents": lambda: documents.run(rounds=5),
        "network": network.run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run (~2-3 minutes)")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these benchmarks")
    arguments = parser.parse_args(argv)
    benchmarks = plan(arguments.quick)
    if arguments.only:
        unknown = set(arguments.only) - set(benchmarks)
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        benchmarks = {name: benchmarks[name] for name in arguments.only}
    command = "python -m bench.run_all" + "".join(f" {arg}" for arg in (argv or sys.argv[1:]))
    started = time.monotonic()
    date = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    results: list[dict[str, Any]] = []
    errors: list[str] = []
    for name, call in benchmarks.items():
        print(f"bench: {name}...", file=sys.stderr, flush=True)
        begun = time.monotonic()
        try:
            results.append(call())
        except Exception as error:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            errors.append(f"{name}: {type(error).__name__}: {error}")
        print(f"bench: {name} took {time.monotonic() - begun:.0f} s", file=sys.stderr)
    text = report.document(results, command, date, time.monotonic() - started, errors)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    print(f"bench: wrote {RESULTS}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
