"""The page step, the renderer child, completeness by end structure, and the page rows."""

from __future__ import annotations

import io
import random
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from syncd.config import RouteConfig, load_config
from syncd.errors import (
    ImageTooLargeError,
    PermanentFileError,
    UnsupportedImageError,
)
from syncd.folders.route import RouteFolders
from syncd.imaging import pipeline
from syncd.imaging.encoding import encode_page
from syncd.imaging.metadata import has_end_structure, image_end_offset
from syncd.imaging.pages import document_format, iter_pages
from syncd.imaging.plan import DEFAULT_LIMITS, ImageLimits
from syncd.imaging.rasteriser import render_pages
from syncd.outbox.documents import (
    fail_page_after_a_failed_one,
    finish_document,
    prepare_document,
)
from syncd.outbox.retry import dismissed_ids
from syncd.rules import render_caption
from syncd.rules.captions import validate_caption_template
from syncd.rules.filecheck import TAIL_BYTES, looks_complete
from syncd.state.model import OutboundState
from syncd.state.pages import PreparedPage
from syncd.state.store import StateStore
from tests.helpers import documents
from tests.helpers.harness import write_config

NOW = 1_700_000_000.0


def pages_of(data: bytes, max_pages: int = 100) -> list[tuple[int, int, Image.Image, str]]:
    return [
        (page.page, page.pages, Image.open(io.BytesIO(page.image.data)), page.image.file_type)
        for page in iter_pages(data, DEFAULT_LIMITS, max_pages)
    ]


# --- completeness by end structure -------------------------------------------------------------


def test_a_jpeg_with_a_samsung_or_motion_photo_trailer_is_complete_and_the_trailer_is_cut() -> None:
    photo = documents.jpeg_with_trailer(b"")
    for trailer in (documents.samsung_trailer(), documents.motion_photo_video()):
        data = photo + trailer
        assert has_end_structure(data)
        assert image_end_offset(data, "JPEG") == len(photo)


def test_padded_png_and_gif_followed_by_nul_are_complete() -> None:
    png = documents.save([documents.colour_photo()], "PNG")
    gif = documents.save([documents.colour_photo().convert("P")], "GIF")
    assert has_end_structure(png + b"\n\x00\x00\x00")
    assert image_end_offset(png + b"\n", "PNG") == len(png)
    assert has_end_structure(gif + b"\x00")
    assert image_end_offset(gif + b"\x00", "GIF") == len(gif)


