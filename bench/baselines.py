"""The two baselines syncd's image step is measured against.

* ``naive``: what one writes first with Pillow: decode everything, ``exif_transpose``,
  LANCZOS resize to the 2048 px cap, then a quality loop from 95 down in steps of 5 until the
  upload fits in 3,000,000 bytes, and a preview from a copy.
* ``floor``: the least work that can make an upload of the same size class: one decode at the
  coarsest JPEG DCT scale (``draft``) or integer box ``reduce`` that brings the long side
  within the cap, one encode at q85, and a minimal preview (thumbnail + one encode). It
  skips everything syncd must also do (bomb checks, metadata walk, orientation, ICC, limits
  checks), so it is a lower bound, not a usable implementation.

Both take the file's bytes and return (upload bytes, preview bytes).
"""

from __future__ import annotations

import io
import math

from PIL import Image, ImageOps

CAP = 2048
UPLOAD_LIMIT = 3_000_000
PREVIEW_BOX = (320, 320)


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def naive(data: bytes) -> tuple[bytes, bytes]:
    """Decode, rotate, LANCZOS resize, quality loop from 95; then a preview."""
    image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB" and image.mode != "L":
        image = image.convert("RGB")
    if max(image.size) > CAP:
        scale = CAP / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    upload = b""
    for quality in range(95, 4, -5):
        upload = _jpeg(image, quality)
        if len(upload) <= UPLOAD_LIMIT:
            break
    preview = image.copy()
    preview.thumbnail(PREVIEW_BOX)
    return upload, _jpeg(preview, 70)


def _coarsest_reduction(long_side: int, scales: tuple[int, ...]) -> int:
    for scale in scales:
        if math.ceil(long_side / scale) <= CAP:
            return scale
    return scales[-1]


def floor(data: bytes) -> tuple[bytes, bytes]:
    """One reduced decode, one q85 encode, a minimal preview (no checks, no metadata care)."""
    image = Image.open(io.BytesIO(data))
    long_side = max(image.size)
    if image.format == "JPEG":
        reduction = 1 if long_side <= CAP else _coarsest_reduction(long_side, (2, 4, 8))
        if reduction > 1:
            image.draft(image.mode, (image.width // reduction, image.height // reduction))
        image.load()
    else:
        image.load()
        reduction = 1 if long_side <= CAP else math.ceil(long_side / CAP)
        if reduction > 1:
            image = image.reduce(reduction)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    upload = _jpeg(image, 85)
    image.thumbnail(PREVIEW_BOX, reducing_gap=2.0)
    return upload, _jpeg(image, 70)
