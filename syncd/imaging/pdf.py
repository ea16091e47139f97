"""The PDF adapter, and the only pypdfium2 importer: PDF bytes in, page pictures out.

PDFium (Chrome's PDF engine, fuzzed continuously) parses and renders. Each page is rendered
at the scale that brings its long side to the cap, so a page of any physical size (a 5 x 5 m
poster as much as a receipt) costs at most cap x cap pixels: memory follows the cap, never
the page's declared size.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pypdfium2
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageChops

from syncd.errors import UnsupportedImageError
from syncd.imaging.plan import plan_downscale

# Points per inch: PDF page sizes are given in points.
_POINTS_PER_INCH = 72.0
# Pages are sized as a scan at this resolution would be (see render_page).
_SCAN_DPI = 300.0
# A tiny page (a label, a stamp) is not blown up past this resolution.
_MAX_RENDER_DPI = 600.0
# A colour render whose channels differ by at most this much anywhere is a grey page.
_GREY_TOLERANCE = 2


@contextmanager
def open_pdf(source: bytes | int) -> Iterator[pypdfium2.PdfDocument]:
    """Open a PDF, given as its bytes or as a descriptor open on it; closes it on exit.

    A descriptor is opened by PDFium through its /proc/self/fd magic link, which reaches the
    very file the descriptor is open on (never a name looked up again), and PDFium reads it
    on demand instead of holding it whole. Raises UnsupportedImageError with a reason an
    operator understands: a password-protected PDF, an empty one, a damaged one (PDFium
    could not even repair its cross-reference table). PDFium's error code is process-wide
    and not reset by a failure that sets none, which is one more reason the preparer renders
    each document in a fresh child process.
    """
    try:
        if isinstance(source, int):
            handle = pdfium_c.FPDF_LoadDocument(f"/proc/self/fd/{source}".encode() + b"\0", None)
            if not handle:
                code = pdfium_c.FPDF_GetLastError()
                raise pypdfium2.PdfiumError("Failed to load document", err_code=code)
            document = pypdfium2.PdfDocument(handle)
            if len(document) < 1:
                document.close()
                raise pypdfium2.PdfiumError("No pages", err_code=pdfium_c.FPDF_ERR_SUCCESS)
        else:
            document = pypdfium2.PdfDocument(source)
    except pypdfium2.PdfiumError as error:
        raise UnsupportedImageError(_reason(getattr(error, "err_code", None), source)) from error
    try:
        yield document
    finally:
        document.close()


def _reason(code: int | None, source: bytes | int) -> str:
    """The operator's sentence for PDFium's error ``code`` on opening ``source``."""
    stale = isinstance(source, bytes) and b"/Encrypt" not in source
    if code == pdfium_c.FPDF_ERR_PASSWORD and not stale:
        return "password-protected (encrypted) PDF: syncd cannot open it without its password"
    if code == pdfium_c.FPDF_ERR_SUCCESS:
        # PDFium reports "success" when the structure is fine but has no page at all.
        return "PDF document with no pages"
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return "PDF with an unsupported security handler"
    return "damaged PDF document: PDFium cannot read its structure (cross-reference table)"


def page_count(document: pypdfium2.PdfDocument) -> int:
    """How many pages the document has."""
    return len(document)


def render_page(document: pypdfium2.PdfDocument, index: int, long_side_pixels: int) -> Image.Image:
    """Render page ``index`` (from 0) at the size the image policy gives a scan of it.

    The page is treated as a 300 dpi scan and sized by ``plan_downscale`` with the cap
    ``long_side_pixels``, as an image of that size would be: an A4 page lands at 150 dpi
    (1241 x 1754, half the scan, within the policy's 15 % below the cap), a US Letter page at
    the cap, a poster of any size just under the cap. Returns an "L" picture for a page with
    no colour and an "RGB" picture otherwise. Raises UnsupportedImageError when the page
    cannot be loaded or has no area.
    """
    try:
        page = document[index]
    except (pypdfium2.PdfiumError, IndexError) as error:
        raise UnsupportedImageError(f"PDF page {index + 1} is damaged: {error}") from error
    try:
        width_points, height_points = page.get_size()
        if width_points <= 0 or height_points <= 0:
            raise UnsupportedImageError(f"PDF page {index + 1} has no area")
        scale = _render_scale(width_points, height_points, long_side_pixels)
        try:
            bitmap = page.render(scale=scale, may_draw_forms=False)
        except pypdfium2.PdfiumError as error:
            raise UnsupportedImageError(
                f"PDF page {index + 1} cannot be rendered: {error}"
            ) from error
        picture: Image.Image = bitmap.to_pil()
    finally:
        page.close()
    picture = picture.convert("RGB") if picture.mode != "RGB" else picture
    return picture.convert("L") if _is_grey(picture) else picture


def _render_scale(width_points: float, height_points: float, long_side_pixels: int) -> float:
    """Pixels per point for a page of this size (see ``render_page``)."""
    scan_scale = _SCAN_DPI / _POINTS_PER_INCH
    scan_size = (
        max(1, round(width_points * scan_scale)),
        max(1, round(height_points * scan_scale)),
    )
    plan = plan_downscale(*scan_size, long_side_pixels, dct_scaling=False)
    # From the long side, so that rounding never takes it past the cap.
    scale = max(plan.target_size) / max(width_points, height_points)
    if max(scan_size) <= long_side_pixels:
        # A small page (a receipt, a label): up to the cap, but never past 600 dpi.
        scale = min(long_side_pixels / max(width_points, height_points), _MAX_RENDER_DPI / 72)
    return scale


def _is_grey(picture: Image.Image) -> bool:
    """True when every pixel of an RGB picture has (nearly) equal channels.

    Judged on a 1/4-scale box reduction: 16x fewer pixels to compare, and a coloured mark
    of a few pixels still tints its box average beyond the tolerance.
    """
    red, green, blue = picture.reduce(4).split()
    for first, second in ((red, green), (green, blue)):
        low_high = ImageChops.difference(first, second).getextrema()
        if int(low_high[1]) > _GREY_TOLERANCE:  # type: ignore[arg-type]
            return False
    return True
