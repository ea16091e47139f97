"""Synthetic but realistic inputs: scanner pages and a phone photo, made with Pillow.

A page is an A4 business letter (heading, logo, paragraphs of 10 pt text, a table, a blue
signature, a red stamp) run through a scanner simulation: slight blur, paper shading and
Gaussian noise. The noise is what makes JPEG sizes realistic: a 300 dpi colour page at q95
is about 4 MB, as a real office scanner's output is. Nothing is downloaded.
"""

from __future__ import annotations

import io
import random
from functools import cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

A4_INCHES = (8.27, 11.69)
_TEXT = (
    "invoice payment order account reference customer service delivery contract amount due date "
    "balance total number please find attached signed copy regards office claim policy "
    "insurance document page scan received approved pending review section article terms"
)
_WORDS = tuple(_TEXT.split(" "))


@cache
def _font(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=pixels)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def render_page(dpi: int, *, seed: int = 1, grey: bool = False) -> Image.Image:
    """A clean A4 letter page at ``dpi`` (RGB, or L when ``grey``), before scanning."""
    width, height = round(A4_INCHES[0] * dpi), round(A4_INCHES[1] * dpi)
    rng = random.Random(seed)
    page = Image.new("RGB", (width, height), (252, 251, 247))
    draw = ImageDraw.Draw(page)
    unit = dpi / 300  # drawing sizes are designed at 300 dpi

    def px(value: float) -> int:
        return max(1, round(value * unit))

    margin = px(240)
    draw.rectangle((margin, px(200), margin + px(420), px(420)), fill=(20, 70, 160))
    draw.ellipse((margin + px(40), px(230), margin + px(200), px(390)), fill=(240, 180, 20))
    draw.text((margin + px(480), px(240)), "ACME Office Services", (20, 20, 20), _font(px(70)))
    draw.text(
        (margin + px(480), px(330)), "12 Example Street, Springfield", (60, 60, 60), _font(px(38))
    )
    body = _font(px(42))  # ~10 pt at 300 dpi
    y = px(620)
    line_height = px(58)
    for _paragraph in range(4):
        for _ in range(rng.randint(4, 7)):
            draw.text((margin, y), _sentence(rng, rng.randint(11, 14)), (25, 25, 30), body)
            y += line_height
        y += line_height // 2
    # Highlighter over one line, then a table with 9 pt figures.
    draw.rectangle((margin, y - px(460), margin + px(900), y - px(410)), fill=(250, 245, 120))
    table_top = y + px(40)
    for row in range(9):
        top = table_top + row * px(64)
        draw.line((margin, top, width - margin, top), fill=(90, 90, 90), width=px(3))
        for column in range(4):
            cell = (
                f"{rng.randint(1, 9999):>5}.{rng.randint(0, 99):02d}"
                if column
                else _sentence(rng, 2)
            )
            draw.text(
                (margin + column * px(480) + px(10), top + px(12)),
                cell,
                (30, 30, 30),
                _font(px(36)),
            )
    y = table_top + 9 * px(64) + px(120)
    for _ in range(3):
        draw.text((margin, y), _sentence(rng, 14), (40, 40, 40), _font(px(28)))  # fine print
        y += px(40)
    # A blue signature and a red stamp.
    points = [(margin + px(40 * i), y + px(160) + rng.randint(-px(40), px(40))) for i in range(14)]
    draw.line(points, fill=(20, 40, 150), width=px(6), joint="curve")
    stamp = (width - margin - px(600), y + px(40), width - margin, y + px(340))
    draw.rounded_rectangle(stamp, radius=px(30), outline=(200, 30, 30), width=px(10))
    draw.text((stamp[0] + px(60), stamp[1] + px(110)), "RECEIVED", (200, 30, 30), _font(px(80)))
    return page.convert("L") if grey else page


