"""Names syncd gives files in a route's work folder, and reading them back."""

from __future__ import annotations

from syncd.outbox.intake import row_id_from_work_name, work_name
from syncd.outbox.uploads import (
    page_from_upload_name,
    page_upload_name,
    row_id_from_upload_name,
    upload_name,
)


def test_a_claimed_file_name_gives_back_its_row_id() -> None:
    assert row_id_from_work_name(work_name(42, "scan 0001.jpg")) == 42
    assert row_id_from_work_name("scan_0001.jpg") is None
    assert row_id_from_work_name("abc__scan.jpg") is None


def test_a_prepared_upload_name_gives_back_its_row_id() -> None:
    assert row_id_from_upload_name(upload_name(7)) == 7
    assert row_id_from_upload_name("00000007.jpg") is None
    assert row_id_from_upload_name("x7.upload") is None
    assert row_id_from_upload_name("00000007.upload.tmp") is None


def test_a_page_upload_name_gives_back_its_document_and_page() -> None:
    name = page_upload_name(7, 12)
    assert page_from_upload_name(name) == (7, 12)
    assert row_id_from_upload_name(name) is None  # never taken for a row's own upload
    assert page_from_upload_name(upload_name(7)) is None
    assert page_from_upload_name("00000007-pX.upload") is None
    assert page_from_upload_name("00000007-p0001.upload.tmp") is None