def test_files_cut_before_their_end_structure_are_still_incomplete() -> None:
    photo = documents.jpeg_with_trailer(b"")
    png = documents.save([documents.colour_photo()], "PNG")
    assert not has_end_structure(photo[: len(photo) // 2])
    assert not has_end_structure(png[:-12])


def test_the_end_of_a_jpeg_with_junk_after_app1_is_found_as_decoders_find_it() -> None:
    data = documents.jpeg_with_junk_after_app1(orientation=6)
    assert image_end_offset(data + b"trailer", "JPEG") == len(data)


def test_the_orientation_6_jpeg_with_junk_after_app1_is_turned_upright() -> None:
    prepared = pipeline.prepare(documents.jpeg_with_junk_after_app1(orientation=6))
    picture = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    assert picture.height > picture.width  # stored 800x600, shown 600x800
    assert picture.getpixel((picture.width // 2, 5))[0] > 150  # the red half is on top


def test_a_passed_through_photo_never_carries_its_trailer() -> None:
    data = documents.jpeg_with_trailer(documents.samsung_trailer())
    prepared = pipeline.prepare(data)
    assert not prepared.reencoded
    assert b"SEFT" not in prepared.data and prepared.data.endswith(b"\xff\xd9")


# --- reasons that name the real format ---------------------------------------------------------


def test_an_apng_with_a_wrong_frame_count_is_named_so() -> None:
    frames = [Image.new("RGB", (300, 20), colour) for colour in ("red", "blue")]
    data = bytearray(documents.save(frames, "PNG"))
    actl = data.index(b"acTL")
    data[actl + 4 : actl + 8] = (7).to_bytes(4, "big")
    data[actl + 12 : actl + 16] = zlib.crc32(bytes(data[actl : actl + 12])).to_bytes(4, "big")
    with pytest.raises(UnsupportedImageError) as raised:
        pipeline.prepare(bytes(data))
    assert raised.value.reason == ("APNG with an invalid frame count (it declares 7, it holds 2)")
    assert pipeline.prepare(documents.save(frames, "PNG")).file_type == "PNG"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"II+\x00\x08\x00\x00\x00" + bytes(40), "BigTIFF"),
        (b"P1\n# made by scanimage\n", "PNM"),
        (b"II*\x00" + bytes(60), "TIFF"),
    ],
)
def test_damaged_documents_name_their_format(data: bytes, reason: str) -> None:
    with pytest.raises(UnsupportedImageError) as raised:
        list(iter_pages(data, DEFAULT_LIMITS, 100))
    assert reason in raised.value.reason


def test_a_photo_whose_exif_mentions_pdf_is_still_a_photo() -> None:
    exif = Image.Exif()
    exif[0x010E] = "%PDF-1.7 scanned from a PDF"  # ImageDescription
    data = documents.save([documents.colour_photo()], "JPEG", exif=exif.tobytes())
    assert b"%PDF-" in data[:1024]
    assert document_format(data) is None
    assert pipeline.prepare(data).file_type == "JPG"


# --- documents to pages ------------------------------------------------------------------------


def test_a_three_page_g4_tiff_becomes_three_greyscale_pages_in_order() -> None:
    pages = pages_of(documents.g4_tiff(3))
    assert [(page, total) for page, total, _, _ in pages] == [(1, 3), (2, 3), (3, 3)]
    assert {picture.mode for _, _, picture, _ in pages} == {"L"}
    # Text pages are smaller as PNG, and lossless: PNG is chosen.
    assert {file_type for _, _, _, file_type in pages} == {"PNG"}


def test_a_g3_fax_and_a_lineart_pnm_from_scanimage_are_greyscale_pages() -> None:
    g3 = documents.save(
        [documents.text_page(1), documents.text_page(2)], "TIFF", compression="group3"
    )
    assert [(page, picture.mode) for page, _, picture, _ in pages_of(g3)] == [(1, "L"), (2, "L")]
    lineart = documents.save([documents.text_page(1, (800, 1000), "1")], "PPM")
    assert lineart.startswith(b"P4")  # what `scanimage --mode Lineart --format=pnm` writes
    assert [(page, picture.mode) for page, _, picture, _ in pages_of(lineart)] == [(1, "L")]


def test_a_page_over_the_pixel_limit_is_refused_before_it_is_decoded() -> None:
    limits = ImageLimits(max_pixels=1_000_000)
    data = documents.save([documents.text_page(1, (800, 600)), documents.text_page(2)], "TIFF")
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        list(iter_pages(data, limits, 100))


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGB", {"compression": "tiff_lzw"}),
        ("RGB", {"compression": "jpeg"}),
        ("RGB", {"tile": True}),
        ("CMYK", {}),
        ("I;16", {}),
        ("L", {"big_tiff": True}),
    ],
)
def test_tiff_variants_are_read_page_by_page(mode: str, options: dict[str, object]) -> None:
    tiled = bool(options.pop("tile", False))
    source = documents.text_page(1, (600, 800), "L")
    if mode == "I;16":
        source = source.convert("I").point(lambda value: value * 256).convert("I;16")
    else:
        source = source.convert(mode)
    if tiled:
        options = {"tiffinfo": {322: 128, 323: 128}, "compression": "tiff_adobe_deflate"}
    data = documents.save([source, source], "TIFF", **options)
    pages = pages_of(data)
    assert [(page, total) for page, total, _, _ in pages] == [(1, 2), (2, 2)]
    assert all(picture.size == (600, 800) for _, _, picture, _ in pages)


def test_an_a4_pdf_page_is_rendered_as_the_image_policy_sizes_a_scan_and_stays_grey() -> None:
    pages = pages_of(documents.pdf_document(2))  # A4 pages
    assert [(page, total) for page, total, _, _ in pages] == [(1, 2), (2, 2)]
    for _, _, picture, _ in pages:
        # A 300 dpi A4 scan (2480 x 3508) is halved by the policy: 150 dpi.
        assert picture.size == (1241, 1754)  # PDFium rounds the width up
        assert picture.mode == "L"


