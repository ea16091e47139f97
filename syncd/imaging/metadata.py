"""Byte-level walks of JPEG, PNG and GIF files, chosen by format name: structure, end, metadata.

The image step needs three things that decoding with Pillow does badly or not at all: removing
privacy metadata from a file that is sent as it is (no re-encode, so no loss), reading the EXIF
orientation without decoding pixels (Pillow's PNG ``getexif()`` decodes the whole image to look
for an eXIf chunk after the image data), and telling a file that simply stops early (most likely
still being written) from one that is damaged. Everything here is pure: bytes in, values out.

The walks themselves are per format (``jpeg_metadata``, ``png_metadata``, ``gif_metadata``);
this module dispatches on a format name ("JPEG", "PNG", "GIF") and answers the intake's
question of whether a file is complete.

Errors: a structure that cannot be walked raises ``ValueError``; when the data merely ends before
the format's end marker the subclass ``TruncatedImageError`` is raised instead.
"""

from __future__ import annotations

from syncd.imaging.formats import ImageStructure, TruncatedImageError, sniff_image_format
from syncd.imaging.gif_metadata import gif_blocks, inspect_gif, strip_gif_metadata
from syncd.imaging.jpeg_metadata import inspect_jpeg, jpeg_segments, strip_jpeg_metadata
from syncd.imaging.png_metadata import inspect_png, png_chunks, strip_png_metadata
from syncd.rules.filecheck import PDF_END_OF_FILE, PDF_END_WINDOW_BYTES


def inspect_image(data: bytes, image_format: str) -> ImageStructure:
    """Dispatch to inspect_jpeg / inspect_png / inspect_gif by format name ("JPEG", "PNG", "GIF").

    Raises ValueError for another format name, and whatever the walk raises.
    """
    inspectors = {"JPEG": inspect_jpeg, "PNG": inspect_png, "GIF": inspect_gif}
    if image_format not in inspectors:
        raise ValueError(f"no structure walk for format {image_format!r}")
    return inspectors[image_format](data)


def image_end_offset(data: bytes, image_format: str) -> int:
    """Offset just past the format's end structure: JPEG EOI, PNG IEND, GIF trailer.

    Bytes from there on are a trailer (a Samsung SEFT block, a Pixel Motion Photo's video,
    padding) that is never sent. The JPEG walk skips junk between segments as decoders do.
    Raises TruncatedImageError when the end structure is missing, ValueError when the data
    cannot be walked or ``image_format`` is not "JPEG", "PNG" or "GIF".
    """
    if image_format == "JPEG":
        end = 0
        for segment in jpeg_segments(data, resync=True):
            end = segment.end
        return end
    if image_format == "PNG":
        return max(chunk.end for chunk in png_chunks(data))
    if image_format == "GIF":
        return max(block.end for block in gif_blocks(data))
    raise ValueError(f"no structure walk for format {image_format!r}")


def has_end_structure(data: bytes) -> bool:
    """True unless ``data`` is a JPEG, PNG or GIF whose end structure is missing.

    What "complete" means for the intake: the end marker is present, followed by anything
    (for a PDF: its last %%EOF, within the last kilobyte).
    Content that cannot be walked counts as complete (damaged, not growing: the image step
    gives the reason), and so does any other format. Raises nothing.
    """
    if data.startswith(b"%PDF-"):
        # Not anywhere in the file: a linearised PDF has an early %%EOF after its first page.
        return PDF_END_OF_FILE in data[-PDF_END_WINDOW_BYTES:]
    image_format = sniff_image_format(data[:16])
    if image_format is None:
        return True
    try:
        image_end_offset(data, image_format)
    except TruncatedImageError:
        return False
    except ValueError:
        return True
    return True


def strip_metadata(data: bytes, image_format: str) -> bytes:
    """Dispatch to strip_jpeg_metadata / strip_png_metadata / strip_gif_metadata by format name.

    Raises ValueError for another format name, and whatever the walk raises.
    """
    strippers = {"JPEG": strip_jpeg_metadata, "PNG": strip_png_metadata, "GIF": strip_gif_metadata}
    if image_format not in strippers:
        raise ValueError(f"no metadata strip for format {image_format!r}")
    return strippers[image_format](data)
