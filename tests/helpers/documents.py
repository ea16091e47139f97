"""Documents made by the tests: multi-page TIFF and PDF by Pillow, hand-built bytes for the rest."""

from __future__ import annotations

import io

import pillow_heif
from PIL import Image, ImageDraw

pillow_heif.register_heif_opener()


def text_page(number: int, size: tuple[int, int] = (1240, 1754), mode: str = "1") -> Image.Image:
    """A page of black text on white, numbered, in ``mode``."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle((40, 40, 40 + 60 * number, 100), fill=0)  # a bar as long as the number
    for y in range(140, size[1] - 60, 40):
        draw.text((60, y), f"Page {number}: the quick brown fox jumps over the lazy dog", fill=0)
    return page.convert(mode)


def colour_photo(size: tuple[int, int] = (800, 600)) -> Image.Image:
    """A picture with a red left half and a blue right half (orientation is visible)."""
    picture = Image.new("RGB", size, (200, 30, 30))
    picture.paste((30, 30, 200), (size[0] // 2, 0, size[0], size[1]))
    return picture


def save(pages: list[Image.Image], image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    pages[0].save(buffer, image_format, save_all=len(pages) > 1, append_images=pages[1:], **options)
    return buffer.getvalue()


def g4_tiff(pages: int) -> bytes:
    return save([text_page(n) for n in range(1, pages + 1)], "TIFF", compression="group4")


def pdf_document(pages: int) -> bytes:
    return save([text_page(n, mode="L") for n in range(1, pages + 1)], "PDF", resolution=150)


def tiff_with_damaged_page(damaged_page: int, pages: int = 3) -> bytes:
    """A G4 TIFF whose page ``damaged_page`` (from 1) has its compressed data overwritten."""
    data = bytearray(g4_tiff(pages))
    with Image.open(io.BytesIO(bytes(data))) as image:
        image.seek(damaged_page - 1)
        strips = zip(image.tag_v2[273], image.tag_v2[279], strict=True)  # offsets, byte counts
        for offset, length in strips:
            data[offset : offset + length] = (b"\x00\x01\xfe" * length)[:length]
    return bytes(data)


def zero_page_pdf() -> bytes:
    return _pdf_with_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"], b""
    )


def encrypted_pdf() -> bytes:
    """A PDF with a Standard security handler whose user password is not empty."""
    encrypt = (
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /P -4 /O <"
        + b"5a" * 32
        + b"> /U <"
        + b"3c" * 32
        + b"> >> /ID [<0123456789abcdef0123456789abcdef> <0123456789abcdef0123456789abcdef>]"
    )
    return _pdf_with_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        ],
        encrypt,
    )


def _pdf_with_objects(objects: list[bytes], trailer_extra: bytes) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objects) + 1) + trailer_extra + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def jpeg_with_trailer(trailer: bytes, orientation: int | None = None) -> bytes:
    """A complete JPEG photo followed by ``trailer`` (a SEFT block, a Motion Photo's video)."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return save([colour_photo()], "JPEG", exif=exif.tobytes()) + trailer


def samsung_trailer() -> bytes:
    return b"\x00\x00" + b"SEFH" + bytes(40) + b"Image_UTC_Data1700000000000" + b"SEFT"


def motion_photo_video() -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 40


def jpeg_with_junk_after_app1(orientation: int) -> bytes:
    """An EXIF JPEG with a few junk bytes between its APP1 segment and the next marker."""
    data = jpeg_with_trailer(b"", orientation)
    app1 = data.index(b"\xff\xe1")
    end = app1 + 2 + int.from_bytes(data[app1 + 2 : app1 + 4], "big")
    return data[:end] + b"\x00\x00junk" + data[end:]