@pytest.mark.parametrize(
    ("width_points", "height_points", "size"),
    [
        (612, 792, (1583, 2048)),  # US Letter: at the cap
        (200, 280, (1463, 2048)),  # a small page: up to the cap
        (100, 50, (834, 417)),  # a label: never past 600 dpi
    ],
)
def test_pdf_pages_of_other_sizes_land_at_the_cap(
    width_points: int, height_points: int, size: tuple[int, int]
) -> None:
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] >>" % (
        width_points,
        height_points,
    )
    data = documents._pdf_with_objects(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page],
        b"",
    )
    [(_, _, picture, _)] = pages_of(data)
    assert picture.size == size


def test_a_five_by_five_metre_pdf_page_is_rendered_at_the_cap_within_a_small_memory_ceiling() -> (
    None
):
    poster = documents._pdf_with_objects(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            # 5 m = 14173 pt; at 150 dpi this page would be 29528 x 29528 pixels (2.6 GB RGB).
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14173 14173] >>",
        ],
        b"",
    )
    rendered = list(render_pages(poster, DEFAULT_LIMITS, 100, memory_bytes=600 * 1024 * 1024))
    assert [(page, total) for page, total, _ in rendered] == [(1, 1)]
    # A 300 dpi scan of it reduced by a whole factor (29), just under the 2048 px cap.
    assert (rendered[0][2].width, rendered[0][2].height) == (2038, 2038)


@pytest.mark.parametrize(
    ("image_format", "mode"),
    [("BMP", "RGB"), ("PPM", "L"), ("WEBP", "RGB"), ("JPEG2000", "RGB"), ("PCX", "RGB")],
)
def test_single_picture_formats_become_one_page(image_format: str, mode: str) -> None:
    data = documents.save([documents.colour_photo().convert(mode)], image_format)
    pages = pages_of(data)
    assert [(page, total, picture.size) for page, total, picture, _ in pages] == [
        (1, 1, (800, 600))
    ]


def test_a_dcx_fax_is_its_pages() -> None:
    pcx = [documents.save([documents.text_page(n, (400, 500), "L")], "PCX") for n in (1, 2)]
    offsets, position = [], 4 + 4 * 1024
    for page in pcx:
        offsets.append(position)
        position += len(page)
    header = b"\xb1\x68\xde\x3a" + b"".join(o.to_bytes(4, "little") for o in offsets)
    data = header + bytes(4 + 4 * 1024 - len(header)) + b"".join(pcx)
    assert [(page, total) for page, total, _, _ in pages_of(data)] == [(1, 2), (2, 2)]


def test_a_heic_photo_becomes_one_page() -> None:
    data = documents.save([documents.colour_photo()], "HEIF")
    assert [(page, total, pic.size) for page, total, pic, _ in pages_of(data)] == [
        (1, 1, (800, 600))
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (documents.encrypted_pdf(), "password-protected"),
        (documents.zero_page_pdf(), "no pages"),
        (documents.pdf_document(3), "3 pages, more than max_pages = 2"),
        (documents.tiff_with_damaged_page(2, pages=2), "page 2"),
        (b"%PDF-1.4\n" + bytes(200), "damaged PDF"),
    ],
)
def test_bad_documents_are_refused_before_a_page_comes_out(data: bytes, reason: str) -> None:
    # In the renderer child, as the preparer runs it: PDFium's last-error code is process-wide.
    seen: list[int] = []
    with pytest.raises(UnsupportedImageError) as raised:
        for page, _pages, _image in render_pages(data, DEFAULT_LIMITS, 2):
            seen.append(page)
    assert reason in raised.value.reason
    if "page 2" not in reason:
        assert seen == []


def test_the_renderer_child_reports_the_same_pages_and_reasons() -> None:
    rendered = list(render_pages(documents.g4_tiff(2), DEFAULT_LIMITS, 100))
    assert [(page, total) for page, total, _ in rendered] == [(1, 2), (2, 2)]
    with pytest.raises(UnsupportedImageError, match="password-protected"):
        list(render_pages(documents.encrypted_pdf(), DEFAULT_LIMITS, 100))


def test_a_page_over_its_time_limit_stops_the_renderer() -> None:
    with pytest.raises(UnsupportedImageError, match="took longer than"):
        list(render_pages(documents.pdf_document(3), DEFAULT_LIMITS, 100, page_seconds=0.001))


