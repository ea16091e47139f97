"""``ms.GenerateURLForUploadFile`` and ``ms.GenerateURLForDownloadFile`` rules."""

from __future__ import annotations

import time

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator
from syncd.emulator.settings import MAX_UPLOAD_FILE_BYTES
from tests.emulator.wire import Consumer, upload_url


@pytest.mark.parametrize(
    "file_size", [1000, "1000", MAX_UPLOAD_FILE_BYTES, str(MAX_UPLOAD_FILE_BYTES)]
)
def test_file_size_may_be_a_number_or_a_string_up_to_3_mib(
    emulator: RunningEmulator, file_size: int | str
) -> None:
    consumer = Consumer.connect(emulator)
    response = upload_url(consumer, file_size, "JPG")
    assert response["code"] == 200
    assert response["body"]["relativePath"].endswith(".JPG")
    consumer.close()


@pytest.mark.parametrize("file_type", ["JPG", "JPEG", "PNG", "GIF"])
def test_each_documented_file_type_gets_an_upload_url(
    emulator: RunningEmulator, file_type: str
) -> None:
    consumer = Consumer.connect(emulator)
    response = upload_url(consumer, 5000, file_type)
    assert response["code"] == 200
    assert response["body"]["relativePath"].endswith(f".{file_type}")
    consumer.close()


@pytest.mark.parametrize(
    ("file_size", "file_type"),
    [
        (MAX_UPLOAD_FILE_BYTES + 1, "PNG"),
        (str(MAX_UPLOAD_FILE_BYTES + 1), "PNG"),
        (0, "PNG"),
        ("a lot", "PNG"),
        (1000, "BMP"),
        (1000, "png"),
        (1000, "PDF"),
    ],
)
def test_oversized_or_unsupported_uploads_get_400_with_a_string_body(
    emulator: RunningEmulator, file_size: int | str, file_type: str
) -> None:
    consumer = Consumer.connect(emulator)
    response = upload_url(consumer, file_size, file_type)
    assert response["code"] == 400
    assert response["type"] == "StringResponse"
    assert isinstance(response["body"], str)
    consumer.close()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(upload_url_ttl_seconds=120)])
def test_upload_url_expires_after_the_configured_lifetime(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    before = int(time.time())
    response = upload_url(consumer, 1000, "PNG")
    after = int(time.time())
    expires = int(response["body"]["queryParams"]["temp_url_expires"])
    assert before + 120 <= expires <= after + 120
    consumer.close()


def test_download_url_for_an_unknown_path_gets_404(emulator: RunningEmulator) -> None:
    consumer = Consumer.connect(emulator)
    unknown = f"/v1/AUTH_async-images/{emulator.account}/nobody_uuid_x.PNG"
    response = consumer.request(
        {
            "kind": "req",
            "id": "d",
            "type": "ms.GenerateURLForDownloadFile",
            "body": {"relativePath": unknown},
        }
    )
    assert response["code"] == 404
    assert isinstance(response["body"], str)
    outside = consumer.request(
        {
            "kind": "req",
            "id": "e",
            "type": "ms.GenerateURLForDownloadFile",
            "body": {"relativePath": "/etc/passwd"},
        }
    )
    assert outside["code"] == 404
    consumer.close()
