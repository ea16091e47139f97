"""The byte-level JPEG, PNG and GIF walks, on sequences built here by hand from the formats' specs.

Nothing here decodes pixels: these are the structures as the specifications lay them out, so
the walks are checked against the formats rather than against what Pillow happens to write.
"""

from __future__ import annotations

import zlib

import pytest

from syncd.imaging import formats, gif_metadata, jpeg_metadata, png_metadata
from syncd.imaging import metadata as image_metadata
from syncd.imaging.formats import TruncatedImageError

# --- builders -----------------------------------------------------------------------------------


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def tiff_block(orientation: int | None, *, big_endian: bool = False, field_type: int = 3) -> bytes:
    """A minimal TIFF structure: header, IFD0 with an Artist-like tag and maybe Orientation."""
    order = "big" if big_endian else "little"

    def u16(value: int) -> bytes:
        return value.to_bytes(2, order)

    def u32(value: int) -> bytes:
        return value.to_bytes(4, order)

    entries = [u16(0x010F) + u16(2) + u32(4) + b"ACME"]  # Make, 4 ASCII bytes inline
    if orientation is not None:
        width = 2 if field_type == 3 else 4
        value = orientation.to_bytes(width, order).ljust(4, b"\0")
        entries.append(u16(0x0112) + u16(field_type) + u32(1) + value)
    header = (b"MM" if big_endian else b"II") + u16(42) + u32(8)
    return header + u16(len(entries)) + b"".join(entries) + u32(0)


SOI, EOI = b"\xff\xd8", b"\xff\xd9"
APP0_JFIF = jpeg_segment(0xE0, b"JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00")
APP0_JFXX = jpeg_segment(0xE0, b"JFXX\x00\x10" + bytes(30))
APP1_EXIF = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(1))
APP1_XMP = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>jdoe</x:xmpmeta>")
APP2_ICC = jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"profile bytes")
APP2_MPF = jpeg_segment(0xE2, b"MPF\x00" + bytes(16))
APP13_PHOTOSHOP = jpeg_segment(0xED, b"Photoshop 3.0\x00" + bytes(8))
APP14_ADOBE = jpeg_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
APP15 = jpeg_segment(0xEF, b"vendor")
COMMENT = jpeg_segment(0xFE, b"Scanned by jdoe on SCAN-PC-07")
DQT = jpeg_segment(0xDB, b"\x00" + bytes(range(64)))
SOF0 = jpeg_segment(
    0xC0, b"\x08" + (30).to_bytes(2, "big") + (40).to_bytes(2, "big") + b"\x01\x01\x11\x00"
)
SOF2 = jpeg_segment(
    0xC2, b"\x08" + (7).to_bytes(2, "big") + (9).to_bytes(2, "big") + b"\x01\x01\x11\x00"
)
DHT = jpeg_segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
SOS = jpeg_segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
# Entropy-coded data with a stuffed 0xFF 0x00 and two restart markers, which are not segments.
SCAN_DATA = b"\x12\xff\x00\x34\xff\xd0\x56\x78\xff\xd1\x9a"
CODING = DQT + SOF0 + DHT + SOS + SCAN_DATA


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload).to_bytes(4, "big")
    return len(payload).to_bytes(4, "big") + kind + payload + crc


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_ihdr(width: int = 3, height: int = 2) -> bytes:
    return png_chunk(
        b"IHDR", width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\0\0\0"
    )


IDAT = png_chunk(b"IDAT", zlib.compress(bytes(2 * (1 + 3 * 3))))
IEND = png_chunk(b"IEND", b"")


def gif_header(width: int = 4, height: int = 3) -> bytes:
    screen = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return b"GIF89a" + screen + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"  # 2-colour table


def gif_image(left: int = 0, top: int = 0, width: int = 4, height: int = 3) -> bytes:
    descriptor = b"".join(value.to_bytes(2, "little") for value in (left, top, width, height))
    return b"\x2c" + descriptor + b"\x00" + b"\x02" + b"\x03\x84\x1d\x05" + b"\x00"