def test_a_renderer_over_its_memory_ceiling_fails_the_document_with_a_reason() -> None:
    # 8000 x 8000 bilevel: a few kB as G4, 64 MB once decoded to grey.
    data = documents.save([Image.new("1", (8000, 8000), 1)], "TIFF", compression="group4")
    with pytest.raises(PermanentFileError, match="more memory than syncd allows"):
        list(render_pages(data, DEFAULT_LIMITS, 100, memory_bytes=150 << 20))


# --- encoding ----------------------------------------------------------------------------------


def test_every_jpeg_is_progressive_and_optimised() -> None:
    data, _, file_type = encode_page(documents.colour_photo(), DEFAULT_LIMITS, None)
    assert file_type == "JPG"
    assert b"\xff\xc2" in data  # SOF2: progressive DCT
    baseline = io.BytesIO()
    documents.colour_photo().save(baseline, "JPEG", quality=DEFAULT_LIMITS.jpeg_quality)
    assert len(data) < len(baseline.getvalue())


def test_a_greyscale_photo_stays_jpeg_when_png_would_be_larger() -> None:
    noisy = Image.effect_noise((600, 400), 60)
    _, _, file_type = encode_page(noisy, DEFAULT_LIMITS, None)
    assert file_type == "JPG"


# --- captions and page rows --------------------------------------------------------------------


def test_captions_number_pages() -> None:
    assert validate_caption_template("{filename} ({page}/{pages})") is None
    caption = render_caption(
        "{filename} ({page}/{pages})", "scan.pdf", "r", datetime(2026, 1, 2), page=2, pages=5
    )
    assert caption == "scan.pdf (2/5)"
    assert render_caption("{stem} p{page}", "scan.pdf", "r", datetime(2026, 1, 2)) == "scan p1"


@pytest.fixture
def route_folders() -> Iterator[Callable[[RouteConfig], RouteFolders]]:
    """Opens a route's folders (made when missing) and closes them after the test."""
    opened: list[RouteFolders] = []

    def open_folders(route: RouteConfig) -> RouteFolders:
        opened.append(RouteFolders(route.name, route.outbox, route.inbox))
        return opened[-1]

    yield open_folders
    for folders in opened:
        folders.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    with StateStore.open(tmp_path / "state.db") as opened:
        yield opened


def _claimed(store: StateStore, name: str) -> int:
    row_id = store.journal_detected("r", Path("/outbox") / name, 10, 1, 2, "s", NOW)
    store.mark_claimed(row_id, Path("/work") / name, NOW)
    return row_id


def _page(number: int) -> PreparedPage:
    return PreparedPage(number, f"doc.pdf ({number}/3)", "PNG", 100, "data:,", 10, 20)


def test_pages_take_their_documents_place_in_the_queue_in_page_order(store: StateStore) -> None:
    first = _claimed(store, "a.jpg")
    document = _claimed(store, "doc.pdf")
    after = _claimed(store, "z.jpg")
    page_ids = store.mark_document_prepared(document, [_page(1), _page(2), _page(3)], NOW)
    active = (OutboundState.CLAIMED, OutboundState.PREPARED)
    queue = store.send_queue("r", active, 10)
    assert [row.id for row in queue] == [first, *page_ids, document, after]
    assert [row.page for row in queue[1:4]] == [1, 2, 3]
    original = store.get_outbound(document)
    assert original.has_pages and original.pages == 3 and not original.is_page
    assert all(row.is_page and row.pages == 3 for row in store.page_rows(document))


def test_a_document_is_finished_only_from_prepared_and_keeps_its_final_path(
    store: StateStore,
) -> None:
    document = _claimed(store, "doc.pdf")
    store.mark_document_prepared(document, [_page(1), _page(2)], NOW)
    store.finish_document(document, Path("/sent/doc.pdf"), NOW + 1)
    row = store.get_outbound(document)
    assert row.state == OutboundState.DONE and row.final_path == Path("/sent/doc.pdf")


