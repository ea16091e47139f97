"""The image step on real images that the tests make with Pillow, in memory or under tmp_path.

Every prepared result is also checked against the invariants LivePerson imposes (upload within
3,000,000 bytes and of the declared type, a JPEG preview data URI within 30,000 characters).
"""

from __future__ import annotations

import base64
import io
import random
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageSequence

from syncd.errors import ImageTooLargeError, StillWritingError, UnsupportedImageError
from syncd.imaging import pipeline as imaging
from syncd.imaging.pipeline import ImageLimits, PreparedImage

LIMITS = ImageLimits()
SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
ARTIST, COMMENT, XMP_CREATOR = "jdoe (Accounting)", b"Scanned by jdoe on SCAN-PC-07", b"xmp-jdoe"
RED, GREEN, WHITE = (220, 20, 20), (20, 200, 20), (255, 255, 255)

# --- helpers ------------------------------------------------------------------------------------


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def private_exif(orientation: int | None = None) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "ACME"  # Make
    exif[0x013B] = ARTIST  # Artist
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 17.9)}  # GPS
    if orientation is not None:
        exif[0x0112] = orientation
    return exif.tobytes()


def with_segments_after_app0(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert raw segments right after the JFIF APP0 segment Pillow writes first."""
    assert jpeg[2:4] == b"\xff\xe0"
    app0_end = 4 + int.from_bytes(jpeg[4:6], "big")
    return jpeg[:app0_end] + b"".join(segments) + jpeg[app0_end:]


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload).to_bytes(4, "big")
    return len(payload).to_bytes(4, "big") + kind + payload + crc


def with_chunks(png: bytes, after_ihdr: bytes, before_iend: bytes) -> bytes:
    ihdr_end = 8 + 25
    return png[:ihdr_end] + after_ihdr + png[ihdr_end:-12] + before_iend + png[-12:]


def noisy(size: tuple[int, int], amplitude: int, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """Paper-coloured page with uniform noise of up to ``amplitude`` levels per channel."""
    bands = len(mode)
    noise = Image.frombytes(mode, size, random.Random(seed).randbytes(size[0] * size[1] * bands))
    page = Image.new(mode, size, (245, 243, 238)[:bands] if bands > 1 else 240)
    return ImageChops.subtract(page, noise.point(lambda value: value * amplitude // 256))


def assert_within_liveperson_limits(prepared: PreparedImage, limits: ImageLimits = LIMITS) -> None:
    assert len(prepared.data) <= limits.max_upload_bytes
    assert len(prepared.preview_data_uri) <= limits.max_preview_chars
    prefix = "data:image/jpeg;base64,"
    assert prepared.preview_data_uri.startswith(prefix)
    preview = decode(base64.b64decode(prepared.preview_data_uri[len(prefix) :], validate=True))
    assert preview.format == "JPEG"
    assert max(preview.size) <= limits.preview_long_side_pixels
    assert "icc_profile" not in preview.info and "exif" not in preview.info
    upload = decode(prepared.data)
    assert {"JPEG": "JPG", "PNG": "PNG", "GIF": "GIF"}[upload.format] == prepared.file_type
    assert upload.size == (prepared.width, prepared.height)


def preview_of(prepared: PreparedImage) -> Image.Image:
    return decode(base64.b64decode(prepared.preview_data_uri.split(",", 1)[1]))


def assert_no_private_metadata(data: bytes) -> None:
    image = decode(data)
    assert len(image.getexif()) == 0
    assert "comment" not in image.info and "xmp" not in image.info
    for secret in (ARTIST.encode(), COMMENT, XMP_CREATOR, b"Exif\x00\x00", b"xmpmeta"):
        assert secret not in data


def close_to(pixel: object, expected: tuple[int, ...], tolerance: int = 40) -> bool:
    values = pixel if isinstance(pixel, tuple) else (pixel,)
    return all(abs(int(a) - b) <= tolerance for a, b in zip(values, expected, strict=True))


# --- large scans --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def a4_scan_over_3_mb() -> bytes:
    """300 dpi A4 colour page: noisy paper, text-like lines, a stamp; q95 with EXIF, ICC, COM."""
    page = noisy((2480, 3508), amplitude=90)
    draw = ImageDraw.Draw(page)
    for top in range(300, 3300, 60):
        draw.rectangle((250, top, 2200 - (top * 7) % 900, top + 18), fill=(30, 30, 30))
    draw.ellipse((1700, 2800, 2200, 3300), outline=(200, 30, 30), width=12)
    return encode(
        page, "JPEG", quality=95, icc_profile=SRGB_PROFILE, exif=private_exif(), comment=COMMENT
    )


def test_a_300_dpi_a4_scan_over_3_mb_is_dct_scaled_to_150_dpi_and_fits(a4_scan_over_3_mb):
    assert len(a4_scan_over_3_mb) > 3_000_000

    prepared = imaging.prepare(a4_scan_over_3_mb)

    assert_within_liveperson_limits(prepared)
    assert (prepared.width, prepared.height) == (1240, 1754)
    assert (prepared.file_type, prepared.source_format, prepared.reencoded) == ("JPG", "JPEG", True)
    assert prepared.source_bytes == len(a4_scan_over_3_mb)
    assert_no_private_metadata(prepared.data)
    assert decode(prepared.data).info["icc_profile"] == SRGB_PROFILE


def test_the_a4_upload_still_shows_the_page_where_it_was(a4_scan_over_3_mb):
    upload = decode(imaging.prepare(a4_scan_over_3_mb).data).convert("RGB")

    # A text line at source (250..., 300-318) lands at half the coordinates; the margin stays paper.
    assert sum(upload.getpixel((200, 154))) < 3 * 100
    assert sum(upload.getpixel((60, 154))) > 3 * 150


def test_a_big_png_is_re_encoded_as_jpeg_within_the_limit():
    png = encode(noisy((1800, 1400), amplitude=60, seed=7), "PNG", compress_level=1)
    assert len(png) > 3_000_000

    prepared = imaging.prepare(png)

    assert_within_liveperson_limits(prepared)
    assert (prepared.file_type, prepared.source_format, prepared.reencoded) == ("JPG", "PNG", True)
    assert (prepared.width, prepared.height) == (1800, 1400)


def test_pure_noise_at_the_size_cap_falls_back_to_lower_quality_and_still_fits():
    png = encode(noisy((2048, 2048), amplitude=256, seed=3), "PNG", compress_level=1)

    prepared = imaging.prepare(png)

    assert_within_liveperson_limits(prepared)
    assert prepared.reencoded


def test_a_small_byte_limit_shrinks_the_picture_until_it_fits():
    limits = ImageLimits(max_upload_bytes=20_000)
    png = encode(noisy((600, 400), amplitude=256, seed=4), "PNG")

    prepared = imaging.prepare(png, limits)

    assert_within_liveperson_limits(prepared, limits)
    assert prepared.width < 600 and prepared.height < 400


# --- pass-through -------------------------------------------------------------------------------


def test_a_small_jpeg_passes_through_with_only_its_metadata_segments_removed():
    original = encode(noisy((640, 480), amplitude=40), "JPEG", quality=88, icc_profile=SRGB_PROFILE)
    exif = jpeg_segment(0xE1, b"Exif\x00\x00" + private_exif())
    xmp = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>" + XMP_CREATOR)
    comment = jpeg_segment(0xFE, COMMENT)
    with_metadata = with_segments_after_app0(original, exif, xmp, comment)

    prepared = imaging.prepare(with_metadata)

    assert prepared.data == original
    assert decode(prepared.data).tobytes() == decode(with_metadata).tobytes()
    assert (prepared.file_type, prepared.reencoded, prepared.width) == ("JPG", False, 640)
    assert_no_private_metadata(prepared.data)
    assert_within_liveperson_limits(prepared)


def test_a_jpeg_saved_with_exif_gps_and_a_comment_by_pillow_passes_through_clean():
    source = encode(
        noisy((500, 700), amplitude=40),
        "JPEG",
        quality=85,
        exif=private_exif(1),
        comment=COMMENT,
        icc_profile=SRGB_PROFILE,
    )

    prepared = imaging.prepare(source)

    assert not prepared.reencoded
    assert decode(prepared.data).tobytes() == decode(source).tobytes()
    assert decode(prepared.data).info["icc_profile"] == SRGB_PROFILE
    assert_no_private_metadata(prepared.data)


def test_a_multi_picture_jpeg_passes_through_without_the_appended_second_picture():
    first, second = Image.new("RGB", (64, 48), RED), Image.new("RGB", (64, 48), GREEN)
    mpo = encode(first, "MPO", save_all=True, append_images=[second])

    prepared = imaging.prepare(mpo)

    assert not prepared.reencoded
    assert prepared.data.count(b"\xff\xd8") == 1 and b"MPF" not in prepared.data
    assert close_to(decode(prepared.data).getpixel((5, 5)), RED)


def test_a_png_with_text_time_and_exif_chunks_passes_through_stripped_with_identical_pixels():
    original = encode(noisy((300, 200), amplitude=80, mode="RGB"), "PNG")
    text = png_chunk(b"tEXt", b"Author\x00" + ARTIST.encode())
    compressed = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(COMMENT))
    international = png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_CREATOR)
    modified = png_chunk(b"tIME", b"\x07\xe8\x03\x0e\x09\x15\x07")
    exif = png_chunk(b"eXIf", private_exif(1))
    with_metadata = with_chunks(original, text + compressed + international + modified, exif)

    prepared = imaging.prepare(with_metadata)

    assert prepared.data == original
    assert decode(prepared.data).tobytes() == decode(with_metadata).tobytes()
    assert (prepared.file_type, prepared.source_format, prepared.reencoded) == ("PNG", "PNG", False)
    assert_no_private_metadata(prepared.data)
    assert_within_liveperson_limits(prepared)


def test_a_jpeg_with_padding_between_segments_is_re_encoded_rather_than_refused():
    source = encode(Image.new("RGB", (64, 48), RED), "JPEG", comment=COMMENT)
    padded = with_segments_after_app0(source, b"\x00\x00\x00")

    prepared = imaging.prepare(padded)

    assert prepared.reencoded and close_to(decode(prepared.data).getpixel((5, 5)), RED)
    assert_no_private_metadata(prepared.data)


# --- orientation --------------------------------------------------------------------------------

# Where the stored picture's top-left corner appears once shown, per the EXIF definitions
# ("row 0 is the visual ..., column 0 is the visual ..."), and whether width and height swap.
SHOWN_CORNER = {
    2: ("top-right", False),
    3: ("bottom-right", False),
    4: ("bottom-left", False),
    5: ("top-left", True),
    6: ("top-right", True),
    7: ("bottom-right", True),
    8: ("bottom-left", True),
}


def marked_picture() -> Image.Image:
    """60x40 white picture whose top-left 20x20 corner is red."""
    picture = Image.new("RGB", (60, 40), WHITE)
    ImageDraw.Draw(picture).rectangle((0, 0, 19, 19), fill=RED)
    return picture


def corner_pixel(image: Image.Image, corner: str) -> object:
    vertical, horizontal = corner.split("-")
    x = 5 if horizontal == "left" else image.width - 6
    y = 5 if vertical == "top" else image.height - 6
    return image.convert("RGB").getpixel((x, y))


@pytest.mark.parametrize("orientation", sorted(SHOWN_CORNER))
def test_exif_orientation_is_applied_by_re_encoding_and_the_tag_is_gone(orientation):
    source = encode(marked_picture(), "JPEG", quality=95, exif=private_exif(orientation))
    corner, swapped = SHOWN_CORNER[orientation]

    prepared = imaging.prepare(source)

    upload = decode(prepared.data)
    assert prepared.reencoded
    assert upload.size == ((40, 60) if swapped else (60, 40))
    assert close_to(corner_pixel(upload, corner), RED)
    assert close_to(corner_pixel(preview_of(prepared), corner), RED, tolerance=60)
    assert 0x0112 not in upload.getexif()
    assert_no_private_metadata(prepared.data)


def test_orientation_1_needs_no_rotation_and_passes_through():
    prepared = imaging.prepare(encode(marked_picture(), "JPEG", exif=private_exif(1)))

    assert not prepared.reencoded
    assert close_to(corner_pixel(decode(prepared.data), "top-left"), RED)


def test_a_png_exif_orientation_after_the_image_data_is_applied():
    original = encode(marked_picture(), "PNG")
    rotated = with_chunks(original, b"", png_chunk(b"eXIf", private_exif(6)))

    prepared = imaging.prepare(rotated)

    assert (prepared.file_type, prepared.width, prepared.height) == ("JPG", 40, 60)
    assert close_to(corner_pixel(decode(prepared.data), "top-right"), RED)


# --- GIF ----------------------------------------------------------------------------------------


def three_frame_gif(size: tuple[int, int]) -> bytes:
    frames = [Image.new("RGB", size, colour).convert("P") for colour in (RED, GREEN, WHITE)]
    return encode(
        frames[0],
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=500,
        loop=0,
        comment=COMMENT,
    )


def test_an_animated_gif_that_fits_stays_a_gif_with_all_its_frames_and_without_its_comment():
    source = three_frame_gif((120, 80))

    prepared = imaging.prepare(source)

    assert (prepared.file_type, prepared.reencoded) == ("GIF", False)
    with Image.open(io.BytesIO(prepared.data)) as gif:
        frame_colours = [
            frame.convert("RGB").getpixel((3, 3)) for frame in ImageSequence.Iterator(gif)
        ]
        assert "comment" not in gif.info
    assert len(frame_colours) == 3
    assert all(map(close_to, frame_colours, [RED, GREEN, WHITE]))
    assert COMMENT not in prepared.data
    assert_within_liveperson_limits(prepared)


def test_an_animated_gif_over_the_limits_is_sent_as_its_first_frame_in_jpeg():
    prepared = imaging.prepare(three_frame_gif((4200, 60)))  # over twice the 2048 px cap

    assert (prepared.file_type, prepared.source_format, prepared.reencoded) == ("JPG", "GIF", True)
    assert prepared.width == 2048
    assert close_to(decode(prepared.data).getpixel((10, 10)), RED)
    assert_within_liveperson_limits(prepared)


# --- pixel modes --------------------------------------------------------------------------------

# Forces the re-encode path on small images (small_file_bytes=0: no pass-through past the cap).
SMALL_CAP = ImageLimits(max_long_side_pixels=32, small_file_bytes=0)


def test_a_16_bit_grey_png_is_scaled_to_8_bits_not_clipped_to_white():
    source = encode(Image.new("I;16", (64, 64), 30000), "PNG")  # 30000/65535 -> 117 of 255

    passed, reencoded = imaging.prepare(source), imaging.prepare(source, SMALL_CAP)

    assert not passed.reencoded and close_to(preview_of(passed).getpixel((5, 5)), (117,), 3)
    assert reencoded.reencoded and close_to(decode(reencoded.data).getpixel((5, 5)), (117,), 3)


def test_a_1_bit_png_keeps_black_ink_on_white_paper():
    bilevel = Image.new("1", (64, 64), 1)
    ImageDraw.Draw(bilevel).rectangle((0, 0, 31, 63), fill=0)
    source = encode(bilevel, "PNG")

    for prepared in (imaging.prepare(source), imaging.prepare(source, SMALL_CAP)):
        shown = decode(prepared.data) if prepared.reencoded else preview_of(prepared)
        assert close_to(shown.convert("L").getpixel((2, 10)), (0,))
        assert close_to(shown.convert("L").getpixel((shown.width - 3, 10)), (255,))
        assert_within_liveperson_limits(prepared, SMALL_CAP if prepared.reencoded else LIMITS)


def test_an_adobe_cmyk_jpeg_becomes_correct_rgb_and_loses_its_cmyk_profile():
    fake_cmyk_profile = bytes(16) + b"CMYK" + b"Lab " + bytes(108)
    source = encode(
        Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", icc_profile=fake_cmyk_profile
    )
    assert b"Adobe" in source

    passed, reencoded = imaging.prepare(source), imaging.prepare(source, SMALL_CAP)

    assert close_to(preview_of(passed).getpixel((5, 5)), (255, 0, 0))
    upload = decode(reencoded.data)
    assert upload.mode == "RGB" and close_to(upload.getpixel((5, 5)), (255, 0, 0))
    assert "icc_profile" not in upload.info


@pytest.mark.parametrize("image_format", ["PNG", "GIF"])
def test_a_palette_with_a_transparent_colour_is_flattened_onto_white(image_format):
    palette_picture = Image.new("P", (64, 64), 0)
    palette_picture.putpalette([0, 0, 0, 200, 20, 20] + [0] * 762)
    ImageDraw.Draw(palette_picture).rectangle((40, 40, 63, 63), fill=1)
    source = encode(palette_picture, image_format, transparency=0)

    for prepared in (imaging.prepare(source), imaging.prepare(source, SMALL_CAP)):
        shown = decode(prepared.data) if prepared.reencoded else preview_of(prepared)
        assert close_to(shown.convert("RGB").getpixel((3, 3)), WHITE)
        assert close_to(shown.convert("RGB").getpixel((shown.width - 3, shown.height - 3)), RED)


def test_grey_with_alpha_is_flattened_onto_white():
    grey_alpha = Image.new("LA", (64, 64), (0, 0))  # black, fully transparent
    ImageDraw.Draw(grey_alpha).rectangle((0, 0, 63, 15), fill=(0, 255))  # opaque black band
    source = encode(grey_alpha, "PNG")

    prepared = imaging.prepare(source, SMALL_CAP)

    upload = decode(prepared.data).convert("L")
    assert close_to(upload.getpixel((10, 3)), (0,)) and close_to(upload.getpixel((10, 25)), (255,))


def test_rgba_half_transparency_blends_with_white_not_black():
    source = encode(Image.new("RGBA", (64, 64), (0, 0, 0, 128)), "PNG")

    prepared = imaging.prepare(source, SMALL_CAP)

    assert close_to(decode(prepared.data).getpixel((5, 5)), (127, 127, 127), 10)


# --- bombs and extreme shapes -------------------------------------------------------------------


def bilevel_png(width: int, height: int, image_data: bytes | None = None) -> bytes:
    """A 1-bit greyscale PNG built chunk by chunk (Pillow would need width*height bytes of RAM)."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x01\x00\x00\x00\x00"
    if image_data is None:
        row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte + white pixels
        image_data = zlib.compress(row * height, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", image_data)
        + png_chunk(b"IEND", b"")
    )


def test_a_100_megapixel_png_of_a_few_kilobytes_is_refused_as_too_large():
    bomb = bilevel_png(10_000, 10_000)
    assert len(bomb) < 40_000

    with pytest.raises(ImageTooLargeError, match="100,000,000 pixels"):
        imaging.prepare(bomb)


def test_the_pixel_limit_is_decided_from_the_header_without_decoding():
    # The image data is not even valid zlib: any decode attempt would fail differently.
    with pytest.raises(ImageTooLargeError):
        imaging.prepare(bilevel_png(10_000, 10_000, image_data=b"not zlib at all"))


def test_a_gif_frame_that_grows_the_canvas_past_the_limit_is_refused():
    screen = (16).to_bytes(2, "little") * 2
    far_frame = b"\x2c" + b"".join(v.to_bytes(2, "little") for v in (9990, 9990, 10, 10))
    gif = (
        b"GIF89a"
        + screen
        + b"\x80\x00\x00"
        + bytes(3)
        + b"\xff" * 3
        + far_frame
        + b"\x00\x02\x02\x4c\x01\x00"
        + b"\x3b"
    )

    with pytest.raises(ImageTooLargeError):
        imaging.prepare(gif)


def test_a_configured_pixel_limit_is_enforced():
    with pytest.raises(ImageTooLargeError):
        imaging.prepare(
            encode(Image.new("RGB", (40, 40), RED), "PNG"), ImageLimits(max_pixels=1000)
        )


def test_a_1_by_60000_pixel_strip_is_accepted_and_scaled_to_the_cap():
    strip = Image.new("L", (1, 60_000), 255)
    ImageDraw.Draw(strip).rectangle((0, 0, 0, 29_999), fill=0)

    prepared = imaging.prepare(encode(strip, "PNG"))

    assert prepared.width == 1
    assert 0.85 * 2048 <= prepared.height <= 2048
    assert_within_liveperson_limits(prepared)


def test_prepare_leaves_pillows_pixel_limit_and_the_warning_filters_as_it_found_them():
    limit_before, filters_before = Image.MAX_IMAGE_PIXELS, list(warnings.filters)

    imaging.prepare(encode(Image.new("RGB", (40, 40), RED), "PNG"))
    with pytest.raises(ImageTooLargeError):
        imaging.prepare(bilevel_png(10_000, 10_000))

    assert limit_before == Image.MAX_IMAGE_PIXELS
    assert list(warnings.filters) == filters_before


# --- incomplete and foreign files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def detailed_jpeg() -> bytes:
    return encode(noisy((800, 600), amplitude=120, seed=9), "JPEG", quality=90)


@pytest.mark.parametrize("kept_fraction", [0.5, 0.9])
def test_a_jpeg_cut_short_is_reported_as_still_being_written(detailed_jpeg, kept_fraction):
    with pytest.raises(StillWritingError):
        imaging.prepare(detailed_jpeg[: int(len(detailed_jpeg) * kept_fraction)])


def test_a_jpeg_missing_only_its_end_marker_is_reported_as_still_being_written(detailed_jpeg):
    with pytest.raises(StillWritingError):
        imaging.prepare(detailed_jpeg[:-2])


def test_a_jpeg_that_needs_re_encoding_and_is_cut_short_is_still_being_written(a4_scan_over_3_mb):
    with pytest.raises(StillWritingError):
        imaging.prepare(a4_scan_over_3_mb[: len(a4_scan_over_3_mb) // 2])


def test_a_truncated_png_and_gif_are_reported_as_still_being_written():
    png = encode(noisy((400, 300), amplitude=120), "PNG")
    gif = three_frame_gif((50, 50))

    with pytest.raises(StillWritingError):
        imaging.prepare(png[: int(len(png) * 0.9)])
    with pytest.raises(StillWritingError):
        imaging.prepare(gif[: len(gif) - 20])


def test_a_png_whose_chunks_are_complete_but_whose_pixel_data_is_broken_is_not_sent():
    header = (10).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"not zlib")
        + png_chunk(b"IEND", b"")
    )

    with pytest.raises(StillWritingError, match="broken data stream"):
        imaging.prepare(png)


def test_a_png_header_no_decoder_accepts_is_unsupported():
    impossible_bit_depth = (10).to_bytes(4, "big") * 2 + b"\x03\x00\x00\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", impossible_bit_depth)
        + png_chunk(b"IDAT", zlib.compress(bytes(40)))
        + png_chunk(b"IEND", b"")
    )

    with pytest.raises(UnsupportedImageError) as raised:
        imaging.prepare(png)
    assert raised.value.reason == "damaged PNG header that no decoder accepts"


