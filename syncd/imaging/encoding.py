"""Pixels to upload bytes: the mode, size and encoding steps every picture goes through.

Shared by the image step (``pipeline``) and the document step (``pages``). Pillow only, no
file access. Every JPEG is written optimised (Huffman tables fitted to the picture) and
progressive: about a tenth fewer bytes for the same pixels, and browsers show a first pass
sooner. A greyscale picture is sent as PNG instead when that is smaller: text pages often are,
and they stay crisper.
"""

from __future__ import annotations

import base64
import io
import math

from PIL import Image

from syncd.errors import ImageTooLargeError
from syncd.imaging.formats import icc_colour_space
from syncd.imaging.plan import DownscalePlan, ImageLimits, fit_within

PREVIEW_PREFIX = "data:image/jpeg;base64,"
_PREVIEW_QUALITIES = (70, 50, 30)
# Over the limit at q85 and the size cap means content close to pure noise: step down a few
# qualities, then shrink. Bounded, so a pathological file costs at most ~8 encodes.
_UPLOAD_FALLBACK_QUALITIES = (70, 50, 35)
_MAX_UPLOAD_SHRINKS = 4
TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _sixteen_to_eight_bits(value: Image.ImagePointTransform) -> Image.ImagePointTransform:
    return value / 256


def normalise_mode(image: Image.Image) -> Image.Image:
    """Return the picture as L, LA, RGB or RGBA: the modes reduce, resize and flatten handle."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode in ("P", "PA"):
        transparent = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if transparent else "RGB")
    if mode.startswith("I"):
        # 16-bit grey: convert("L") would clip every value above 255 to white; scale instead.
        return image.convert("I").point(_sixteen_to_eight_bits).convert("L")
    if mode in ("La", "RGBa"):
        return image.convert(mode.upper())
    # CMYK (Pillow has already undone Adobe's inverted storage), YCbCr and the like.
    return image.convert("RGB")


def flatten_onto_white(picture: Image.Image) -> Image.Image:
    """Composite LA / RGBA onto a white page (JPEG has no alpha; black would hide dark ink)."""
    if picture.mode == "RGBA":
        white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, picture).convert("RGB")
    if picture.mode == "LA":
        page = Image.new("L", picture.size, 255)
        page.paste(picture.getchannel("L"), None, picture.getchannel("A"))
        return page
    return picture


def shrink_to(picture: Image.Image, plan: DownscalePlan) -> Image.Image:
    """Bring a decoded picture to ``plan.target_size``, by exact reduction when that gets there."""
    target = plan.target_size
    if picture.size == target:
        return picture
    reduced_size = tuple(math.ceil(side / plan.reduction) for side in picture.size)
    if plan.reduction > 1 and reduced_size == target:
        return picture.reduce(plan.reduction)
    return picture.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)


# --- encoding -----------------------------------------------------------------------------------


def encode_jpeg(picture: Image.Image, quality: int, icc_profile: bytes | None) -> bytes:
    """Optimised progressive JPEG bytes with no metadata but ``icc_profile``."""
    buffer = io.BytesIO()
    # comment=b"": without it Pillow copies a source JPEG's COM segment from picture.info.
    # EXIF and XMP are only written when passed, and they are not.
    picture.save(
        buffer,
        "JPEG",
        quality=quality,
        optimize=True,
        progressive=True,
        comment=b"",
        icc_profile=icc_profile,
    )
    return buffer.getvalue()


def _matching_icc_profile(profile: object, mode: str) -> bytes | None:
    """``profile`` when it describes ``mode``'s colour space (a CMYK profile on RGB is wrong)."""
    wanted = {"RGB": "RGB", "L": "GRAY"}.get(mode)
    if isinstance(profile, bytes) and icc_colour_space(profile) == wanted:
        return profile
    return None


def encode_png(picture: Image.Image) -> bytes:
    """PNG bytes of ``picture`` with no metadata (Pillow writes only what it is given)."""
    buffer = io.BytesIO()
    # Level 6 with the default filters: level 9 saves ~2 % on text pages at twice the time.
    picture.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def encode_page(
    picture: Image.Image, limits: ImageLimits, icc_profile: object
) -> tuple[bytes, Image.Image, str]:
    """Encode a picture for upload, choosing PNG over JPEG for greyscale when it is smaller.

    Returns the bytes, the picture they encode and LivePerson's file type ("JPG" or "PNG").
    PNG is lossless, so at no more bytes it is at least as legible as the JPEG; a colour
    picture is always JPEG. Raises ImageTooLargeError as ``encode_upload`` does.
    """
    jpeg, encoded_picture = encode_upload(picture, limits, icc_profile)
    if picture.mode == "L" and encoded_picture is picture and _mostly_paper_and_ink(picture):
        png = encode_png(picture)
        if len(png) <= len(jpeg):
            return png, picture, "PNG"
    return jpeg, encoded_picture, "JPG"


