"""The image step: a scanned file's bytes in, an upload and a preview for LivePerson out.

This is the only module that imports Pillow. ``prepare`` takes one of two paths:

* **pass-through**: a JPEG, PNG or GIF that already fits (bytes, long side, no rotation needed)
  is sent as it is, minus its metadata (a lossless byte-level strip, see imaging.metadata);
* **re-encode**: anything else is decoded once, at a reduced scale where the format allows
  (JPEG DCT scaling via ``draft``, an integer box ``reduce`` otherwise), rotated late, flattened
  onto white and encoded once as a baseline JPEG.

Either way the preview is made from the same decoded picture. Decompression bombs are refused
from the header, before any pixel is decoded. Safe to call from several threads at once.
"""

from __future__ import annotations

import base64
import io
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from syncd.errors import ImageTooLargeError, StillWritingError, UnsupportedImageError
from syncd.imaging import metadata as image_metadata
from syncd.imaging.formats import (
    ImageStructure,
    TruncatedImageError,
    describe_non_image,
    icc_colour_space,
    is_partial_image_signature,
    sniff_image_format,
)
from syncd.imaging.plan import (
    DEFAULT_LIMITS,
    DownscalePlan,
    ImageLimits,
    PreparedImage,
    fit_within,
    plan_downscale,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DownscalePlan",
    "ImageLimits",
    "PreparedImage",
    "describe_non_image",
    "plan_downscale",
    "prepare",
    "prepare_stream",
    "sniff_image_format",
]


_FILE_TYPES = {"JPEG": "JPG", "PNG": "PNG", "GIF": "GIF"}
_EXIF_ORIENTATION = 0x0112
_PREVIEW_PREFIX = "data:image/jpeg;base64,"
_PREVIEW_QUALITIES = (70, 50, 30)
# Over the limit at q85 and the size cap means content close to pure noise: step down a few
# qualities, then shrink. Bounded, so a pathological file costs at most ~8 encodes.
_UPLOAD_FALLBACK_QUALITIES = (70, 50, 35)
_MAX_UPLOAD_SHRINKS = 4
_TRANSPOSITIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Pillow keeps its pixel limit in a module global (Image.MAX_IMAGE_PIXELS) and reports the band
# between that limit and twice it only as a DecompressionBombWarning. Both are process-wide, and
# warnings.catch_warnings() swaps the process-wide filter list, so two threads doing it at once
# can leave the other's filter behind. This lock serialises the few microseconds in which we set
# both for one Image.open (a header read) and put them back; decoding runs outside it, in parallel.
_PILLOW_GLOBALS_LOCK = threading.Lock()
_HEAD_BYTES = 512


