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

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from syncd.errors import ImageTooLargeError, StillWritingError, UnsupportedImageError
from syncd.imaging import metadata as image_metadata
from syncd.imaging.encoding import (
    TRANSPOSITIONS,
    encode_page,
    flatten_onto_white,
    normalise_mode,
    preview_data_uri,
    shrink_to,
)
from syncd.imaging.formats import (
    ImageStructure,
    TruncatedImageError,
    describe_non_image,
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
from syncd.imaging.png_metadata import apng_frame_count_problem

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
# Pillow keeps its pixel limit in a module global (Image.MAX_IMAGE_PIXELS) and reports the band
# between that limit and twice it only as a DecompressionBombWarning. Both are process-wide, and
# warnings.catch_warnings() swaps the process-wide filter list, so two threads doing it at once
# can leave the other's filter behind. This lock serialises the few microseconds in which we set
# both for one Image.open (a header read) and put them back; decoding runs outside it, in parallel.
_PILLOW_GLOBALS_LOCK = threading.Lock()
_HEAD_BYTES = 512
_ORIENTATION_TAG = 0x0112


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
        refuse_too_many_pixels(structure.width, structure.height, limits)
    if structure is not None and source_format == "PNG":
        # A complete APNG whose acTL count disagrees with its frames is damaged for good
        # (browsers disagree on what to show), not a file still being written.
        problem = apng_frame_count_problem(data)
        if problem is not None:
            raise UnsupportedImageError(problem)
    with open_within_limits(data, source_format, limits, truncation) as image:
        if truncation is not None:
            raise StillWritingError(f"{truncation} (still being written?)") from truncation
        if structure is not None and structure.orientation == 1:
            passed = _try_pass_through(data, source_format, structure, image, limits)
            if passed is not None:
                return passed
        # When the strict walk failed, ask Pillow, which reads EXIF as decoders do.
        orientation = _pillow_orientation(image) if structure is None else structure.orientation
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
    with open_within_limits(handle, source_format, limits, None) as image:
        return _reencode(image, source_format, size_bytes, _pillow_orientation(image), limits)


def _pillow_orientation(image: Image.Image) -> int:
    """The EXIF orientation Pillow reads, for files the strict walk could not follow.

    A JPEG with junk bytes after its APP1 segment still carries a readable EXIF block; a
    decoder (and so an agent's browser) honours it, so the upload must be turned too.
    """
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, EOFError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


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


def refuse_too_many_pixels(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"{width}x{height} is {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,} (a decompression bomb, or a scan at an absurd resolution)"
        )


@contextmanager
def open_within_limits(
    data: bytes | BinaryIO,
    source_format: str,
    limits: ImageLimits,
    truncation: TruncatedImageError | None,
    pillow_formats: tuple[str, ...] | None = None,
) -> Iterator[Image.Image]:
    """Open ``data`` (bytes, or a file read as needed) lazily (header only, no pixels) as
    ``source_format``, within the pixel limit.

    ``pillow_formats`` names the Pillow decoders allowed (default: ``source_format`` alone).

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
                image = Image.open(source, formats=pillow_formats or (source_format,))
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
        refuse_too_many_pixels(image.width, image.height, limits)
        # Feed the decoder the whole file in one call instead of 64 KiB at a time: each call
        # gives up the GIL and must win it back, and with busy Python threads beside it (the
        # senders) every win-back can wait a switch interval (5 ms); 56 of them for a 3.5 MB
        # scan made a decode 3x slower. The data is in memory already, so this costs nothing.
        # (A file too large for memory is read in Pillow's default small blocks instead.)
        if isinstance(data, bytes):
            image.decodermaxblock = max(image.decodermaxblock, len(data))
        yield image


def load_picture(image: Image.Image, draft_size: tuple[int, int] | None) -> Image.Image:
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
    return normalise_mode(image)


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
    picture = load_picture(image, (2 * preview_width, 2 * preview_height))
    return PreparedImage(
        data=upload,
        file_type=_FILE_TYPES[source_format],
        preview_data_uri=preview_data_uri(flatten_onto_white(picture), limits),
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
    picture = load_picture(image, plan.draft_size)
    picture = flatten_onto_white(shrink_to(picture, plan))
    if orientation in TRANSPOSITIONS:
        # Late: rotating the small picture is cheap; rotating the full scan is not.
        picture = picture.transpose(TRANSPOSITIONS[orientation])
    upload, picture, file_type = encode_page(picture, limits, icc_profile)
    width, height = picture.size
    return PreparedImage(
        data=upload,
        file_type=file_type,
        preview_data_uri=preview_data_uri(picture, limits),
        width=width,
        height=height,
        source_format=source_format,
        source_bytes=source_bytes,
        reencoded=True,
    )
