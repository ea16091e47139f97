"""Documents: syncd's page step against poppler's ``pdftoppm -r 150 -jpeg``, side by side.

Run alone: ``.venv/bin/python -m bench.documents`` (prints its RESULTS.md section); ``make
bench`` runs it as ``documents``. Inputs are bench letters (``bench.pages``) at 150 dpi, saved
by Pillow as PDFs (JPEG-coded pages, as scanners write them), and one 300 dpi page as a 1-bit
G4 TIFF (pdftoppm reads no TIFF: it gets the same page as a PDF). syncd's figure is the whole
step as the preparer runs it: child process, render, encode, preview. Contenders alternate,
medians are compared; CPU time (user + system, the child's included) is given too, since
other work on the machine moves wall time more than it moves CPU time.

Also: bytes per page of baseline vs optimised progressive JPEG at identical pixels, and the
peak RSS (VmHWM) of the renderer child on a 100-page PDF. poppler-utils is installed from
the machine's own apt sources only when pdftoppm is missing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from PIL import Image

from bench import report
from bench.pages import render_page
from syncd.imaging.plan import DEFAULT_LIMITS
from syncd.imaging.rasteriser import render_pages

SPEED_GOAL = 1.5  # times pdftoppm's pages per second
RSS_GOAL_MB = 150.0


def _ensure_pdftoppm() -> str:
    found = shutil.which("pdftoppm")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "poppler-utils"], check=True)
        found = shutil.which("pdftoppm")
    assert found is not None
    return found


def _pdf(pages: list[Image.Image]) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", save_all=True, append_images=pages[1:], resolution=150)
    return buffer.getvalue()


def _timed(call: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children) of ``call``."""
    before, start = os.times(), time.perf_counter()
    call()
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(getattr(after, name) - getattr(before, name) for name in _CPU_FIELDS)
    return wall, cpu


_CPU_FIELDS = ("user", "system", "children_user", "children_system")


def _syncd(data: bytes) -> None:
    for _ in render_pages(data, DEFAULT_LIMITS, 1000):
        pass


def _pdftoppm(tool: str, path: Path) -> None:
    subprocess.run([tool, "-r", "150", "-jpeg", str(path), str(path.with_suffix(""))], check=True)


def _compare(tool: str, syncd_input: bytes, pdf: bytes, rounds: int) -> dict[str, float]:
    """Median wall and CPU seconds of both contenders, alternating who goes first."""
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(pdf)
        for index in range(rounds):
            contenders = [
                (ours, lambda: _syncd(syncd_input)),
                (theirs, lambda: _pdftoppm(tool, path)),
            ]
            for results, call in contenders if index % 2 == 0 else contenders[::-1]:
                results.append(_timed(call))
    return {
        "syncd_wall": statistics.median(wall for wall, _ in ours),
        "syncd_cpu": statistics.median(cpu for _, cpu in ours),
        "pdftoppm_wall": statistics.median(wall for wall, _ in theirs),
        "pdftoppm_cpu": statistics.median(cpu for _, cpu in theirs),
    }