def test_a_retried_document_is_prepared_again_with_fresh_page_rows(store: StateStore) -> None:
    document = _claimed(store, "doc.pdf")
    old_pages = store.mark_document_prepared(document, [_page(1), _page(2)], NOW)
    store.mark_failed(old_pages[1], "LivePerson refused it", NOW)
    store.mark_failed(document, "page 2 of 2 could not be sent", NOW)
    store.mark_failed(old_pages[0], "its document failed", NOW)
    store.reset_for_retry(document, Path("/outbox/doc.pdf"), NOW + 1)
    assert store.get_outbound(document).pages is None  # no longer counts as sent in pages
    store.mark_claimed(document, Path("/work/doc.pdf"), NOW + 2)
    new_pages = store.mark_document_prepared(document, [_page(1), _page(2), _page(3)], NOW + 3)
    assert set(new_pages).isdisjoint(old_pages)
    assert [row.id for row in store.page_rows(document)] == new_pages


def test_after_a_page_fails_the_later_pages_are_not_sent_and_the_document_fails(
    tmp_path: Path, store: StateStore, route_folders: Callable[[RouteConfig], RouteFolders]
) -> None:
    route = RouteConfig("r", tmp_path / "outbox", tmp_path / "inbox")
    folders = route_folders(route)
    original = route.work_dir / "00000001__doc.pdf"
    original.write_bytes(documents.pdf_document(3))
    document = store.journal_detected("r", route.outbox / "doc.pdf", 10, 1, 2, "s", NOW)
    store.mark_claimed(document, original, NOW)
    first, second, third = store.mark_document_prepared(
        document, [_page(1), _page(2), _page(3)], NOW
    )
    store.mark_failed(second, "LivePerson refused it: 400", NOW)

    assert not fail_page_after_a_failed_one(store, route, folders, store.get_outbound(first), NOW)
    assert fail_page_after_a_failed_one(store, route, folders, store.get_outbound(third), NOW)
    assert store.get_outbound(third).state == OutboundState.FAILED

    finish_document(store, route, folders, store.get_outbound(document), NOW)
    failed = store.get_outbound(document)
    assert failed.state == OutboundState.FAILED
    assert failed.last_error == "page 2 of 3 could not be sent: LivePerson refused it: 400"
    assert (route.failed_dir / "doc.pdf").exists() and not original.exists()
    assert not route.sent_dir.exists()


@pytest.mark.parametrize("make", [lambda: documents.pdf_document(2), lambda: documents.g4_tiff(2)])
def test_the_renderer_reads_a_document_from_its_open_file(
    tmp_path: Path, make: Callable[[], bytes]
) -> None:
    path = tmp_path / "scan"
    path.write_bytes(make())
    with path.open("rb") as source:
        rendered = list(render_pages(source, DEFAULT_LIMITS, 100))
    assert [(page, total) for page, total, _ in rendered] == [(1, 2), (2, 2)]
    with path.open("rb") as source, pytest.raises(UnsupportedImageError, match="max_pages = 1"):
        list(render_pages(source, DEFAULT_LIMITS, 1))


def test_a_claimed_document_that_became_a_link_is_refused(
    tmp_path: Path, store: StateStore, route_folders: Callable[[RouteConfig], RouteFolders]
) -> None:
    route = RouteConfig("r", tmp_path / "outbox", tmp_path / "inbox")
    folders = route_folders(route)
    target = tmp_path / "elsewhere.pdf"
    pdf = documents.pdf_document(2)
    target.write_bytes(pdf)
    name = "00000001__doc.pdf"
    (route.work_dir / name).symlink_to(target)
    document = store.journal_detected("r", route.outbox / "doc.pdf", 10, 1, 2, "s", NOW)
    store.mark_claimed(document, route.work_dir / name, NOW)

    prepared = prepare_document(
        store, route, folders, store.get_outbound(document), name, DEFAULT_LIMITS, lambda: NOW
    )

    assert not prepared
    row = store.get_outbound(document)
    assert row.state == OutboundState.FAILED
    assert "symbolic link" in (row.last_error or "")
    assert store.page_rows(document) == []
    assert target.read_bytes() == pdf  # the link's target is never read or moved
    assert not any(path.name.endswith(".upload") for path in route.work_dir.iterdir())


