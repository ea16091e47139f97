"""GIF block walk: metadata removal, canvas size and frame count, without decoding.

Pure standard-library code. A GIF is a header (signature, logical screen, global colour table)
followed by extension and image blocks and a one-byte trailer; every extension and image body
is a chain of length-prefixed sub-blocks, so the walk never looks inside the LZW data.

Errors: ``TruncatedImageError`` when the data stops inside a block (or before the first image),
``ValueError`` for anything else that cannot be walked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from syncd.imaging.formats import GIF_SIGNATURES, ImageStructure, TruncatedImageError

_GIF_EXTENSION, _GIF_IMAGE, _GIF_TRAILER = 0x21, 0x2C, 0x3B
_GIF_PLAIN_TEXT, _GIF_GRAPHIC_CONTROL, _GIF_APPLICATION = 0x01, 0xF9, 0xFF
# Looping (Netscape, AnimExts) and an ICC profile stay; XMP and other application data go.
_GIF_KEPT_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1")


@dataclass(frozen=True)
class _GifBlock:
    introducer: int  # 0 for the header (signature, screen descriptor, global colour table)
    start: int
    end: int
    keep: bool
    frame_right: int = 0  # for an image block, where the frame ends on the canvas
    frame_bottom: int = 0


def _colour_table_bytes(flags: int) -> int:
    return 3 << ((flags & 0x07) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: bytes, position: int) -> int:
    """Offset just past the zero-length block that ends a chain of data sub-blocks."""
    while True:
        if position >= len(data):
            raise TruncatedImageError("GIF data ends inside a block")
        block_size = data[position]
        position += 1 + block_size
        if block_size == 0:
            return position


def gif_blocks(data: bytes) -> Iterator[_GifBlock]:
    """Yield the header, every extension and image block, and the trailer.

    Raises TruncatedImageError when the data stops inside a block or before the first image,
    and ValueError for an unknown block or a file that stops, after complete blocks, without
    its trailer (damaged rather than growing: writers flush in chunks, not block by block).
    """
    if data[:6] not in GIF_SIGNATURES:
        raise ValueError("not a GIF: bad signature")
    if len(data) < 13:
        raise TruncatedImageError("GIF data ends inside its screen descriptor")
    position = 13 + _colour_table_bytes(data[10])
    yield _GifBlock(0, 0, position, keep=True)
    seen_image = False
    while True:
        if position >= len(data):
            if seen_image:
                raise ValueError("GIF: no trailer after the last block")
            raise TruncatedImageError("GIF data ends before its first image")
        introducer = data[position]
        if introducer == _GIF_TRAILER:
            yield _GifBlock(introducer, position, position + 1, keep=True)
            return
        if introducer == _GIF_EXTENSION:
            if position + 3 > len(data):
                raise TruncatedImageError("GIF data ends inside an extension")
            label = data[position + 1]
            first = data[position + 3 : position + 3 + data[position + 2]]
            keep = label in (_GIF_PLAIN_TEXT, _GIF_GRAPHIC_CONTROL) or (
                label == _GIF_APPLICATION and first.startswith(_GIF_KEPT_APPLICATIONS)
            )
            end = _skip_sub_blocks(data, position + 2)
            yield _GifBlock(introducer, position, end, keep=keep)
        elif introducer == _GIF_IMAGE:
            if position + 10 > len(data):
                raise TruncatedImageError("GIF data ends inside an image descriptor")
            left, top, width, height = (
                int.from_bytes(data[offset : offset + 2], "little")
                for offset in range(position + 1, position + 9, 2)
            )
            # +1 skips the LZW minimum code size byte that precedes the data sub-blocks.
            data_start = position + 10 + _colour_table_bytes(data[position + 9]) + 1
            end = _skip_sub_blocks(data, data_start)
            seen_image = True
            yield _GifBlock(introducer, position, end, True, left + width, top + height)
        else:
            raise ValueError(f"GIF: unknown block 0x{introducer:02x} at byte {position}")
        position = end


def strip_gif_metadata(data: bytes) -> bytes:
    """Return the GIF without comment extensions, XMP or other application data, frames intact.

    Keeps graphic control (delays, transparency), plain text, looping and ICC extensions; drops
    anything after the trailer. Raises TruncatedImageError or ValueError.
    """
    return b"".join(data[block.start : block.end] for block in gif_blocks(data) if block.keep)


def inspect_gif(data: bytes) -> ImageStructure:
    """Read the canvas size (screen grown to hold every frame) and count the frames.

    Raises TruncatedImageError or ValueError (including a zero-sized canvas).
    """
    if len(data) < 10:
        raise TruncatedImageError("GIF data ends inside its screen descriptor")
    width = int.from_bytes(data[6:8], "little")
    height = int.from_bytes(data[8:10], "little")
    frame_count = 0
    for block in gif_blocks(data):
        if block.introducer == _GIF_IMAGE:
            frame_count += 1
            width = max(width, block.frame_right)
            height = max(height, block.frame_bottom)
    if width == 0 or height == 0:
        raise ValueError("GIF: zero width or height")
    return ImageStructure(width, height, orientation=1, frame_count=frame_count)
