"""Admin login, site settings with revisions, and the file-sharing switch."""

from __future__ import annotations

import re

import pytest
import requests

from syncd.emulator.server import EmulatorSettings, RunningEmulator
from tests.emulator.wire import Consumer, upload_url

FILE_SHARING = "messaging.file.sharing.enabled"


def _login(emulator: RunningEmulator, password: str = "admin-password") -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/api/account/{emulator.account}/login?v=1.3",
        json={"username": "admin", "password": password},
        headers={"Accept": "application/json"},
        timeout=5,
    )


def _property_url(emulator: RunningEmulator, property_id: str = "") -> str:
    base = f"{emulator.base_url}/api/account/{emulator.account}/configuration/setting/properties"
    return f"{base}/{property_id}?v=3.0" if property_id else f"{base}?v=3.0"


def _bearer(emulator: RunningEmulator) -> str:
    return str(_login(emulator).json()["bearer"])


def _set_file_sharing(
    emulator: RunningEmulator, bearer: str, value: object, if_match: str = "-1"
) -> requests.Response:
    # The body shape of LivePerson's set_site_property.sh-style script, "deleted" as a string.
    return requests.put(
        _property_url(emulator, FILE_SHARING),
        json={"id": FILE_SHARING, "type": 1, "propertyValue": {"value": value}, "deleted": "false"},
        headers={"Authorization": f"Bearer {bearer}", "If-Match": if_match},
        timeout=5,
    )


def test_login_with_the_admin_credentials_returns_a_bearer(emulator: RunningEmulator) -> None:
    response = _login(emulator)
    assert response.status_code == 200
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{64}", body["bearer"])
    assert body["csrf"]
    assert body["config"]["loginName"] == "admin"
    assert body["config"]["userId"]
    assert body["sessionTTl"] == "28800000"
    assert "Session_id" in response.cookies


def test_login_with_a_wrong_password_gets_401(emulator: RunningEmulator) -> None:
    assert _login(emulator, password="guess").status_code == 401


def test_site_settings_need_a_bearer(emulator: RunningEmulator) -> None:
    assert requests.get(_property_url(emulator), timeout=5).status_code == 401
    wrong = requests.get(
        _property_url(emulator), headers={"Authorization": "Bearer " + "0" * 64}, timeout=5
    )
    assert wrong.status_code == 401
    assert _set_file_sharing(emulator, "0" * 64, True).status_code == 401


def test_site_settings_are_listed_and_read_with_their_revision(emulator: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {_bearer(emulator)}"}
    listed = requests.get(_property_url(emulator), headers=headers, timeout=5)
    assert listed.status_code == 200
    assert isinstance(listed.json(), list)
    assert {
        "id": FILE_SHARING,
        "type": 1,
        "propertyValue": {"value": True},
        "deleted": False,
    } in listed.json()
    single = requests.get(_property_url(emulator, FILE_SHARING), headers=headers, timeout=5)
    assert single.json()["propertyValue"] == {"value": True}
    assert single.headers["ac-revision"] == listed.headers["ac-revision"]
    assert (
        requests.get(
            _property_url(emulator, "no.such.property"), headers=headers, timeout=5
        ).status_code
        == 404
    )


def test_put_honours_if_match(emulator: RunningEmulator) -> None:
    bearer = _bearer(emulator)
    first = _set_file_sharing(emulator, bearer, True, if_match="-1")
    assert first.status_code == 200
    revision = first.headers["ac-revision"]
    assert first.headers["ETag"] == revision
    current = _set_file_sharing(emulator, bearer, True, if_match=revision)
    assert current.status_code == 200
    assert int(current.headers["ac-revision"]) == int(revision) + 1
    stale = _set_file_sharing(emulator, bearer, False, if_match=revision)
    assert stale.status_code == 412


def test_disabling_file_sharing_refuses_upload_urls_until_enabled_again(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    bearer = _bearer(emulator)
    assert _set_file_sharing(emulator, bearer, False).status_code == 200
    refused = upload_url(consumer, 1000, "PNG", request_id="1")
    assert refused["code"] == 400
    assert refused["type"] == "StringResponse"
    assert _set_file_sharing(emulator, bearer, "true").status_code == 200
    assert upload_url(consumer, 1000, "PNG", request_id="2")["code"] == 200
    consumer.close()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(file_sharing_enabled=False)])
def test_emulator_started_with_file_sharing_disabled_refuses_uploads(
    emulator: RunningEmulator,
) -> None:
    consumer = Consumer.connect(emulator)
    assert upload_url(consumer, 1000, "PNG", request_id="1")["code"] == 400
    assert _set_file_sharing(emulator, _bearer(emulator), True).status_code == 200
    assert upload_url(consumer, 1000, "PNG", request_id="2")["code"] == 200
    consumer.close()