def test_a_document_whose_pages_are_all_done_is_archived_to_sent(
    tmp_path: Path, store: StateStore, route_folders: Callable[[RouteConfig], RouteFolders]
) -> None:
    route = RouteConfig("r", tmp_path / "outbox", tmp_path / "inbox")
    folders = route_folders(route)
    original = route.work_dir / "00000001__doc.pdf"
    # Made once: Pillow stamps a PDF with the time, so a second call a second later differs.
    pdf = documents.pdf_document(2)
    original.write_bytes(pdf)
    document = store.journal_detected("r", route.outbox / "doc.pdf", 10, 1, 2, "s", NOW)
    store.mark_claimed(document, original, NOW)
    first, second = store.mark_document_prepared(document, [_page(1), _page(2)], NOW)
    finish_document(store, route, folders, store.get_outbound(document), NOW)
    assert store.get_outbound(document).state == OutboundState.PREPARED  # pages not done yet
    store.record_conversation("r", "conversation-1", None, NOW)
    for number, page in enumerate((first, second), start=1):
        store.mark_uploaded(page, f"/files/page-{number}.png", NOW)
        store.mark_publishing(page, "conversation-1", NOW)
        store.mark_published(page, number, NOW)
        store.mark_done(page, None, NOW)

    finish_document(store, route, folders, store.get_outbound(document), NOW + 1)

    row = store.get_outbound(document)
    assert row.state == OutboundState.DONE and row.last_error is None
    assert row.final_path == route.sent_dir / "doc.pdf"
    assert (route.sent_dir / "doc.pdf").read_bytes() == pdf
    assert not original.exists()


def test_a_pdf_is_complete_when_its_last_kilobyte_holds_its_eof_marker() -> None:
    pdf = documents.pdf_document(1)
    padded = pdf + b"\x00" * 300  # some scanners pad the file to a block
    assert looks_complete(pdf[:8], pdf[-TAIL_BYTES:]) is True
    assert looks_complete(padded[:8], padded[-TAIL_BYTES:]) is False  # so the walk decides
    assert has_end_structure(padded)
    half = pdf[: len(pdf) // 2]
    assert looks_complete(half[:8], half[-TAIL_BYTES:]) is False
    assert not has_end_structure(half)


def test_a_heic_with_orientation_6_is_turned_upright_once() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = documents.save([documents.colour_photo()], "HEIF", exif=exif.tobytes())
    [(_, _, picture, _)] = pages_of(data)
    upright = picture.convert("RGB")
    assert upright.size == (600, 800)
    assert upright.getpixel((upright.width // 2, 5))[0] > 150  # the red half on top


def test_damaged_documents_give_pages_or_a_reason_never_a_dead_renderer() -> None:
    rng = random.Random(3)
    sources = [
        documents.g4_tiff(2),
        documents.pdf_document(2),
        documents.save([documents.colour_photo()], "BMP"),
        documents.save([documents.colour_photo()], "WEBP"),
    ]
    outcomes = []
    for _ in range(24):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            outcomes.append(len(list(render_pages(bytes(data), DEFAULT_LIMITS, 10))))
        except PermanentFileError as error:
            assert "renderer stopped" not in error.reason, error.reason
            outcomes.append(error.reason)
    assert len(outcomes) == 24


def test_failed_pages_are_dismissed_with_their_document_not_on_their_own(
    tmp_path: Path, route_folders: Callable[[RouteConfig], RouteFolders]
) -> None:
    config = load_config(write_config(tmp_path, "http://127.0.0.1:9", "12345678"))
    route = config.routes[0]
    folders = route_folders(route)
    original = route.work_dir / "00000001__doc.pdf"
    original.write_bytes(documents.pdf_document(2))
    with StateStore.open(config.state.database) as store:
        document = store.journal_detected(route.name, route.outbox / "doc.pdf", 10, 1, 2, "s", NOW)
        store.mark_claimed(document, original, NOW)
        first, second = store.mark_document_prepared(document, [_page(1), _page(2)], NOW)
        store.mark_failed(first, "LivePerson refused it: 400", NOW)
        fail_page_after_a_failed_one(store, route, folders, store.get_outbound(second), NOW)
        finish_document(store, route, folders, store.get_outbound(document), NOW)
        failed = store.outbound_in_states((OutboundState.FAILED,))
    assert {row.id for row in failed} == {document, first, second}
    assert dismissed_ids(config, failed) == set()  # the document's file is in failed/
    (route.failed_dir / "doc.pdf").unlink()
    assert dismissed_ids(config, failed) == {document, first, second}