GIF_LOOP = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
GIF_CONTROL = b"\x21\xf9\x04\x04\x0a\x00\x00\x00"
GIF_COMMENT = b"\x21\xfe\x0fScanned by jdoe\x00"
GIF_XMP = b"\x21\xff\x0bXMP DataXMP\x08<x:xmp/>\x00"
GIF_UNKNOWN_EXTENSION = b"\x21\x99\x02ab\x00"
GIF_TRAILER = b"\x3b"


# --- JPEG ---------------------------------------------------------------------------------------


def test_jpeg_strip_drops_exif_xmp_comments_and_foreign_app_segments_and_keeps_the_rest():
    data = b"".join(
        [
            SOI,
            APP0_JFIF,
            APP0_JFXX,
            APP1_EXIF,
            APP1_XMP,
            APP2_ICC,
            APP2_MPF,
            APP13_PHOTOSHOP,
            APP14_ADOBE,
            APP15,
            COMMENT,
            CODING,
            EOI,
        ]
    )

    stripped = jpeg_metadata.strip_jpeg_metadata(data)

    assert stripped == SOI + APP0_JFIF + APP2_ICC + APP14_ADOBE + CODING + EOI


def test_jpeg_strip_drops_everything_after_the_end_of_image_marker():
    appended_image = SOI + APP1_EXIF + CODING + EOI
    data = SOI + APP0_JFIF + CODING + EOI + appended_image + b"trailer"

    assert jpeg_metadata.strip_jpeg_metadata(data) == SOI + APP0_JFIF + CODING + EOI


def test_jpeg_strip_removes_a_comment_between_progressive_scans():
    second_scan = DHT + COMMENT + SOS + b"\x01\x02\x03"
    data = SOI + APP0_JFIF + CODING + second_scan + EOI

    stripped = jpeg_metadata.strip_jpeg_metadata(data)

    assert stripped == SOI + APP0_JFIF + CODING + DHT + SOS + b"\x01\x02\x03" + EOI


def test_jpeg_strip_drops_fill_bytes_but_keeps_the_marker_they_pad():
    data = SOI + b"\xff\xff\xff" + APP0_JFIF + CODING + b"\xff\xff" + EOI

    assert jpeg_metadata.strip_jpeg_metadata(data) == SOI + APP0_JFIF + CODING + EOI


def test_jpeg_strip_of_a_clean_file_returns_the_same_bytes():
    data = SOI + APP0_JFIF + APP2_ICC + CODING + EOI

    assert jpeg_metadata.strip_jpeg_metadata(data) == data


def test_every_proper_prefix_of_a_jpeg_counts_as_truncated():
    data = SOI + APP0_JFIF + APP1_EXIF + COMMENT + CODING + EOI

    for length in range(2, len(data)):
        with pytest.raises(TruncatedImageError):
            jpeg_metadata.strip_jpeg_metadata(data[:length])
        with pytest.raises(TruncatedImageError):
            jpeg_metadata.inspect_jpeg(data[:length])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x89PNG" + CODING + EOI, "does not start with an SOI"),
        (SOI + b"\x00\x00" + APP0_JFIF + CODING + EOI, "expected a marker"),
        (SOI + b"\xff\xe0\x00\x01" + CODING + EOI, "segment length 1"),
        (SOI + b"\xff\x00" + CODING + EOI, "stuffed byte"),
    ],
)
def test_jpeg_walk_refuses_malformed_structure_as_damage_not_truncation(data, problem):
    with pytest.raises(ValueError, match=problem) as raised:
        jpeg_metadata.strip_jpeg_metadata(data)
    assert not isinstance(raised.value, TruncatedImageError)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("big_endian", [False, True])