def prepare(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> PreparedImage:
    """Turn the bytes of a scanned file into a PreparedImage within ``limits``.

    Raises UnsupportedImageError when the content is not a JPEG, PNG or GIF (whatever the file
    is called) or its header is damaged; ImageTooLargeError when its pixel count is over
    ``limits.max_pixels`` (checked from the header, nothing is decoded) or it cannot be made
    small enough; StillWritingError when the data stops early or is broken mid-stream, as a
    file still being written does.
    """
    source_format = sniff_image_format(data[:_HEAD_BYTES])
    if source_format is None:
        if is_partial_image_signature(data):
            raise StillWritingError(
                f"only {len(data)} bytes so far: the file is still being written"
            )
        raise UnsupportedImageError(describe_non_image(data[:_HEAD_BYTES]))
    structure, truncation = _inspect(data, source_format)
    if structure is not None:
        _refuse_too_many_pixels(structure.width, structure.height, limits)
    with _open_within_limits(data, source_format, limits, truncation) as image:
        if truncation is not None:
            raise StillWritingError(f"{truncation} (still being written?)") from truncation
        if structure is not None and structure.orientation == 1:
            passed = _try_pass_through(data, source_format, structure, image, limits)
            if passed is not None:
                return passed
        orientation = structure.orientation if structure is not None else 1
        return _reencode(image, source_format, len(data), orientation, limits)


def prepare_stream(
    handle: BinaryIO, size_bytes: int, limits: ImageLimits = DEFAULT_LIMITS
) -> PreparedImage:
    """``prepare`` for a scan too large to hold in memory, read from ``handle`` as needed.

    Memory follows the decoded pixels (bounded by ``limits.max_pixels``, and scaled down by
    JPEG's DCT decoding), not the file size: Pillow reads the file in small blocks and stops
    at the end of the image. Such a file never passes through (it is far over the upload
    size), so the structure walk on bytes is skipped; the orientation comes from Pillow's
    EXIF reader. Raises what ``prepare`` raises.
    """
    head = handle.read(_HEAD_BYTES)
    handle.seek(0)
    source_format = sniff_image_format(head)
    if source_format is None:
        raise UnsupportedImageError(describe_non_image(head))
    with _open_within_limits(handle, source_format, limits, None) as image:
        try:
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1))
        except (OSError, ValueError, SyntaxError):
            orientation = 1  # unreadable EXIF: shown as stored, like any viewer does
        return _reencode(image, source_format, size_bytes, orientation, limits)


def _inspect(
    data: bytes, source_format: str
) -> tuple[ImageStructure | None, TruncatedImageError | None]:
    """Walk the structure; a layout the walk does not accept just rules out the pass-through."""
    try:
        return image_metadata.inspect_image(data, source_format), None
    except TruncatedImageError as truncation:
        return None, truncation
    except ValueError:
        # Decoders tolerate oddities (padding between segments, say) that the strict walk does
        # not; such a file is re-encoded, which removes its metadata all the same.
        return None, None


def _refuse_too_many_pixels(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{width}x{height} is {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,} (a decompression bomb, or a scan at an absurd resolution)"
        )


@contextmanager
def _open_within_limits(
    data: bytes | BinaryIO,
    source_format: str,
    limits: ImageLimits,
    truncation: TruncatedImageError | None,
) -> Iterator[Image.Image]:
    """Open ``data`` (bytes, or a file read as needed) lazily (header only, no pixels) as
    ``source_format``, within the pixel limit.

    Raises ImageTooLargeError over ``limits.max_pixels``; StillWritingError when Pillow cannot
    read the header of data already known to be truncated; UnsupportedImageError when it
    cannot read the header of complete data.
    """
    try:
        with _PILLOW_GLOBALS_LOCK, warnings.catch_warnings():
            # Pillow's own check runs inside Image.open: make its warning band an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pillow_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = limits.max_pixels
            try:
                source = io.BytesIO(data) if isinstance(data, bytes) else data
                image = Image.open(source, formats=(source_format,))
            finally:
                Image.MAX_IMAGE_PIXELS = pillow_limit
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageTooLargeError(f"{source_format} image too large: {error}") from error
    except (UnidentifiedImageError, OSError, ValueError, EOFError, SyntaxError) as error:
        if truncation is not None:
            raise StillWritingError(f"{truncation} (still being written?)") from truncation
        # UnidentifiedImageError's text is a repr of our in-memory buffer: say it in words.
        detail = "" if isinstance(error, UnidentifiedImageError) else f": {error}"
        raise UnsupportedImageError(
            f"damaged {source_format} header that no decoder accepts{detail}"
        ) from error
    with image:
        _refuse_too_many_pixels(image.width, image.height, limits)
        # Feed the decoder the whole file in one call instead of 64 KiB at a time: each call
        # gives up the GIL and must win it back, and with busy Python threads beside it (the
        # senders) every win-back can wait a switch interval (5 ms); 56 of them for a 3.5 MB
        # scan made a decode 3x slower. The data is in memory already, so this costs nothing.
        # (A file too large for memory is read in Pillow's default small blocks instead.)
        if isinstance(data, bytes):
            image.decodermaxblock = max(image.decodermaxblock, len(data))
        yield image