def test_a_file_holding_only_the_first_bytes_of_a_signature_is_still_being_written():
    with pytest.raises(StillWritingError):
        imaging.prepare(b"\x89PN")


def test_an_empty_file_is_unsupported():
    with pytest.raises(UnsupportedImageError, match="empty file"):
        imaging.prepare(b"")


def test_text_named_like_a_jpeg_is_judged_by_its_content(tmp_path):
    path = tmp_path / "scan_0001.jpg"
    path.write_text("Dear customer,\nplease find the invoice attached.\n", encoding="utf-8")

    with pytest.raises(UnsupportedImageError, match="text file, not an image"):
        imaging.prepare(path.read_bytes())


def test_a_pdf_is_unsupported_with_a_reason_naming_it():
    with pytest.raises(UnsupportedImageError) as raised:
        imaging.prepare(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    assert raised.value.reason == "PDF document, not an image"


def test_a_bmp_is_unsupported_with_a_reason_naming_the_accepted_formats():
    with pytest.raises(UnsupportedImageError) as raised:
        imaging.prepare(encode(Image.new("RGB", (10, 10), RED), "BMP"))
    assert raised.value.reason == "BMP image; only JPEG, PNG and GIF are sent"


@pytest.mark.parametrize(
    ("head", "described"),
    [
        (b"II*\x00\x08\x00\x00\x00", "TIFF image"),
        (b"II+\x00\x08\x00\x00\x00", "BigTIFF image"),
        (b"P1\n# scanimage\n8 8\n", "PNM image"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "WebP image"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "HEIC image"),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"<?xml version='1.0'?>\n<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG drawing"),
        (bytes(64), "zero bytes"),
        (b"\x13\x37\xc0\xde\x00\x01\x02\x03", "unrecognised content (starts 13 37 c0 de"),
    ],
)
def test_describe_non_image_names_common_foreign_content(head, described):
    assert described in imaging.describe_non_image(head)
    assert imaging.sniff_image_format(head) is None