def test_jpeg_orientation_is_read_from_exif_in_either_byte_order(orientation, big_endian):
    exif = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(orientation, big_endian=big_endian))
    data = SOI + APP0_JFIF + exif + CODING + EOI

    assert jpeg_metadata.jpeg_orientation(data) == orientation
    assert jpeg_metadata.inspect_jpeg(data).orientation == orientation


def test_jpeg_orientation_accepts_a_long_field_and_ignores_out_of_range_values():
    as_long = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(6, field_type=4))
    out_of_range = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(9))

    assert jpeg_metadata.jpeg_orientation(SOI + as_long + CODING + EOI) == 6
    assert jpeg_metadata.jpeg_orientation(SOI + out_of_range + CODING + EOI) == 1


def test_jpeg_orientation_is_1_without_exif_or_without_the_tag():
    without_tag = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(None))

    assert jpeg_metadata.jpeg_orientation(SOI + APP0_JFIF + CODING + EOI) == 1
    assert jpeg_metadata.jpeg_orientation(SOI + without_tag + CODING + EOI) == 1


def test_the_first_exif_segment_decides_and_xmp_before_it_is_skipped():
    first = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(8))
    second = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(3))
    data = SOI + APP1_XMP + first + second + CODING + EOI

    assert jpeg_metadata.jpeg_orientation(data) == 8
    assert jpeg_metadata.inspect_jpeg(data).orientation == 8


def test_exif_after_the_first_scan_does_not_count_as_orientation():
    late_exif = jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_block(6))
    data = SOI + CODING + late_exif + SOS + b"\x01" + EOI

    assert jpeg_metadata.inspect_jpeg(data).orientation == 1
    assert jpeg_metadata.jpeg_orientation(data) == 1


@pytest.mark.parametrize(
    "tiff",
    [
        b"XX*\x00\x08\x00\x00\x00",  # no byte-order mark
        b"II+\x00\x08\x00\x00\x00",  # wrong magic number
        b"II*\x00\xff\x00\x00\x00",  # IFD offset beyond the block
        b"II*\x00\x08\x00\x00\x00\x05\x00" + bytes(12),  # five entries declared, one present
        b"II",  # too short for a header
    ],
)
def test_malformed_exif_raises_value_error_but_inspection_treats_it_as_orientation_1(tiff):
    data = SOI + jpeg_segment(0xE1, b"Exif\x00\x00" + tiff) + CODING + EOI

    with pytest.raises(ValueError):
        jpeg_metadata.jpeg_orientation(data)
    assert jpeg_metadata.inspect_jpeg(data).orientation == 1


def test_jpeg_inspection_reads_the_size_from_a_progressive_frame_header():
    data = SOI + DQT + SOF2 + DHT + SOS + SCAN_DATA + EOI

    structure = jpeg_metadata.inspect_jpeg(data)

    assert (structure.width, structure.height, structure.frame_count) == (9, 7, 1)


def test_jpeg_inspection_refuses_a_file_without_a_frame_header_or_with_zero_height():
    zero_height = jpeg_segment(0xC0, b"\x08\x00\x00\x00\x28\x01\x01\x11\x00")

    with pytest.raises(ValueError, match="no frame header"):
        jpeg_metadata.inspect_jpeg(SOI + DQT + DHT + SOS + SCAN_DATA + EOI)
    with pytest.raises(ValueError, match="no frame header"):
        jpeg_metadata.inspect_jpeg(SOI + DQT + zero_height + SOS + SCAN_DATA + EOI)


# --- PNG ----------------------------------------------------------------------------------------


