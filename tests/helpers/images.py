"""Real images made with Pillow, the way scanners and phones make them."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def jpeg_bytes(
    width: int = 800,
    height: int = 600,
    *,
    colour: tuple[int, int, int] = (40, 120, 200),
    quality: int = 85,
    exif: Image.Exif | None = None,
    comment: bytes | None = None,
    seed: int = 0,
    noise: bool = False,
) -> bytes:
    """A JPEG with a marked top-left corner (red) so orientation can be checked."""
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    rng = random.Random(seed)
    for _ in range(20):
        x, y = rng.randrange(width), rng.randrange(height)
        draw.rectangle((x, y, x + width // 10, y + height // 40), fill=(10, 10, 10))
    draw.rectangle((0, 0, width // 4, height // 4), fill=(230, 20, 20))
    if noise:
        image = Image.blend(
            image, Image.merge("RGB", [Image.effect_noise((width, height), 80)] * 3), 0.5
        )
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    if exif is not None:
        options["exif"] = exif
    if comment is not None:
        options["comment"] = comment
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_bytes(width: int = 640, height: int = 480, mode: str = "RGB") -> bytes:
    """A small PNG."""
    image = Image.new(mode, (width, height), "white" if mode != "RGBA" else (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle(
        (10, 10, width // 2, height // 2),
        fill="black" if mode in ("L", "1") else (0, 0, 0, 255) if mode == "RGBA" else (0, 0, 0),
    )
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def exif_with(orientation: int | None = None, gps: bool = False) -> Image.Exif:
    """EXIF with an orientation tag and, optionally, a GPS position and an artist."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x013B] = "Field Agent"
        exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return exif


def decode(data: bytes) -> Image.Image:
    """Open and fully load image bytes."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image