@pytest.mark.parametrize(
    ("head", "image_format"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"GIF87a\x01\x00", "GIF"),
        (b"GIF89a\x01\x00", "GIF"),
    ],
)
def test_sniffing_recognises_the_three_formats_by_their_magic_bytes(head, image_format):
    assert imaging.sniff_image_format(head) == image_format


# --- sizing policy and limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "dct_scaling", "target", "reduction"),
    [
        ((2480, 3508), True, (1240, 1754), 2),  # A4 at 300 dpi -> 150 dpi
        ((4961, 7016), True, (1241, 1754), 4),  # A4 at 600 dpi -> 150 dpi
        ((4032, 3024), True, (2016, 1512), 2),  # 12 MP phone photo
        ((2600, 1800), True, (2048, 1418), 1),  # 1/2 would be 1300: too small, resample
        ((2480, 3508), False, (1240, 1754), 2),  # a PNG scan: box reduce by 2
        ((1, 60_000), False, (1, 2000), 30),  # a strip: box reduce by 30
        ((1654, 2339), True, (1448, 2048), 1),  # 200 dpi A4: resampled to the cap
        ((2048, 1000), True, (2048, 1000), 1),  # already within the cap
    ],
)
def test_the_downscale_plan_prefers_exact_reductions_near_the_cap(
    size, dct_scaling, target, reduction
):
    plan = imaging.plan_downscale(*size, 2048, dct_scaling=dct_scaling)

    assert (plan.target_size, plan.reduction) == (target, reduction)
    assert max(plan.target_size) <= 2048
    if dct_scaling and reduction > 1:
        # The decoder's own rule: the coarsest 1/2^k whose output still covers the request.
        assert plan.draft_size is not None
        assert min(size[0] // plan.draft_size[0], size[1] // plan.draft_size[1]) >= reduction


@pytest.mark.parametrize(
    "bad",
    [
        {"max_upload_bytes": 100},
        {"max_preview_chars": 500},
        {"max_long_side_pixels": 8},
        {"max_pixels": 0},
        {"jpeg_quality": 100},
    ],
)
def test_limits_that_could_never_be_met_are_refused(bad):
    with pytest.raises(ValueError):
        ImageLimits(**bad)


# --- concurrency and invariants -----------------------------------------------------------------


def test_two_threads_preparing_at_once_get_the_same_results_as_one_thread(detailed_jpeg):
    sources = [
        detailed_jpeg,
        encode(marked_picture(), "JPEG", exif=private_exif(6)),
        encode(noisy((2600, 1200), amplitude=50, seed=5), "JPEG", quality=90),
        encode(noisy((900, 700), amplitude=50, seed=6, mode="RGB"), "PNG"),
        bilevel_png(10_000, 10_000),
        three_frame_gif((60, 40)),
    ] * 3

    def outcome(data: bytes) -> object:
        try:
            return imaging.prepare(data)
        except ImageTooLargeError as error:
            return ("too large", error.reason)

    expected = [outcome(data) for data in sources]
    threads_before, limit_before = set(threading.enumerate()), Image.MAX_IMAGE_PIXELS
    with ThreadPoolExecutor(max_workers=2) as pool:
        concurrent = list(pool.map(outcome, sources))

    assert concurrent == expected
    assert set(threading.enumerate()) <= threads_before
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_a_small_file_past_the_cap_passes_through_instead_of_growing_as_a_jpeg():
    # A 1-bit 300 dpi page: 2480x3508, a few kB as PNG. Re-encoded at the cap it would become
    # a JPEG of hundreds of kB and lose its crisp edges; under 1 MB and 2x the cap it stays.
    page = Image.new("1", (2480, 3508), 1)
    ImageDraw.Draw(page).rectangle((200, 200, 2200, 400), fill=0)
    source = encode(page, "PNG")

    prepared = imaging.prepare(source)

    assert (prepared.file_type, prepared.reencoded) == ("PNG", False)
    assert (prepared.width, prepared.height) == (2480, 3508)
    assert len(prepared.data) <= len(source)
    assert_within_liveperson_limits(prepared)


def test_a_file_past_the_cap_over_the_small_file_size_is_still_re_encoded():
    limits = ImageLimits(small_file_bytes=1_000)
    page = Image.new("1", (2480, 3508), 1)
    ImageDraw.Draw(page).rectangle((200, 200, 2200, 400), fill=0)
    source = encode(page, "PNG")
    assert len(source) > limits.small_file_bytes

    prepared = imaging.prepare(source, limits)

    assert prepared.reencoded and max(prepared.width, prepared.height) <= 2048


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]),
    image_format=st.sampled_from(["PNG", "JPEG", "GIF"]),
    width=st.integers(1, 3000),
    height=st.integers(1, 90),
    transposed=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_every_prepared_image_respects_liveperson_limits(
    mode, image_format, width, height, transposed, seed
):
    size = (height, width) if transposed else (width, height)
    picture = noisy(size, amplitude=200, seed=seed, mode="RGB").convert(
        "RGBA" if mode in ("LA", "P", "RGBA") else "RGB"
    )
    if mode == "I;16":
        picture = picture.convert("L").point(lambda value: value * 256, "I").convert("I;16")
    elif mode == "P":
        picture = picture.convert("P", palette=Image.Palette.ADAPTIVE)
    else:
        picture = picture.convert(mode)
    if image_format == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        picture = picture.convert("RGB")
    if image_format == "GIF":
        picture = picture.convert("P")
    if image_format == "PNG" and mode == "CMYK":
        picture = picture.convert("RGB")

    source = encode(picture, image_format)
    prepared = imaging.prepare(source)

    assert_within_liveperson_limits(prepared)
    if prepared.reencoded or len(source) > LIMITS.small_file_bytes:
        assert max(prepared.width, prepared.height) <= LIMITS.max_long_side_pixels
    else:  # a small file may pass through up to twice the cap
        assert max(prepared.width, prepared.height) <= 2 * LIMITS.max_long_side_pixels
    assert prepared.source_format == image_format