def _vm_hwm_kib(pid: int) -> int | None:
    """VmHWM (peak resident set of this address space) of a process, or None once gone.

    Not ru_maxrss: Linux carries the parent's peak into a child across fork/vfork and exec.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def _renderer_peak_rss_mb(data: bytes) -> float:
    """Peak RSS of the renderer child (run as the preparer runs it) on ``data``."""
    arguments = json.dumps(
        {"limits": asdict(DEFAULT_LIMITS), "max_pages": 1000, "memory_bytes": 1 << 31}
    )
    with tempfile.TemporaryFile() as source:
        source.write(data)
        source.seek(0)
        child = subprocess.Popen(
            [sys.executable, "-m", "syncd.imaging.rasteriser", arguments],
            stdin=source,
            stdout=subprocess.DEVNULL,
        )
        peak = 0
        while child.poll() is None:
            peak = max(peak, _vm_hwm_kib(child.pid) or 0)
            time.sleep(0.02)
    return peak / 1024


def _jpeg_sizes(picture: Image.Image) -> tuple[int, int]:
    sizes = []
    for optimised in (False, True):
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=85, optimize=optimised, progressive=optimised)
        sizes.append(len(buffer.getvalue()))
    return sizes[0], sizes[1]


def _row(name: str, pages: int, figures: dict[str, float]) -> list[Any]:
    ours, theirs = pages / figures["syncd_wall"], pages / figures["pdftoppm_wall"]
    return [
        name,
        f"{ours:.1f}",
        f"{theirs:.1f}",
        f"{ours / theirs:.2f}x",
        f"{1000 * figures['syncd_cpu'] / pages:.0f}",
        f"{1000 * figures['pdftoppm_cpu'] / pages:.0f}",
    ]


def run(rounds: int = 5) -> dict[str, Any]:
    """Measure everything; returns a RESULTS.md section (see bench/report.py)."""
    tool = _ensure_pdftoppm()
    letters = [render_page(150, seed=seed) for seed in range(1, 11)]
    ten = _pdf(letters)
    hundred = _pdf(letters * 10)
    bilevel = render_page(300, seed=1, grey=True).convert("1")
    g4 = io.BytesIO()
    bilevel.save(g4, "TIFF", compression="group4")
    figures = {
        "ten": _compare(tool, ten, ten, rounds),
        "hundred": _compare(tool, hundred, hundred, max(1, rounds // 2)),
        "g4": _compare(tool, g4.getvalue(), _pdf([bilevel]), rounds),
    }
    rows = [
        _row("10-page PDF, 150 dpi letters", 10, figures["ten"]),
        _row("100-page PDF, 150 dpi letters", 100, figures["hundred"]),
        _row("one 300 dpi G4 TIFF page (pdftoppm: same page as PDF)", 1, figures["g4"]),
    ]
    ratio_ten = figures["ten"]["pdftoppm_wall"] / figures["ten"]["syncd_wall"]
    ratio_hundred = figures["hundred"]["pdftoppm_wall"] / figures["hundred"]["syncd_wall"]
    rss = _renderer_peak_rss_mb(hundred)
    baseline, progressive = _jpeg_sizes(letters[0])
    return {
        "title": "7. Documents: PDF and G4 TIFF pages against pdftoppm",
        "what": (
            f"syncd's page step (`imaging.rasteriser`: child process, PDFium render, encode, "
            f"preview) against `pdftoppm -r 150 -jpeg` on the same files, {rounds} alternating "
            "rounds (the 100-page file half as many), medians. An A4 page comes out at "
            "1241x1754 from syncd (the image policy's size for a 300 dpi scan) and 1240x1754 "
            "from pdftoppm. CPU = user + system of both processes."
        ),
        "tables": [
            {
                "columns": [
                    "input",
                    "syncd pages/s",
                    "pdftoppm pages/s",
                    "ratio",
                    "syncd CPU ms/page",
                    "pdftoppm CPU ms/page",
                ],
                "rows": rows,
            },
            {
                "columns": ["JPEG encoder, same 1240x1754 letter, q85", "bytes", "change"],
                "rows": [
                    ["baseline (before)", f"{baseline:,}", ""],
                    [
                        "optimised + progressive (now)",
                        f"{progressive:,}",
                        f"{100 * (progressive - baseline) / baseline:+.1f} %",
                    ],
                ],
            },
        ],
        "goals": [
            {
                "goal": f">= {SPEED_GOAL}x pdftoppm's pages/s (10-page PDF)",
                "measured": f"{ratio_ten:.2f}x",
                "met": ratio_ten >= SPEED_GOAL,
            },
            {
                "goal": f">= {SPEED_GOAL}x pdftoppm's pages/s (100-page PDF)",
                "measured": f"{ratio_hundred:.2f}x",
                "met": ratio_hundred >= SPEED_GOAL,
            },
            {
                "goal": f"renderer peak RSS <= {RSS_GOAL_MB:.0f} MB for a 100-page PDF",
                "measured": f"{rss:.0f} MB ({len(hundred) / 1e6:.0f} MB file)",
                "met": rss <= RSS_GOAL_MB,
            },
        ],
        "notes": [
            "syncd does more per page than pdftoppm: a progressive optimised JPEG (about 4x "
            "the encode time of a baseline one), a preview, and a colour check; it renders "
            "the next page on a second thread while encoding this one.",
            "Each document starts one renderer child (about 0.1 s of Python start-up), which "
            "the 10-page file feels and the 100-page one does not.",
        ],
    }


if __name__ == "__main__":
    print(report.section(run()))
