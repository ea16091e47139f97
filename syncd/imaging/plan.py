"""Pure decisions of the image step: its limits, its result, and the size a picture ends at.

Standard library only, so the numbers can be tested and reasoned about without Pillow; the
adapter that acts on them is imaging.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SNAP_TOLERANCE = 0.15  # accept an exact DCT/box reduction landing up to 15 % below the cap
_DCT_SCALES = (2, 4, 8)  # the JPEG decode scales Pillow's draft() offers


@dataclass(frozen=True)
class ImageLimits:
    """What an upload and its preview may be. LivePerson allows 3 MB files and 30 KB previews.

    Raises ValueError on construction when a limit is too small to ever be met.
    """

    max_upload_bytes: int = 3_000_000
    max_preview_chars: int = 30_000
    max_long_side_pixels: int = 2048
    max_pixels: int = 70_000_000  # A3 at 600 dpi is 69.6 MP
    jpeg_quality: int = 85
    preview_long_side_pixels: int = 320  # ~5-20 kB as JPEG, far inside the 30,000-char budget
    # A file this small is sent as it is (minus metadata) up to twice the long-side cap: a
    # q85 re-encode at the cap is 0.4-0.6 MB for a page, so re-encoding a smaller file gains
    # nothing and costs sharpness, time (130 ms against 8 for a 200 dpi page), and sometimes
    # bytes (a 1-bit or grey PNG page of 11 kB became a 363 kB JPEG).
    small_file_bytes: int = 1_000_000

    def passes_through(self, file_bytes: int, long_side: int) -> bool:
        """True when a file of ``file_bytes`` with ``long_side`` pixels may be sent as it is
        (still subject to its format and orientation, which the image step checks).
        """
        if file_bytes > self.max_upload_bytes:
            return False
        if long_side <= self.max_long_side_pixels:
            return True
        return file_bytes <= self.small_file_bytes and long_side <= 2 * self.max_long_side_pixels

    def __post_init__(self) -> None:
        # Floors that guarantee the shrinking loops always end with a result inside the limit:
        # even a 1x1 baseline JPEG with its standard tables takes about 650 bytes.
        if self.max_upload_bytes < 10_000:
            raise ValueError("max_upload_bytes must be at least 10,000")
        if self.max_preview_chars < 2_000:
            raise ValueError("max_preview_chars must be at least 2,000")
        if self.max_long_side_pixels < 16 or self.preview_long_side_pixels < 16:
            raise ValueError("long-side limits must be at least 16 pixels")
        if self.max_pixels < 1:
            raise ValueError("max_pixels must be positive")
        if not 1 <= self.jpeg_quality <= 95:
            raise ValueError("jpeg_quality must be within 1-95")
        if self.small_file_bytes < 0:
            raise ValueError("small_file_bytes must not be negative")


@dataclass(frozen=True)
class PreparedImage:
    """The result of the image step: what to upload and publish."""

    data: bytes  # what to upload
    file_type: str  # LivePerson fileType: "JPG", "PNG" or "GIF"
    preview_data_uri: str  # "data:image/jpeg;base64,..." of at most max_preview_chars
    width: int  # of the upload, after rotation
    height: int
    source_format: str  # "JPEG", "PNG" or "GIF"
    source_bytes: int
    reencoded: bool


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class DownscalePlan:
    """How to bring a picture (in stored orientation) within the long-side cap.

    ``target_size`` is where to end; ``reduction`` the exact integer factor a DCT-scaled JPEG
    decode or a box ``reduce`` reaches it by (1: a resample is needed instead); ``draft_size``
    is what to ask a JPEG decoder for (None: decode at full size).
    """

    target_size: tuple[int, int]
    reduction: int
    draft_size: tuple[int, int] | None


def plan_downscale(
    width: int, height: int, max_long_side_pixels: int, *, dct_scaling: bool
) -> DownscalePlan:
    """Choose the output size of a ``width`` x ``height`` picture and how to get there.

    Prefers a size an exact reduction gives (1/2, 1/4, 1/8 when ``dct_scaling``, any integer
    box factor otherwise) if it lands within 15 % below the cap: it skips the resampling pass
    and keeps a 300 dpi A4 page at a legible 150 dpi (2480x3508 -> 1240x1754). Otherwise the
    long side becomes exactly the cap. Pure; raises nothing.
    """
    cap = max_long_side_pixels
    long_side = max(width, height)
    if long_side <= cap:
        return DownscalePlan((width, height), 1, None)
    if dct_scaling:
        reductions = [scale for scale in _DCT_SCALES if math.ceil(long_side / scale) <= cap]
    else:
        reductions = [math.ceil(long_side / cap)]
    if reductions and math.ceil(long_side / reductions[0]) >= (1 - _SNAP_TOLERANCE) * cap:
        reduction = reductions[0]
        target = (math.ceil(width / reduction), math.ceil(height / reduction))
        # draft() picks the coarsest scale whose output still covers the request, so asking
        # for width // reduction yields exactly this reduction, never a coarser one.
        draft = (max(1, width // reduction), max(1, height // reduction))
        return DownscalePlan(target, reduction, draft if dct_scaling else None)
    target = fit_within((width, height), cap)
    # Decoding at the coarsest DCT scale that still covers the target leaves less to resample.
    return DownscalePlan(target, 1, target if dct_scaling else None)


def fit_within(size_pixels: tuple[int, int], long_side_pixels: int) -> tuple[int, int]:
    """``size_pixels`` scaled so its long side is at most ``long_side_pixels`` (never up, >= 1)."""
    width, height = size_pixels
    scale = min(1.0, long_side_pixels / max(width, height))
    fitted_width = max(1, min(long_side_pixels, round(width * scale)))
    fitted_height = max(1, min(long_side_pixels, round(height * scale)))
    return fitted_width, fitted_height