def _load(image: Image.Image, draft_size: tuple[int, int] | None) -> Image.Image:
    """Decode ``image`` (JPEG at the DCT scale ``draft_size`` asks for) into an L/LA/RGB/RGBA image.

    Raises StillWritingError when the decoder hits the end of data or a broken stream.
    """
    if draft_size is not None:
        image.draft(None, draft_size)  # a no-op for formats without scaled decoding
    try:
        image.load()
    except (OSError, EOFError, SyntaxError, ValueError) as error:
        raise StillWritingError(
            f"{image.format} data is incomplete or damaged ({error}); still being written?"
        ) from error
    return _normalise_mode(image)


def _try_pass_through(
    data: bytes,
    source_format: str,
    structure: ImageStructure,
    image: Image.Image,
    limits: ImageLimits,
) -> PreparedImage | None:
    """The file minus its metadata, if that fits as it is; None when it has to be re-encoded."""
    width, height = image.size
    # The walked canvas also covers GIF frames beyond the first, which Pillow has not read yet.
    if not limits.passes_through(len(data), max(width, height, structure.width, structure.height)):
        return None
    try:
        upload = image_metadata.strip_metadata(data, source_format)
    except TruncatedImageError as truncation:
        raise StillWritingError(f"{truncation} (still being written?)") from truncation
    except ValueError:
        return None
    if len(upload) > limits.max_upload_bytes:
        return None
    # The preview needs far fewer pixels: let a JPEG decode at 1/2-1/8 scale, down to twice
    # the preview size, so the final resize still has pixels to average.
    preview_width, preview_height = fit_within(image.size, limits.preview_long_side_pixels)
    picture = _load(image, (2 * preview_width, 2 * preview_height))
    return PreparedImage(
        data=upload,
        file_type=_FILE_TYPES[source_format],
        preview_data_uri=_preview_data_uri(_flatten_onto_white(picture), limits),
        width=width,
        height=height,
        source_format=source_format,
        source_bytes=len(data),
        reencoded=False,
    )


def _reencode(
    image: Image.Image, source_format: str, source_bytes: int, orientation: int, limits: ImageLimits
) -> PreparedImage:
    """Decode once at the planned scale, resize in stored orientation, rotate, encode once."""
    plan = plan_downscale(
        *image.size, limits.max_long_side_pixels, dct_scaling=image.format == "JPEG"
    )
    icc_profile = image.info.get("icc_profile")
    picture = _load(image, plan.draft_size)
    picture = _flatten_onto_white(_shrink_to(picture, plan))
    if orientation in _TRANSPOSITIONS:
        # Late: rotating the small picture is cheap; rotating the full scan is not.
        picture = picture.transpose(_TRANSPOSITIONS[orientation])
    upload, picture = _encode_upload(picture, limits, icc_profile)
    width, height = picture.size
    return PreparedImage(
        data=upload,
        file_type="JPG",
        preview_data_uri=_preview_data_uri(picture, limits),
        width=width,
        height=height,
        source_format=source_format,
        source_bytes=source_bytes,
        reencoded=True,
    )


# --- pixels -------------------------------------------------------------------------------------


def _sixteen_to_eight_bits(value: Image.ImagePointTransform) -> Image.ImagePointTransform:
    return value / 256


def _normalise_mode(image: Image.Image) -> Image.Image:
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


def _flatten_onto_white(picture: Image.Image) -> Image.Image:
    """Composite LA / RGBA onto a white page (JPEG has no alpha; black would hide dark ink)."""
    if picture.mode == "RGBA":
        white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, picture).convert("RGB")
    if picture.mode == "LA":
        page = Image.new("L", picture.size, 255)
        page.paste(picture.getchannel("L"), None, picture.getchannel("A"))
        return page
    return picture


