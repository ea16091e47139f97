"""The page step: a document's bytes in, one prepared image per page out, in page order.

PDF pages are rendered by PDFium (``imaging.pdf``) at the size the image policy gives a
scan of the page (at most the long-side cap). Every other format
that is made into pages (multi-page TIFF and BigTIFF, BMP, PNM, WebP, JPEG 2000, PCX/DCX,
HEIC/HEIF) is decoded by Pillow, page by page, each under the same pixel limit as an image.
Each page is then shrunk, rotated, flattened and encoded exactly as an image is
(``imaging.encoding``): greyscale pages (1-bit scans included) stay greyscale, as PNG when
that is smaller. At most three pages are in memory at a time (one being encoded, one
rendered ahead, one being rendered).

``iter_pages`` runs in the calling process; ``imaging.rasteriser`` runs it in a child process
with a time and memory limit, which is how the preparer calls it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

from PIL import Image

from syncd.errors import ImageTooLargeError, StillWritingError, UnsupportedImageError
from syncd.imaging import pdf
from syncd.imaging.encoding import (
    TRANSPOSITIONS,
    encode_page,
    flatten_onto_white,
    preview_data_uri,
    shrink_to,
)
from syncd.imaging.formats import DOCUMENT_PILLOW_FORMATS, sniff_document_format
from syncd.imaging.pipeline import (
    load_picture,
    open_within_limits,
    refuse_too_many_pixels,
)
from syncd.imaging.plan import ImageLimits, PreparedImage, plan_downscale


@functools.cache
def _register_heif_decoder() -> None:
    """Teach Pillow HEIC/HEIF (pillow-heif), once, and only when such a file comes.

    Imported here rather than at the top: it is a quarter of the renderer's start-up time.
    """
    import pillow_heif

    pillow_heif.register_heif_opener()


# Formats whose frames are pages. In the others (an animated WebP, a HEIC burst) the first
# frame is the picture and later frames are not pages of a document.
_MULTI_PAGE_FORMATS = frozenset({"TIFF", "BigTIFF", "DCX"})
_ORIENTATION_TAG = 0x0112
HEAD_BYTES = 1024


@dataclass(frozen=True)
class DocumentPage:
    """One page of a document, prepared: ``page`` counts from 1 up to ``pages``."""

    page: int
    pages: int
    image: PreparedImage


def document_format(data: bytes) -> str | None:
    """The page-making format of ``data`` ("PDF", "TIFF", ...), or None for anything else."""
    return sniff_document_format(data[:HEAD_BYTES])


def iter_pages(data: bytes, limits: ImageLimits, max_pages: int) -> Iterator[DocumentPage]:
    """Yield every page of the document ``data``, prepared, in page order.

    The page count is checked before the first page is yielded. Raises UnsupportedImageError
    for content that is not such a document, an encrypted, empty or damaged document, a page
    that cannot be decoded, or more than ``max_pages`` pages; ImageTooLargeError for a page
    over ``limits.max_pixels``.
    """
    source_format = document_format(data)
    if source_format is None:
        raise UnsupportedImageError("not a document syncd makes into pages")
    if source_format == "PDF":
        yield from _pdf_pages(data, len(data), limits, max_pages)
    else:
        yield from _pillow_pages(data, source_format, limits, max_pages)


def iter_pages_of_file(
    descriptor: int, limits: ImageLimits, max_pages: int
) -> Iterator[DocumentPage]:
    """As ``iter_pages``, for a document in the regular file open as ``descriptor``.

    A PDF is handed to PDFium by descriptor (see ``pdf.open_pdf``), so it is read on demand
    and never held whole in memory. Other formats are read whole.
    """
    size = os.fstat(descriptor).st_size
    source_format = sniff_document_format(os.pread(descriptor, HEAD_BYTES, 0))
    if source_format == "PDF":
        yield from _pdf_pages(descriptor, size, limits, max_pages)
        return
    with os.fdopen(os.dup(descriptor), "rb") as handle:
        data = handle.read()
    yield from iter_pages(data, limits, max_pages)


def _check_page_count(source_format: str, pages: int, max_pages: int) -> None:
    what = "PDF document" if source_format == "PDF" else f"{source_format} image"
    if pages < 1:
        raise UnsupportedImageError(f"{what} with no pages")
    if pages > max_pages:
        raise UnsupportedImageError(
            f"{what} with {pages} pages, more than max_pages = {max_pages}; nothing was sent"
        )


def _pdf_pages(
    source: bytes | int, source_bytes: int, limits: ImageLimits, max_pages: int
) -> Iterator[DocumentPage]:
    with pdf.open_pdf(source) as document:
        pages = pdf.page_count(document)
        _check_page_count("PDF", pages, max_pages)

        def render(index: int) -> Image.Image:
            return pdf.render_page(document, index, limits.max_long_side_pixels)

        # closing(): the helper thread must have stopped before the document is closed.
        with contextlib.closing(_rendered_ahead(render, pages)) as pictures:
            for index, picture in enumerate(pictures):
                image = _finish(picture, "PDF", source_bytes, 1, None, limits)
                yield DocumentPage(index + 1, pages, image)


def _rendered_ahead(
    render: Callable[[int], Image.Image], pages: int
) -> Generator[Image.Image, None, None]:
    """Yield ``render(0)``, ``render(1)``, … with the next page rendered while this one is used.

    PDFium runs in ctypes calls, which release the GIL, and Pillow's encoders release it too,
    so rendering page N+1 on a helper thread while page N is encoded uses both cores. At most
    two rendered pages wait at a time. Only the helper thread calls ``render`` (PDFium is not
    thread-safe). An error from ``render`` is raised here, at its page.
    """
    handoff: queue.Queue[tuple[Image.Image | None, BaseException | None]] = queue.Queue(1)
    stop = threading.Event()

    def produce() -> None:
        for index in range(pages):
            if stop.is_set():
                return
            try:
                handoff.put((render(index), None))
            except BaseException as error:  # handed to the consumer, which raises it
                handoff.put((None, error))
                return

    helper = threading.Thread(target=produce, name="render-ahead", daemon=True)
    helper.start()
    try:
        for _ in range(pages):
            picture, error = handoff.get()
            if error is not None:
                raise error
            assert picture is not None
            yield picture
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            handoff.get_nowait()  # let a producer blocked on put() see the stop flag
        helper.join()


def _pillow_pages(
    data: bytes, source_format: str, limits: ImageLimits, max_pages: int
) -> Iterator[DocumentPage]:
    pillow_formats = DOCUMENT_PILLOW_FORMATS[source_format]
    if "HEIF" in pillow_formats:
        _register_heif_decoder()
    with open_within_limits(data, source_format, limits, None, pillow_formats) as image:
        pages = 1
        if source_format in _MULTI_PAGE_FORMATS:
            try:
                pages = getattr(image, "n_frames", 1)
            except (OSError, ValueError, EOFError, SyntaxError) as error:
                raise UnsupportedImageError(
                    f"damaged {source_format} image: its page directory cannot be read ({error})"
                ) from error
        _check_page_count(source_format, pages, max_pages)
        for index in range(pages):
            try:
                image.seek(index)
            except (OSError, ValueError, EOFError, SyntaxError) as error:
                raise UnsupportedImageError(
                    f"damaged {source_format} image: page {index + 1} of {pages} cannot be "
                    f"read ({error})"
                ) from error
            refuse_too_many_pixels(image.width, image.height, limits)
            yield DocumentPage(index + 1, pages, _pillow_page(image, source_format, data, limits))


def _pillow_page(
    image: Image.Image, source_format: str, data: bytes, limits: ImageLimits
) -> PreparedImage:
    """Decode the current frame of ``image`` at the planned scale and prepare it."""
    plan = plan_downscale(*image.size, limits.max_long_side_pixels, dct_scaling=False)
    icc_profile = image.info.get("icc_profile")
    orientation = _orientation(image)
    try:
        picture = load_picture(image, None)
    except StillWritingError as error:
        # The intake saw the file settle: a page that does not decode is damaged for good.
        page = getattr(image, "tell", lambda: 0)() + 1
        raise UnsupportedImageError(
            f"damaged {source_format} image: page {page} cannot be decoded ({error.__cause__})"
        ) from error
    picture = shrink_to(picture, plan)
    return _finish(picture, source_format, len(data), orientation, icc_profile, limits)


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, EOFError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _finish(
    picture: Image.Image,
    source_format: str,
    source_bytes: int,
    orientation: int,
    icc_profile: object,
    limits: ImageLimits,
) -> PreparedImage:
    """Flatten, rotate and encode a decoded page, and make its preview."""
    picture = flatten_onto_white(picture)
    if orientation in TRANSPOSITIONS:
        picture = picture.transpose(TRANSPOSITIONS[orientation])
    upload, picture, file_type = encode_page(picture, limits, icc_profile)
    return PreparedImage(
        data=upload,
        file_type=file_type,
        preview_data_uri=preview_data_uri(picture, limits),
        width=picture.width,
        height=picture.height,
        source_format=source_format,
        source_bytes=source_bytes,
        reencoded=True,
    )


__all__ = ["DocumentPage", "ImageTooLargeError", "document_format", "iter_pages"]
