"""Benchmark 1: the image step, per input type, against naive Pillow and against the floor.

For each generated input, ``syncd.imaging.prepare`` (what the daemon runs), the naive
pipeline and the floor (bench/baselines.py) run interleaved in one loop; the table gives the
median ms per image and the ratios. Peak RSS for the 600 dpi page comes from fresh child
processes: one that only imports the modules and reads the file, one that also prepares it.

Run alone: ``python -m bench.image_step [--rounds N]``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import baselines, inputs, report
from bench.timing import interleaved, median, ratio

# The inputs that count for the "at least 4x faster than naive on scanner JPEGs" goal.
SCANNER_JPEGS = ("a4_300_colour.jpg", "a4_600_colour.jpg", "a4_300_grey.jpg")
RSS_INPUT = "a4_600_colour.jpg"

_RSS_CHILD = """
import sys
from pathlib import Path
import syncd.imaging.pipeline
from bench import baselines
data = Path(sys.argv[2]).read_bytes()
if sys.argv[1] == "prepare":
    syncd.imaging.pipeline.prepare(data)
elif sys.argv[1] == "naive":
    baselines.naive(data)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak.
status = Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def _child_peak_rss_mb(what: str, path: Path) -> float:
    """Peak RSS (MB) of a fresh Python that imports the modules, reads ``path``, does ``what``."""
    output = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, what, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    return int(output.strip()) / 1024


def run(rounds: int = 7) -> dict[str, Any]:
    """Time every input; return the tables and goals for RESULTS.md."""
    from syncd.imaging import pipeline as imaging

    files = inputs.image_step_files()
    rows = []
    sizes = []
    ratios_to_floor = {}
    speedups = {}
    for name, (description, path) in files.items():
        data = path.read_bytes()
        prepared = imaging.prepare(data)
        naive_upload, _ = baselines.naive(data)
        floor_upload, _ = baselines.floor(data)
        samples = interleaved(
            {
                "syncd": lambda data=data: imaging.prepare(data),
                "naive": lambda data=data: baselines.naive(data),
                "floor": lambda data=data: baselines.floor(data),
            },
            rounds=rounds if len(data) < 10_000_000 else max(3, rounds - 2),
        )
        ms = {key: 1000 * median(values) for key, values in samples.items()}
        ratios_to_floor[name] = ratio(ms["syncd"], ms["floor"])
        speedups[name] = ratio(ms["naive"], ms["syncd"])
        rows.append(
            [
                name,
                description,
                f"{len(data) / 1e6:.2f}",
                f"{ms['syncd']:.1f}",
                f"{ms['naive']:.1f}",
                f"{ms['floor']:.1f}",
                f"{speedups[name]:.2f}x",
                f"{ratios_to_floor[name]:.2f}x",
            ]
        )
        sizes.append(
            [
                name,
                "pass-through" if not prepared.reencoded else "re-encoded",
                f"{prepared.width}x{prepared.height}",
                f"{len(prepared.data) / 1e3:.0f}",
                f"{len(prepared.preview_data_uri) / 1e3:.1f}",
                f"{len(naive_upload) / 1e3:.0f}",
                f"{len(floor_upload) / 1e3:.0f}",
            ]
        )
    rss_path = files[RSS_INPUT][1]
    imports_only = _child_peak_rss_mb("imports", rss_path)
    syncd_rss = _child_peak_rss_mb("prepare", rss_path)
    naive_rss = _child_peak_rss_mb("naive", rss_path)
    scanner_speedup = min(speedups[name] for name in SCANNER_JPEGS)
    worst_floor = max(ratios_to_floor.items(), key=lambda item: item[1])
    return {
        "title": "1. Image step per input type",
        "what": (
            "Median ms per image of `syncd.imaging.prepare` against naive Pillow and the floor "
            f"(bench/baselines.py), interleaved in one loop, {rounds} rounds after 1 warm-up "
            "(2 fewer for inputs over 10 MB). 'vs naive' = naive ms / syncd ms (higher is "
            "better); 'vs floor' = syncd ms / floor ms (lower is better, 1.00 = at the floor). "
            "The floor skips what syncd must do (bomb checks, metadata walk, rotation, ICC)."
        ),
        "tables": [
            {
                "columns": [
                    "input",
                    "what",
                    "MB",
                    "syncd ms",
                    "naive ms",
                    "floor ms",
                    "vs naive",
                    "vs floor",
                ],
                "rows": rows,
            },
            {
                "columns": [
                    "input",
                    "syncd path",
                    "syncd size",
                    "syncd kB",
                    "preview kchars",
                    "naive kB",
                    "floor kB",
                ],
                "rows": sizes,
            },
            {
                "columns": ["peak RSS, 600 dpi page (fresh child)", "MB"],
                "rows": [
                    ["imports + read the file only", f"{imports_only:.1f}"],
                    ["syncd prepare", f"{syncd_rss:.1f}"],
                    ["syncd prepare - imports only", f"{syncd_rss - imports_only:.1f}"],
                    ["naive", f"{naive_rss:.1f}"],
                ],
            },
        ],
        "goals": [
            {
                "goal": "within 1.15x of the floor (every input)",
                "measured": f"worst {worst_floor[1]:.2f}x ({worst_floor[0]})",
                "met": worst_floor[1] <= 1.15,
            },
            {
                "goal": ">= 4x faster than naive on scanner JPEGs",
                "measured": f"lowest {scanner_speedup:.2f}x",
                "met": scanner_speedup >= 4.0,
            },
            {
                "goal": "peak RSS <= 80 MB for a 600 dpi page",
                "measured": f"{syncd_rss:.1f} MB (imports alone {imports_only:.1f} MB)",
                "met": syncd_rss <= 80.0,
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    print(report.section(run(parser.parse_args().rounds)))


if __name__ == "__main__":
    main()
