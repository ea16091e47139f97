"""Documents: syncd's page step against poppler's ``pdftoppm -r 150 -jpeg``, side by side.

Run alone: ``.venv/bin/python -m bench.documents``. Inputs are bench letters (``bench.pages``)
at 150 dpi, saved by Pillow as a 10-page PDF (JPEG-coded pages, as scanners write) and as a
1-bit G4 TIFF page (with the same page as a PDF for pdftoppm, which reads no TIFF). syncd's
figure is the whole step: child process, render, encode, preview. Rounds alternate.
Also: bytes per page of baseline vs optimised progressive JPEG at identical pixels, and the
peak RSS (VmHWM) of the renderer child for a 100-page PDF with the page rates on that file.
poppler-utils is installed from the machine's own apt sources only when pdftoppm is missing.
"""

from __future__ import annotations

import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from bench.pages import render_page
from syncd.imaging.plan import DEFAULT_LIMITS
from syncd.imaging.rasteriser import render_pages


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


def _syncd_seconds(data: bytes) -> tuple[float, int]:
    start = time.perf_counter()
    count = sum(1 for _ in render_pages(data, DEFAULT_LIMITS, 1000))
    return time.perf_counter() - start, count


def _pdftoppm_seconds(tool: str, data: bytes, folder: Path) -> float:
    source = folder / "in.pdf"
    source.write_bytes(data)
    start = time.perf_counter()
    subprocess.run([tool, "-r", "150", "-jpeg", str(source), str(folder / "out")], check=True)
    return time.perf_counter() - start


def _compare(tool: str, data: bytes, pages: int, rounds: int) -> dict[str, float]:
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(rounds):
            order = [0, 1] if index % 2 == 0 else [1, 0]
            for which in order:
                if which == 0:
                    ours.append(_syncd_seconds(data)[0])
                else:
                    theirs.append(_pdftoppm_seconds(tool, data, Path(folder)))
    ours_rate = pages / statistics.median(ours)
    theirs_rate = pages / statistics.median(theirs)
    return {"syncd_pages_per_s": ours_rate, "pdftoppm_pages_per_s": theirs_rate}


def _jpeg_bytes(picture: Image.Image) -> dict[str, int]:
    sizes = {}
    for name, optimise in (("baseline", False), ("optimised_progressive", True)):
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=85, optimize=optimise, progressive=optimise)
        sizes[name] = len(buffer.getvalue())
    return sizes


def _vm_hwm_kib(pid: int | str) -> int | None:
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


def _peak_rss_100_pages(letter: Image.Image, tool: str) -> dict[str, float]:
    """Peak RSS of the renderer child on a 100-page PDF, and the page rates on that file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hundred.pdf"
        data = _pdf([letter] * 100)
        path.write_bytes(data)
        arguments = json.dumps(
            {"limits": asdict(DEFAULT_LIMITS), "max_pages": 100, "memory_bytes": 1 << 31}
        )
        start = time.perf_counter()
        with path.open("rb") as source:
            child = subprocess.Popen(
                [sys.executable, "-m", "syncd.imaging.rasteriser", arguments],
                stdin=source,
                stdout=subprocess.DEVNULL,
            )
            peak = 0
            while child.poll() is None:
                peak = max(peak, _vm_hwm_kib(child.pid) or 0)
                time.sleep(0.02)
        ours = time.perf_counter() - start
        theirs = _pdftoppm_seconds(tool, data, Path(folder))
    return {
        "pdf_mb": len(data) / 1e6,
        "renderer_peak_rss_mb": peak / 1024,
        "syncd_pages_per_s": 100 / ours,
        "pdftoppm_pages_per_s": 100 / theirs,
    }


def run(rounds: int = 3) -> dict[str, object]:
    """Measure everything; returns the figures (see the module docstring)."""
    tool = _ensure_pdftoppm()
    letters = [render_page(150, seed=seed) for seed in range(1, 11)]
    pdf = _pdf(letters)
    results: dict[str, object] = {"pdf_10_pages": _compare(tool, pdf, 10, rounds)}
    bilevel = render_page(300, seed=1, grey=True).convert("1")
    tiff = io.BytesIO()
    bilevel.save(tiff, "TIFF", compression="group4")
    tiff_ours = statistics.median(_syncd_seconds(tiff.getvalue())[0] for _ in range(rounds))
    with tempfile.TemporaryDirectory() as folder:
        tiff_theirs = statistics.median(
            _pdftoppm_seconds(tool, _pdf([bilevel]), Path(folder)) for _ in range(rounds)
        )
    results["g4_tiff_page"] = {
        "syncd_pages_per_s": 1 / tiff_ours,
        "pdftoppm_pages_per_s_same_page_as_pdf": 1 / tiff_theirs,
    }
    page_at_cap = letters[0].resize((1448, 2048))
    results["jpeg_bytes_per_page_q85"] = _jpeg_bytes(page_at_cap)
    results["pdf_100_pages"] = _peak_rss_100_pages(letters[0], tool)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