def _shrink_to(picture: Image.Image, plan: DownscalePlan) -> Image.Image:
    """Bring a decoded picture to ``plan.target_size``, by exact reduction when that gets there."""
    target = plan.target_size
    if picture.size == target:
        return picture
    reduced_size = tuple(math.ceil(side / plan.reduction) for side in picture.size)
    if plan.reduction > 1 and reduced_size == target:
        return picture.reduce(plan.reduction)
    return picture.resize(target, Image.Resampling.BICUBIC, reducing_gap=3.0)


# --- encoding -----------------------------------------------------------------------------------


def _encode_jpeg(picture: Image.Image, quality: int, icc_profile: bytes | None) -> bytes:
    """Baseline JPEG bytes with no metadata but ``icc_profile``; Pillow writes nothing else."""
    buffer = io.BytesIO()
    # comment=b"": without it Pillow copies a source JPEG's COM segment from picture.info.
    # EXIF and XMP are only written when passed, and they are not.
    picture.save(
        buffer,
        "JPEG",
        quality=quality,
        optimize=False,
        progressive=False,
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


def _encode_upload(
    picture: Image.Image, limits: ImageLimits, icc_profile: object
) -> tuple[bytes, Image.Image]:
    """Encode once at ``limits.jpeg_quality``; only if over the byte limit, fall back (bounded).

    Returns the bytes and the picture they encode (smaller than given after a shrink).
    Raises ImageTooLargeError if even the bounded fallback cannot get under the limit.
    """
    icc = _matching_icc_profile(icc_profile, picture.mode)
    encoded = _encode_jpeg(picture, limits.jpeg_quality, icc)
    if len(encoded) <= limits.max_upload_bytes:
        return encoded, picture
    for quality in _UPLOAD_FALLBACK_QUALITIES:
        if quality < limits.jpeg_quality:
            encoded = _encode_jpeg(picture, quality, icc)
            if len(encoded) <= limits.max_upload_bytes:
                return encoded, picture
    lowest_quality = min(limits.jpeg_quality, _UPLOAD_FALLBACK_QUALITIES[-1])
    for _ in range(_MAX_UPLOAD_SHRINKS):
        # JPEG size grows about linearly with the pixel count: aim 10 % under the limit.
        factor = math.sqrt(0.9 * limits.max_upload_bytes / len(encoded))
        size = (max(1, int(picture.width * factor)), max(1, int(picture.height * factor)))
        picture = picture.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
        encoded = _encode_jpeg(picture, lowest_quality, icc)
        if len(encoded) <= limits.max_upload_bytes:
            return encoded, picture
    raise ImageTooLargeError(f"cannot compress the image below {limits.max_upload_bytes:,} bytes")


def _preview_data_uri(picture: Image.Image, limits: ImageLimits) -> str:
    """A JPEG data URI of ``picture`` within the preview box and character budget.

    Lowers the quality, then halves the size, until it fits (a 1x1 JPEG always does under the
    floors ImageLimits enforces). Raises ImageTooLargeError only if even that fails.
    """
    preview_size = fit_within(picture.size, limits.preview_long_side_pixels)
    preview = picture
    if preview_size != picture.size:
        preview = picture.resize(preview_size, Image.Resampling.BICUBIC, reducing_gap=2.0)
    while True:
        for quality in _PREVIEW_QUALITIES:
            encoded = base64.b64encode(_encode_jpeg(preview, quality, None)).decode("ascii")
            if len(_PREVIEW_PREFIX) + len(encoded) <= limits.max_preview_chars:
                return _PREVIEW_PREFIX + encoded
        if preview.size == (1, 1):
            raise ImageTooLargeError(f"cannot fit a preview in {limits.max_preview_chars} chars")
        half = (max(1, preview.width // 2), max(1, preview.height // 2))
        preview = preview.resize(half, Image.Resampling.BICUBIC)