# A greyscale page is worth a PNG attempt when this share of its pixels is pure paper or
# pure ink: text pages rendered from PDF or scanned bilevel are 80-99 %; a grey scan with
# sensor noise is under 5 %, and its PNG would be several times the JPEG, 150 ms for nothing.
_PNG_WORTHY_SHARE = 0.6
_PAPER_AND_INK_LEVELS = 8


def _mostly_paper_and_ink(picture: Image.Image) -> bool:
    """True when most pixels of an "L" picture are (nearly) white or (nearly) black."""
    histogram = picture.histogram()
    extremes = sum(histogram[:_PAPER_AND_INK_LEVELS]) + sum(histogram[-_PAPER_AND_INK_LEVELS:])
    return extremes >= _PNG_WORTHY_SHARE * picture.width * picture.height


def encode_upload(
    picture: Image.Image, limits: ImageLimits, icc_profile: object
) -> tuple[bytes, Image.Image]:
    """Encode once at ``limits.jpeg_quality``; only if over the byte limit, fall back (bounded).

    Returns the bytes and the picture they encode (smaller than given after a shrink).
    Raises ImageTooLargeError if even the bounded fallback cannot get under the limit.
    """
    icc = _matching_icc_profile(icc_profile, picture.mode)
    encoded = encode_jpeg(picture, limits.jpeg_quality, icc)
    if len(encoded) <= limits.max_upload_bytes:
        return encoded, picture
    for quality in _UPLOAD_FALLBACK_QUALITIES:
        if quality < limits.jpeg_quality:
            encoded = encode_jpeg(picture, quality, icc)
            if len(encoded) <= limits.max_upload_bytes:
                return encoded, picture
    lowest_quality = min(limits.jpeg_quality, _UPLOAD_FALLBACK_QUALITIES[-1])
    for _ in range(_MAX_UPLOAD_SHRINKS):
        # JPEG size grows about linearly with the pixel count: aim 10 % under the limit.
        factor = math.sqrt(0.9 * limits.max_upload_bytes / len(encoded))
        size = (max(1, int(picture.width * factor)), max(1, int(picture.height * factor)))
        picture = picture.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
        encoded = encode_jpeg(picture, lowest_quality, icc)
        if len(encoded) <= limits.max_upload_bytes:
            return encoded, picture
    raise ImageTooLargeError(f"cannot compress the image below {limits.max_upload_bytes:,} bytes")


def preview_data_uri(picture: Image.Image, limits: ImageLimits) -> str:
    """A JPEG data URI of ``picture`` within the preview box and character budget.

    Lowers the quality, then halves the size, until it fits (a 1x1 JPEG always does under the
    floors ImageLimits enforces). Raises ImageTooLargeError only if even that fails.
    """
    preview_size = fit_within(picture.size, limits.preview_long_side_pixels)
    preview = picture
    if preview_size != picture.size:
        # reducing_gap 1: box-reduce all the way to about the preview size, then one short
        # bicubic step; 2 would resample a 2x larger picture, 3x the time (7 ms on an A4 page
        # at 150 dpi) for a difference no one sees in a 320 px thumbnail.
        preview = picture.resize(preview_size, Image.Resampling.BICUBIC, reducing_gap=1.0)
    while True:
        for quality in _PREVIEW_QUALITIES:
            encoded = base64.b64encode(encode_jpeg(preview, quality, None)).decode("ascii")
            if len(PREVIEW_PREFIX) + len(encoded) <= limits.max_preview_chars:
                return PREVIEW_PREFIX + encoded
        if preview.size == (1, 1):
            raise ImageTooLargeError(f"cannot fit a preview in {limits.max_preview_chars} chars")
        half = (max(1, preview.width // 2), max(1, preview.height // 2))
        preview = preview.resize(half, Image.Resampling.BICUBIC)
