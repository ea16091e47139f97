"""What a file is, from its bytes alone: format sniffing and the facts the structure walks share.

Pure standard-library code used by the image step before (and instead of) decoding:

* ``sniff_image_format`` decides JPEG / PNG / GIF by magic bytes, never by file name;
* ``sniff_document_format`` names the formats made into pages (PDF, TIFF, BMP, PNM, ...);
* ``describe_non_image`` names anything else in words an operator understands;
* ``ImageStructure`` and ``TruncatedImageError`` are what the JPEG, PNG and GIF walks return and
  raise; ``exif_orientation`` and ``icc_colour_space`` read the two embedded blocks they need.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

JPEG_SIGNATURE = b"\xff\xd8\xff"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_IMAGE_SIGNATURES = (JPEG_SIGNATURE, PNG_SIGNATURE, *GIF_SIGNATURES)

_SENT_FORMATS = "only JPEG, PNG and GIF are sent"
_ORIENTATION_TAG = 0x0112
_TIFF_SHORT, _TIFF_LONG = 3, 4
# (signature, offset, description): checked in order, first match wins. The formats syncd
# turns into pages are named by ``sniff_document_format``; these are what it still refuses.
_KNOWN_CONTENT: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypavif", 4, f"AVIF image; {_SENT_FORMATS}"),
    (b"\x00\x00\x01\x00", 0, f"Windows icon; {_SENT_FORMATS}"),
    (b"8BPS", 0, f"Photoshop document; {_SENT_FORMATS}"),
    (b"%!PS", 0, "PostScript document, not an image"),
    (b"PK\x03\x04", 0, "ZIP archive (or an Office document), not an image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "Microsoft Office document, not an image"),
    (b"{\\rtf", 0, "RTF document, not an image"),
    (b"\x1f\x8b", 0, "gzip archive, not an image"),
    (b"MZ", 0, "Windows program, not an image"),
    (b"\x7fELF", 0, "Linux program, not an image"),
    (b"\xff\xd8", 0, "damaged JPEG (no marker after its start bytes)"),
    (b"GIF8", 0, "GIF of an unknown version"),
)
# (signature, offset, format name): the documents and images made into pages. The names are
# what reasons say ("BigTIFF image", "PNM image"); ``DOCUMENT_PILLOW_FORMATS`` maps them to
# the Pillow decoders allowed to open them.
_DOCUMENT_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"II+\x00", 0, "BigTIFF"),
    (b"MM\x00+", 0, "BigTIFF"),
    (b"BM", 0, "BMP"),
    (b"WEBP", 8, "WebP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"\xb1\x68\xde\x3a", 0, "DCX"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1")
DOCUMENT_PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "TIFF": ("TIFF",),
    "BigTIFF": ("TIFF",),
    "BMP": ("BMP",),
    "PNM": ("PPM",),
    "WebP": ("WEBP",),
    "JPEG 2000": ("JPEG2000",),
    "PCX": ("PCX",),
    "DCX": ("DCX",),
    "HEIC": ("HEIF",),
    "HEIF": ("HEIF",),
}


def sniff_document_format(head: bytes) -> str | None:
    """Name the page-making format ``head`` (a file's first bytes) starts like, or None.

    "PDF", "TIFF", "BigTIFF", "BMP", "PNM", "WebP", "JPEG 2000", "PCX", "DCX", "HEIC" or
    "HEIF".
    A PDF may have up to 1 KiB of junk before ``%PDF-``, as readers allow; a JPEG, PNG or GIF
    is never a document, whatever its first kilobyte contains (EXIF can hold any text).
    """
    if sniff_image_format(head) is not None:
        return None
    if b"%PDF-" in head[:1024]:
        return "PDF"
    for signature, offset, name in _DOCUMENT_SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIC" if head[8:12] in (b"heic", b"heix") else "HEIF"
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and head[2:3].isspace():
        return "PNM"
    if len(head) >= 4 and head[0] == 0x0A and head[1] in (0, 2, 3, 4, 5) and head[2] == 1:
        return "PCX"
    return None


def sniff_image_format(head: bytes) -> str | None:
    """Return "JPEG", "PNG" or "GIF" when ``head`` starts like one; else None."""
    if head.startswith(JPEG_SIGNATURE):
        return "JPEG"
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head[:6] in GIF_SIGNATURES:
        return "GIF"
    return None


def is_partial_image_signature(head: bytes) -> bool:
    """True when ``head`` is non-empty and shorter than, but a prefix of, an image signature.

    Such a file has only just been created: it is still being written, not a foreign format.
    """
    return any(len(head) < len(sig) and sig.startswith(head) for sig in _IMAGE_SIGNATURES if head)


def describe_non_image(head: bytes) -> str:
    """A short phrase naming what ``head`` (the first bytes of a file; 512 is plenty) is.

    Meant for the reason line of a refused file, such as "PDF document, not an image" or
    "BMP image; only JPEG, PNG and GIF are sent". Never raises.
    """
    if not head:
        return "empty file"
    document = sniff_document_format(head)
    if document == "PDF":
        return "PDF document, not an image"
    if document is not None:
        # The outbox makes these into pages (imaging.pages); the image step and the inbox,
        # which sees what agents send, still take only the three formats LivePerson shows.
        return f"{document} image; {_SENT_FORMATS}"
    for signature, offset, description in _KNOWN_CONTENT:
        if head[offset : offset + len(signature)] == signature:
            return description
    if not head.strip(b"\x00"):
        return "file of zero bytes (NUL), not an image"
    text = _as_text(head)
    if text is not None:
        start = text.lstrip().lower()
        if start.startswith("<svg") or (start.startswith("<?xml") and "<svg" in start):
            return f"SVG drawing; {_SENT_FORMATS}"
        if start.startswith(("<!doctype html", "<html")):
            return "HTML document, not an image"
        return "text file, not an image"
    return f"unrecognised content (starts {head[:8].hex(' ')}), not a JPEG, PNG or GIF image"


def _as_text(head: bytes) -> str | None:
    """``head`` as UTF-8 text when it is printable text; None otherwise."""
    for cut in range(4):  # the head may end in the middle of a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return text if all(char.isprintable() or char in "\t\r\n\f" for char in text) else None
    return None


class TruncatedImageError(ValueError):
    """The data ends before the format's end marker: most likely a file still being written."""


@dataclass(frozen=True)
class ImageStructure:
    """What the walk learnt without decoding: the canvas in stored orientation and more.

    For a GIF the size covers every frame (a frame may reach beyond the logical screen, and
    the decoder grows the canvas to hold it), so it is the size to check against bomb limits.
    """

    width: int
    height: int
    orientation: int  # EXIF orientation 1-8; 1 when absent
    frame_count: int


def exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.

    ``tiff`` may start with the ``Exif\\x00\\x00`` prefix of JPEG APP1 (some PNG writers add it).
    Returns 1 when the tag is absent, has an unexpected type or a value outside 1-8.
    Raises ValueError when the block is not TIFF-structured or points outside itself.
    """
    if tiff.startswith(b"Exif\0\0"):
        tiff = tiff[6:]
    byte_orders: dict[bytes, Literal["little", "big"]] = {b"II": "little", b"MM": "big"}
    byte_order = byte_orders.get(tiff[:2])
    if byte_order is None:
        raise ValueError("EXIF: no TIFF byte-order mark")

    def number(offset: int, width: int) -> int:
        if offset + width > len(tiff):
            raise ValueError(f"EXIF: offset {offset} is outside the block")
        return int.from_bytes(tiff[offset : offset + width], byte_order)

    if number(2, 2) != 42:
        raise ValueError("EXIF: bad TIFF magic number")
    directory = number(4, 4)
    for index in range(number(directory, 2)):
        entry = directory + 2 + 12 * index
        if number(entry, 2) != _ORIENTATION_TAG:
            continue
        field_type = number(entry + 2, 2)
        if field_type == _TIFF_SHORT:
            value = number(entry + 8, 2)
        elif field_type == _TIFF_LONG:
            value = number(entry + 8, 4)
        else:
            return 1
        return value if 1 <= value <= 8 else 1
    return 1


def icc_colour_space(profile: bytes) -> str | None:
    """The data colour space an ICC profile describes ("RGB", "GRAY", "CMYK", ...), or None.

    An RGB JPEG must not carry the CMYK profile of the scan it was converted from, so the image
    step only keeps a profile whose colour space matches the pixels it writes.
    """
    if len(profile) < 20:
        return None
    return profile[16:20].decode("ascii", "replace").strip()