def test_png_strip_drops_text_time_exif_and_private_chunks_and_keeps_rendering_chunks():
    kept = [
        png_chunk(b"gAMA", (45455).to_bytes(4, "big")),
        png_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(b"profile")),
        png_chunk(b"pHYs", bytes(9)),
        png_chunk(b"PLTE", bytes(6)),
        png_chunk(b"tRNS", b"\x00"),
    ]
    dropped = [
        png_chunk(b"tEXt", b"Author\x00jdoe"),
        png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"Scanned on SCAN-PC-07")),
        png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta/>"),
        png_chunk(b"tIME", bytes(7)),
        png_chunk(b"prVW", b"a private preview"),
    ]
    exif_after_data = png_chunk(b"eXIf", tiff_block(1))
    data = PNG_SIGNATURE + png_ihdr() + b"".join(kept + dropped) + IDAT + exif_after_data + IEND

    stripped = png_metadata.strip_png_metadata(data)

    assert stripped == PNG_SIGNATURE + png_ihdr() + b"".join(kept) + IDAT + IEND


def test_png_strip_keeps_unknown_critical_chunks_and_drops_data_after_iend():
    critical = png_chunk(b"ABCD", b"a decoder must see this")
    data = PNG_SIGNATURE + png_ihdr() + critical + IDAT + IEND + b"appended"

    assert (
        png_metadata.strip_png_metadata(data) == PNG_SIGNATURE + png_ihdr() + critical + IDAT + IEND
    )


@pytest.mark.parametrize("before_image_data", [True, False])
def test_png_orientation_is_read_from_exif_before_or_after_the_image_data(before_image_data):
    exif = png_chunk(b"eXIf", tiff_block(6, big_endian=True))
    middle = exif + IDAT if before_image_data else IDAT + exif
    data = PNG_SIGNATURE + png_ihdr() + middle + IEND

    assert png_metadata.png_orientation(data) == 6
    assert png_metadata.inspect_png(data).orientation == 6


def test_png_orientation_accepts_an_exif_prefix_and_is_1_without_exif():
    prefixed = png_chunk(b"eXIf", b"Exif\x00\x00" + tiff_block(3))

    assert png_metadata.png_orientation(PNG_SIGNATURE + png_ihdr() + IDAT + prefixed + IEND) == 3
    assert png_metadata.png_orientation(PNG_SIGNATURE + png_ihdr() + IDAT + IEND) == 1


def test_png_inspection_reads_the_size_from_ihdr():
    structure = png_metadata.inspect_png(PNG_SIGNATURE + png_ihdr(300, 20) + IDAT + IEND)

    assert (structure.width, structure.height, structure.orientation) == (300, 20, 1)


def test_every_proper_prefix_of_a_png_counts_as_truncated():
    data = PNG_SIGNATURE + png_ihdr() + png_chunk(b"tEXt", b"k\x00v") + IDAT + IEND

    for length in range(len(PNG_SIGNATURE), len(data)):
        with pytest.raises(TruncatedImageError):
            png_metadata.strip_png_metadata(data[:length])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x89PNG\r\n\x1a\x0b" + png_ihdr() + IDAT + IEND, "bad signature"),
        (PNG_SIGNATURE + IDAT + png_ihdr() + IEND, "first chunk is not IHDR"),
        (PNG_SIGNATURE + png_ihdr() + b"\x00\x00\x00\x0012ab" + IEND, "malformed chunk header"),
        (PNG_SIGNATURE + png_ihdr() + b"\xff\xff\xff\xffIDAT" + IEND, "malformed chunk header"),
    ],
)
def test_png_walk_refuses_malformed_structure_as_damage_not_truncation(data, problem):
    with pytest.raises(ValueError, match=problem) as raised:
        png_metadata.strip_png_metadata(data)
    assert not isinstance(raised.value, TruncatedImageError)


def test_png_inspection_refuses_a_bad_ihdr():
    short_ihdr = png_chunk(b"IHDR", bytes(12))

    with pytest.raises(ValueError, match="13 bytes"):
        png_metadata.inspect_png(PNG_SIGNATURE + short_ihdr + IDAT + IEND)
    with pytest.raises(ValueError, match="zero"):
        png_metadata.inspect_png(PNG_SIGNATURE + png_ihdr(0, 5) + IDAT + IEND)


# --- GIF ----------------------------------------------------------------------------------------


