"""The hostile-input corpus of issue 6: broken, disguised, unusual and awkward outbox entries.

``regular_inputs()`` returns the entries that are plain files (made in memory with Pillow,
the way scanners, phones and careless users make them), each with the outcome syncd owes it:

* ``published``: the uploaded object must decode with Pillow to ``size`` (width, height as
  displayed) in one of ``modes``; ``red_corner`` names the corner where the source's red
  top-left mark must be seen after EXIF orientation is applied;
* ``failed``: the entry must be in ``failed/`` with ``NAME.error.txt`` containing every one
  of ``reason_words`` (case-insensitive).

The special entries (symlink, FIFO, hard link, unreadable file) are made in place by
``place_special`` since they cannot be bytes; the slow writer and the replaced file are
driven by the test itself. ``exact_corner`` tells whether a colour check is reliable.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw

from tests.helpers.images import exif_with, jpeg_bytes

Outcome = Literal["published", "failed"]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]

# Where the top-left corner of the stored pixels is seen once orientation N is applied
# (EXIF 2.32, tag 0x0112): 2 mirrors, 3 turns 180°, 4 flips, 5-8 also swap the axes.
ORIENTATION_CORNERS: dict[int, Corner] = {
    1: "top-left",
    2: "top-right",
    3: "bottom-right",
    4: "bottom-left",
    5: "top-left",
    6: "top-right",
    7: "bottom-right",
    8: "bottom-left",
}

# Decoded modes a published upload may have: what browsers and LivePerson's apps show.
VIEWABLE_MODES = ("RGB", "L", "P", "RGBA", "LA")


@dataclass(frozen=True)
class HostileInput:
    """One outbox entry of the corpus and the outcome it must get (see the module docstring)."""

    name: str
    data: bytes
    outcome: Outcome
    what: str
    reason_words: tuple[str, ...] = ()
    size: tuple[int, int] | None = None
    modes: tuple[str, ...] = VIEWABLE_MODES
    red_corner: Corner | None = None
    frames: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


def _save(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _marked(mode: str, size: tuple[int, int], background: object, mark: object) -> Image.Image:
    """A picture with a marked top-left quarter, in ``mode``."""
    image = Image.new(mode, size, background)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=mark)
    return image


def text_named_jpg() -> bytes:
    """A note someone saved with a .jpg name."""
    return b"Meeting notes\nThis is plain text, saved with the wrong extension.\n" * 20


def pdf_bytes() -> bytes:
    """A small but real PDF document (one blank page)."""
    return _save(Image.new("RGB", (200, 280), "white"), "PDF")


def truncated_jpeg() -> bytes:
    """The first half of a JPEG: a scanner that died mid-file."""
    whole = jpeg_bytes(800, 600, seed=11, noise=True)
    return whole[: len(whole) // 2]


def jpeg_without_end_marker() -> bytes:
    """A complete JPEG scan minus its final FF D9 (end-of-image) marker."""
    whole = jpeg_bytes(800, 600, seed=12)
    assert whole.endswith(b"\xff\xd9")
    return whole[:-2]


def one_by_sixty_thousand() -> bytes:
    """A PNG one pixel wide and 60,000 tall (a paper-roll receipt gone wrong)."""
    return _save(Image.new("L", (1, 60_000), 128), "PNG")


def hundred_megapixel_png() -> bytes:
    """A 10,000 x 10,000 PNG (100 MP) that compresses to a few tens of KB: a pixel bomb."""
    image = Image.new("1", (10_000, 10_000), 1)
    draw = ImageDraw.Draw(image)
    for y in range(0, 10_000, 50):
        draw.line((0, y, 9_999, y), fill=0)
    return _save(image, "PNG", optimize=True)


def animated_gif(frames: int = 200) -> bytes:
    """An animated GIF of ``frames`` frames, 120 x 90, each a different shade."""
    pictures = [Image.new("P", (120, 90), index % 200) for index in range(frames)]
    for index, picture in enumerate(pictures):
        ImageDraw.Draw(picture).rectangle((index % 100, 10, index % 100 + 15, 40), fill=250)
    return _save(pictures[0], "GIF", save_all=True, append_images=pictures[1:], duration=40, loop=0)


def cmyk_jpeg() -> bytes:
    """A CMYK JPEG (as print workflows write them), marked magenta-ish top-left."""
    image = _marked("CMYK", (640, 480), (0, 0, 0, 0), (0, 255, 255, 0))
    return _save(image, "JPEG", quality=90)


def sixteen_bit_png() -> bytes:
    """A 16-bit greyscale PNG (medical and archival scanners write these)."""
    image = _marked("I;16", (500, 400), 60_000, 1_000)
    return _save(image, "PNG")


def alpha_png() -> bytes:
    """An RGBA PNG, transparent with an opaque red top-left mark."""
    image = _marked("RGBA", (400, 300), (0, 0, 255, 0), (230, 20, 20, 255))
    return _save(image, "PNG")


def progressive_jpeg() -> bytes:
    """A progressive JPEG with the red top-left mark."""
    image = _marked("RGB", (640, 480), (40, 120, 200), (230, 20, 20))
    return _save(image, "JPEG", quality=88, progressive=True)


def oriented_jpeg(orientation: int) -> bytes:
    """An 800 x 600 JPEG, red top-left in stored pixels, with EXIF ``orientation``."""
    return jpeg_bytes(800, 600, exif=exif_with(orientation=orientation), seed=orientation)


def regular_inputs() -> list[HostileInput]:
    """Every plain-file entry of the corpus with its expected outcome."""
    inputs = [
        HostileInput("empty.jpg", b"", "failed", "zero bytes", ("empty file",)),
        HostileInput("notes.jpg", text_named_jpg(), "failed", "text named .jpg", ("not an image",)),
        # Judged by content, not name. (A PDF named .png is now made into its page, which
        # tests/integration/test_documents.py covers; PostScript is still refused.)
        HostileInput(
            "document.png",
            b"%!PS-Adobe-3.0\n%%Pages: 1\nshowpage\n",
            "failed",
            "PostScript named .png",
            ("postscript", "not an image"),
        ),
        HostileInput(
            "truncated.jpg",
            truncated_jpeg(),
            "failed",
            "truncated JPEG",
            ("incomplete", "truncated"),
        ),
        HostileInput(
            "no-eoi.jpg",
            jpeg_without_end_marker(),
            "failed",
            "JPEG missing EOI",
            ("end-of-image marker", "truncated"),
        ),
        HostileInput(
            "thin.png", one_by_sixty_thousand(), "published", "1x60000 px", size=(1, 2048)
        ),
        HostileInput(
            "bomb.png",
            hundred_megapixel_png(),
            "failed",
            "100-megapixel PNG",
            ("10000x10000", "pixels", "decompression bomb"),
        ),
        HostileInput(
            "animated.gif",
            animated_gif(),
            "published",
            "animated GIF of 200 frames",
            size=(120, 90),
            frames=200,
        ),
        HostileInput(
            "cmyk.jpg",
            cmyk_jpeg(),
            "published",
            "CMYK JPEG",
            size=(640, 480),
            modes=("RGB", "CMYK"),
            red_corner="top-left",
        ),
        HostileInput(
            "sixteen.png",
            sixteen_bit_png(),
            "published",
            "16-bit PNG",
            size=(500, 400),
            modes=("L", "I;16", "I", "RGB"),
        ),
        HostileInput(
            "alpha.png",
            alpha_png(),
            "published",
            "PNG with alpha",
            size=(400, 300),
            red_corner="top-left",
        ),
        HostileInput(
            "progressive.jpg",
            progressive_jpeg(),
            "published",
            "progressive JPEG",
            size=(640, 480),
            red_corner="top-left",
        ),
    ]
    for orientation in range(2, 9):
        size = (600, 800) if orientation >= 5 else (800, 600)
        inputs.append(
            HostileInput(
                f"orientation-{orientation}.jpg",
                oriented_jpeg(orientation),
                "published",
                f"EXIF orientation {orientation}",
                size=size,
                red_corner=ORIENTATION_CORNERS[orientation],
                modes=("RGB",),
            )
        )
    for name, what in (
        ("scan with  spaces .jpg", "spaces"),
        ("Überweisung_日本語_naïve.jpg", "unicode"),
        ("line\nbreak.jpg", "a newline"),
        ("-rf --help.jpg", "a leading dash"),
        ("--.jpg", "only dashes"),
    ):
        inputs.append(
            HostileInput(
                name,
                jpeg_bytes(320, 240, seed=len(name)),
                "published",
                f"name with {what}",
                size=(320, 240),
                red_corner="top-left",
                modes=("RGB",),
            )
        )
    return inputs


SpecialKind = Literal["symlink", "fifo", "hardlink", "unreadable"]

SPECIAL_REASONS: dict[SpecialKind, tuple[str, ...]] = {
    "symlink": ("symbolic link",),
    "fifo": ("fifo",),
    "hardlink": ("hard link",),
    "unreadable": ("cannot read", "permission denied"),
}


def make_outside_files(outside: Path) -> dict[str, Path]:
    """Create the files outside the watched folders that hostile entries point at."""
    outside.mkdir(parents=True, exist_ok=True)
    targets = {
        "symlink": outside / "secret-payroll.jpg",
        "hardlink": outside / "hard-target.jpg",
    }
    for index, path in enumerate(targets.values()):
        path.write_bytes(jpeg_bytes(300, 200, seed=100 + index))
    return {name: path for name, path in targets.items()}


def place_special(kind: SpecialKind, outbox: Path, targets: dict[str, Path]) -> str:
    """Make one special entry in ``outbox`` and return its name.

    ``unreadable`` is a real JPEG with mode 000: it only stops a daemon that has no
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH, which the test arranges when it runs as root.
    """
    if kind == "symlink":
        os.symlink(targets["symlink"], outbox / "link.jpg")
        return "link.jpg"
    if kind == "fifo":
        os.mkfifo(outbox / "pipe.jpg")
        return "pipe.jpg"
    if kind == "hardlink":
        os.link(targets["hardlink"], outbox / "hard.jpg")
        return "hard.jpg"
    staging = outbox.parent / ".staging-unreadable"
    staging.mkdir(exist_ok=True)
    path = staging / "locked.jpg"
    path.write_bytes(jpeg_bytes(300, 200, seed=7))
    path.chmod(0)
    os.rename(path, outbox / "locked.jpg")
    return "locked.jpg"