def scan(page: Image.Image, *, noise_sigma: float = 7.0, seed: int = 2) -> Image.Image:
    """What a scanner makes of ``page``: a little blur, uneven paper, sensor noise."""
    scanned = page.filter(ImageFilter.GaussianBlur(0.7))
    random.seed(seed)  # effect_noise draws from the C library's generator; keep runs alike
    bands = []
    for band in scanned.split():
        noise = Image.effect_noise(scanned.size, noise_sigma)
        bands.append(ImageChops.add(band, noise, scale=1.0, offset=-128))
    scanned = Image.merge(scanned.mode, bands)
    shading = Image.linear_gradient("L").resize(scanned.size).point(lambda v: 255 - v // 24)
    if scanned.mode == "RGB":
        shading = Image.merge("RGB", [shading] * 3)
    return ImageChops.multiply(scanned, shading)


def jpeg_bytes(
    image: Image.Image, quality: int, *, exif: Image.Exif | None = None, comment: bytes = b""
) -> bytes:
    """``image`` as a baseline JPEG (4:2:0 like scanners), with optional EXIF and comment."""
    buffer = io.BytesIO()
    options: dict[str, object] = {"quality": quality, "comment": comment}
    if exif is not None:
        options["exif"] = exif
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """``image`` as a PNG at Pillow's default compression (what scanner software writes)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def scanner_exif() -> Image.Exif:
    """EXIF a scanner writes, with a personal name in it (must not reach LivePerson)."""
    exif = Image.Exif()
    exif[0x010F] = "ScanCorp"  # Make
    exif[0x0110] = "OfficeScan 5000"  # Model
    exif[0x013B] = "Jane Doe"  # Artist
    return exif


def phone_photo(seed: int = 3) -> bytes:
    """A 12 MP phone photo (4032x3024) stored sideways with EXIF Orientation 6 and GPS."""
    rng = random.Random(seed)
    photo = Image.linear_gradient("L").resize((4032, 3024)).convert("RGB")
    draw = ImageDraw.Draw(photo)
    for _ in range(60):
        x, y = rng.randrange(4032), rng.randrange(3024)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x, y, x + rng.randint(80, 600), y + rng.randint(80, 600)), fill=colour)
    # A photographed document in the middle of the frame.
    document = render_page(100, seed=seed).rotate(90, expand=True).resize((2400, 1700))
    photo.paste(document, (800, 660))
    photo = scan(photo, noise_sigma=8.0, seed=seed)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    return jpeg_bytes(photo, 92, exif=exif)


def scanner_jpeg(dpi: int, quality: int, *, seed: int = 1, grey: bool = False) -> bytes:
    """A scanned A4 page as the scanner's JPEG, with scanner EXIF and a COM comment."""
    page = scan(render_page(dpi, seed=seed, grey=grey), seed=seed + 1)
    return jpeg_bytes(page, quality, exif=scanner_exif(), comment=b"Scanned by jdoe on SCAN-PC-07")


def image_step_inputs() -> dict[str, tuple[str, bytes]]:
    """The inputs of the image-step benchmark: name -> (description, bytes)."""
    colour_300 = scan(render_page(300, seed=11), seed=12)
    grey_300 = scan(render_page(300, seed=21, grey=True), seed=22)
    return {
        "a4_300_colour.jpg": (
            "300 dpi A4 colour, q95, EXIF + COM",
            jpeg_bytes(colour_300, 95, exif=scanner_exif(), comment=b"Scanned by jdoe"),
        ),
        "a4_600_colour.jpg": ("600 dpi A4 colour, q90", scanner_jpeg(600, 90, seed=31)),
        "a4_300_colour.png": ("300 dpi A4 colour PNG", png_bytes(colour_300)),
        "a4_300_grey.jpg": ("300 dpi A4 greyscale, q92", jpeg_bytes(grey_300, 92)),
        "a4_200_fits.jpg": (
            "200 dpi A4 colour, q85 (fits: < 3 MB)",
            scanner_jpeg(200, 85, seed=41),
        ),
        "photo_12mp_rot6.jpg": ("12 MP phone photo, EXIF Orientation 6 + GPS", phone_photo()),
    }