def test_gif_strip_drops_comments_xmp_and_unknown_extensions_and_keeps_every_frame():
    frames = GIF_CONTROL + gif_image() + GIF_CONTROL + gif_image()
    data = b"".join(
        [
            gif_header(),
            GIF_LOOP,
            GIF_COMMENT,
            GIF_XMP,
            GIF_UNKNOWN_EXTENSION,
            frames,
            GIF_COMMENT,
            GIF_TRAILER,
            b"appended",
        ]
    )

    stripped = gif_metadata.strip_gif_metadata(data)

    assert stripped == gif_header() + GIF_LOOP + frames + GIF_TRAILER


def test_gif_inspection_counts_frames_and_grows_the_canvas_to_hold_every_frame():
    data = gif_header(4, 3) + gif_image() + gif_image(left=10, top=2, width=6, height=5)

    structure = gif_metadata.inspect_gif(data + GIF_TRAILER)

    assert (structure.width, structure.height, structure.frame_count) == (16, 7, 2)


def test_a_gif_cut_inside_a_block_or_before_its_first_frame_counts_as_truncated():
    data = gif_header() + GIF_LOOP + GIF_CONTROL + gif_image() + GIF_TRAILER
    inside_image = len(gif_header() + GIF_LOOP + GIF_CONTROL) + 5

    for length in (3 + 10, len(gif_header()) + 4, len(gif_header() + GIF_LOOP), inside_image):
        with pytest.raises(TruncatedImageError):
            gif_metadata.inspect_gif(data[:length])


def test_a_gif_that_stops_after_complete_frames_without_a_trailer_is_damaged_not_truncated():
    data = gif_header() + gif_image()

    with pytest.raises(ValueError, match="no trailer") as raised:
        gif_metadata.strip_gif_metadata(data)
    assert not isinstance(raised.value, TruncatedImageError)


def test_gif_walk_refuses_an_unknown_block_and_a_bad_signature():
    with pytest.raises(ValueError, match="unknown block"):
        gif_metadata.inspect_gif(gif_header() + b"\x42" + gif_image() + GIF_TRAILER)
    with pytest.raises(ValueError, match="bad signature"):
        gif_metadata.inspect_gif(b"GIF90a" + gif_header()[6:] + gif_image() + GIF_TRAILER)


# --- shared -------------------------------------------------------------------------------------


def test_icc_colour_space_reads_the_data_colour_space_field_of_the_profile_header():
    def profile_header(colour_space: bytes) -> bytes:
        return bytes(16) + colour_space + b"XYZ " + bytes(108)

    assert formats.icc_colour_space(profile_header(b"RGB ")) == "RGB"
    assert formats.icc_colour_space(profile_header(b"GRAY")) == "GRAY"
    assert formats.icc_colour_space(profile_header(b"CMYK")) == "CMYK"
    assert formats.icc_colour_space(b"too short") is None


def test_dispatch_by_format_name_matches_the_format_specific_walks():
    jpeg = SOI + APP0_JFIF + COMMENT + CODING + EOI
    png = PNG_SIGNATURE + png_ihdr() + png_chunk(b"tEXt", b"k\x00v") + IDAT + IEND
    gif = gif_header() + GIF_COMMENT + gif_image() + GIF_TRAILER

    assert image_metadata.strip_metadata(jpeg, "JPEG") == jpeg_metadata.strip_jpeg_metadata(jpeg)
    assert image_metadata.strip_metadata(png, "PNG") == png_metadata.strip_png_metadata(png)
    assert image_metadata.strip_metadata(gif, "GIF") == gif_metadata.strip_gif_metadata(gif)
    assert image_metadata.inspect_image(gif, "GIF") == gif_metadata.inspect_gif(gif)
    with pytest.raises(ValueError, match="BMP"):
        image_metadata.inspect_image(b"BM", "BMP")
    with pytest.raises(ValueError, match="BMP"):
        image_metadata.strip_metadata(b"BM", "BMP")
