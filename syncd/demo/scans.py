"""Realistic sample scans for ``syncd demo`` (and nothing else).

This is the one place besides ``imaging.py`` that imports Pillow: it *makes* images, the
way a scanner would, and never reads untrusted ones.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw

A4_300_DPI_PIXELS = (2480, 3508)


def _page(size: tuple[int, int], seed: int, colour: bool) -> Image.Image:
    """A page with lines of "text", a table and (in colour) a noisy photo, like a scan."""
    rng = random.Random(seed)
    width, height = size
    mode = "RGB" if colour else "L"
    page = Image.new(mode, size, "white")
    draw = ImageDraw.Draw(page)
    ink = (20, 20, 40) if colour else 30
    margin = width // 12
    y = margin
    while y < height - margin:
        x = margin
        while x < width - margin:
            word = rng.randint(width // 60, width // 14)
            draw.rectangle((x, y, min(x + word, width - margin), y + height // 250), fill=ink)
            x += word + width // 90
        y += height // 70
    if colour:
        # Scanner noise over a photo-like block makes the JPEG as large as real colour scans.
        box = (margin, height // 3, width - margin, height // 3 + height // 3)
        noise = Image.merge(
            "RGB",
            [Image.effect_noise((box[2] - box[0], box[3] - box[1]), 90) for _ in range(3)],
        )
        page.paste(noise, box[:2])
        paper = Image.merge("RGB", [Image.effect_noise(size, 6) for _ in range(3)])
        page = Image.blend(page, paper, 0.15)
    return page


def colour_a4_jpeg(seed: int = 1) -> bytes:
    """A 300 dpi A4 colour page as a high-quality JPEG of more than 3 MB."""
    buffer = io.BytesIO()
    _page(A4_300_DPI_PIXELS, seed, colour=True).save(buffer, "JPEG", quality=95, dpi=(300, 300))
    return buffer.getvalue()


def grey_form_png(seed: int = 2) -> bytes:
    """A 200 dpi greyscale form as PNG."""
    buffer = io.BytesIO()
    _page((1654, 2339), seed, colour=False).save(buffer, "PNG", dpi=(200, 200))
    return buffer.getvalue()


def rotated_phone_photo(seed: int = 3) -> bytes:
    """A photo stored sideways with EXIF orientation 6, GPS, an artist and a comment."""
    rng = random.Random(seed)
    photo = Image.new("RGB", (1600, 1200), (200, 180, 150))
    draw = ImageDraw.Draw(photo)
    for _ in range(40):
        x, y = rng.randrange(1600), rng.randrange(1200)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + rng.randint(20, 200), y + rng.randint(20, 200)), fill=colour)
    draw.rectangle((0, 0, 300, 150), fill=(200, 20, 20))  # marks the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    exif[0x013B] = "Field Agent"  # Artist
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90, exif=exif, comment=b"Scanned by jdoe on SCAN-PC-07")
    return buffer.getvalue()


def write_demo_scans(folder: Path) -> list[Path]:
    """Write the demo's sample scans into ``folder``; returns them in name order.

    One of them is deliberately broken (text named .jpg) to show the failure path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    samples = {
        "scan_0001_invoice_colour.jpg": colour_a4_jpeg(),
        "scan_0002_form.png": grey_form_png(),
        "scan_0003_phone_photo.jpg": rotated_phone_photo(),
        "scan_0004_broken.jpg": b"this is not a picture, only text named like one\n",
    }
    paths = []
    for name, data in samples.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths
