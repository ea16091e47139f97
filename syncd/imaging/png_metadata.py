"""PNG chunk walk: metadata removal, size, EXIF orientation and the APNG frame count.

Pure code, bytes in, values out. The walk reads chunk headers only, so it checks that a file
reaches IEND and finds an eXIf chunk after the image data without decompressing anything.

Errors: ``TruncatedImageError`` when the data ends before the IEND chunk, ``ValueError`` for a
bad signature or a malformed chunk header.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from syncd.imaging.formats import (
    PNG_SIGNATURE,
    ImageStructure,
    TruncatedImageError,
    exif_orientation,
)

# Ancillary chunks that change how the pixels look (or animate) stay; every other ancillary
# chunk goes: tEXt, zTXt, iTXt, tIME and eXIf by name, and private ones (previews, provenance
# manifests, editor state) because nothing needs them to show the picture.
_PNG_KEPT_ANCILLARY = frozenset(
    {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"cICP", b"mDCv", b"cLLi", b"sBIT", b"bKGD"}
    | {b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"}
)


@dataclass(frozen=True)
class _PngChunk:
    kind: bytes
    start: int  # offset of the length field
    payload_start: int
    payload_end: int
    end: int  # offset just past the CRC


def png_chunks(data: bytes) -> Iterator[_PngChunk]:
    """Yield every chunk up to and including IEND; the first one is checked to be IHDR.

    Raises TruncatedImageError when the data ends before IEND, ValueError for a bad signature,
    a first chunk other than IHDR, an oversized length or a chunk type that is not 4 letters.
    """
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    size = len(data)
    position = len(PNG_SIGNATURE)
    while True:
        if position + 8 > size:
            raise TruncatedImageError("PNG data ends before its IEND chunk")
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if length > 0x7FFFFFFF or not (kind.isascii() and kind.isalpha()):
            raise ValueError(f"PNG: malformed chunk header at byte {position}")
        if position == len(PNG_SIGNATURE) and kind != b"IHDR":
            raise ValueError("PNG: the first chunk is not IHDR")
        end = position + 12 + length
        if end > size:
            raise TruncatedImageError("PNG data ends inside a chunk")
        yield _PngChunk(kind, position, position + 8, position + 8 + length, end)
        if kind == b"IEND":
            return
        position = end


def strip_png_metadata(data: bytes) -> bytes:
    """Return the PNG without text, time, EXIF and private chunks, image data untouched.

    Keeps every critical chunk (IHDR, PLTE, IDAT, IEND, and any unknown critical one, which a
    decoder must see) and the ancillary chunks that affect rendering or animation; drops
    anything after IEND. Raises TruncatedImageError (no IEND) or ValueError.
    """
    pieces = [PNG_SIGNATURE]
    for chunk in png_chunks(data):
        critical = chunk.kind[:1].isupper()
        if critical or chunk.kind in _PNG_KEPT_ANCILLARY:
            pieces.append(data[chunk.start : chunk.end])
    return b"".join(pieces)


def inspect_png(data: bytes) -> ImageStructure:
    """Read size (IHDR) and orientation (the eXIf chunk, before or after the image data).

    Walks chunk headers only, so it checks that the file reaches IEND without decompressing
    anything. A damaged eXIf chunk counts as orientation 1. Raises TruncatedImageError or
    ValueError (including an IHDR that is not 13 bytes or declares a zero size).
    """
    width = height = 0
    orientation: int | None = None
    for chunk in png_chunks(data):
        payload = data[chunk.payload_start : chunk.payload_end]
        if chunk.kind == b"IHDR":
            if len(payload) != 13:
                raise ValueError("PNG: IHDR is not 13 bytes long")
            width = int.from_bytes(payload[0:4], "big")
            height = int.from_bytes(payload[4:8], "big")
        elif chunk.kind == b"eXIf" and orientation is None:
            try:
                orientation = exif_orientation(payload)
            except ValueError:
                orientation = 1
    if width == 0 or height == 0:
        raise ValueError("PNG: zero width or height")
    return ImageStructure(width, height, orientation or 1, frame_count=1)


def png_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) from a PNG's eXIf chunk wherever it sits; 1 when absent.

    Raises TruncatedImageError when the data ends before IEND and ValueError when the chunks
    or the EXIF block cannot be walked.
    """
    for chunk in png_chunks(data):
        if chunk.kind == b"eXIf":
            return exif_orientation(data[chunk.payload_start : chunk.payload_end])
    return 1


def apng_frame_count_problem(data: bytes) -> str | None:
    """Say what is wrong with an APNG's declared frame count, or None when it agrees.

    ``data`` is a PNG; the acTL chunk declares how many frames follow and each frame has one
    fcTL chunk. Raises nothing: an unwalkable PNG has no problem this function can name.
    """
    declared: int | None = None
    frames = 0
    try:
        for chunk in png_chunks(data):
            if chunk.kind == b"acTL" and chunk.payload_end - chunk.payload_start >= 4:
                declared = int.from_bytes(data[chunk.payload_start : chunk.payload_start + 4])
            elif chunk.kind == b"fcTL":
                frames += 1
    except ValueError:
        return None
    if declared is None or declared == frames:
        return None
    return f"APNG with an invalid frame count (it declares {declared}, it holds {frames})"
