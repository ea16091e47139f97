"""The Swift store checks temp URLs exactly as Swift does; URLs are signed by python-swiftclient."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from swiftclient.utils import generate_temp_url

from syncd.emulator import tempurl
from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import MAX_OBJECT_BYTES
from tests.emulator.wire import make_image

INVALID = "401 Unauthorized: Temp URL invalid\n"


def _object_path(emulator: RunningEmulator, name: str = "scan.PNG") -> str:
    return f"/v1/AUTH_async-images/{emulator.account}/{name}"


def _signed(
    emulator: RunningEmulator, path: str, method: str, digest: str = "sha1", **options: object
) -> str:
    return emulator.base_url + str(
        generate_temp_url(path, 60, emulator.temp_url_key, method, digest=digest, **options)
    )


def _put(emulator: RunningEmulator, path: str, data: bytes) -> None:
    response = requests.put(_signed(emulator, path, "PUT"), data=data, timeout=5)
    assert response.status_code == 201


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_urls_signed_with_each_allowed_digest_store_and_serve_the_object(
    emulator: RunningEmulator, digest: str
) -> None:
    path = _object_path(emulator, f"{digest}.PNG")
    image = make_image("PNG")
    stored = requests.put(_signed(emulator, path, "PUT", digest), data=image, timeout=5)
    assert stored.status_code == 201
    assert stored.headers["ETag"] == hashlib.md5(image).hexdigest()
    served = requests.get(_signed(emulator, path, "GET", digest), timeout=5)
    assert served.status_code == 200
    assert served.content == image
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["Content-Length"] == str(len(image))
    assert served.headers["ETag"] == hashlib.md5(image).hexdigest()
    assert served.headers["Content-Disposition"].startswith(f'attachment; filename="{digest}.PNG"')
    assert served.headers["Expires"].endswith("GMT")
    assert {
        "path": path,
        "size": len(image),
        "sha256": hashlib.sha256(image).hexdigest(),
    } in emulator.state()["objects"]


def test_base64_signatures_are_accepted_with_either_alphabet_and_optional_padding(
    emulator: RunningEmulator,
) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    # Pick an expiry whose signature has a '+' or '/' in the standard alphabet, so the two
    # encodings differ in more than padding (about 1 expiry in 4 gives neither).
    expires = int(time.time()) + 60
    while True:
        raw = hmac.new(
            emulator.temp_url_key.encode(), f"GET\n{expires}\n{path}".encode(), hashlib.sha256
        ).digest()
        if {"+", "/"} & set(base64.b64encode(raw).decode()):
            break
        expires += 1
    assert base64.b64encode(raw) != base64.urlsafe_b64encode(raw)
    for encoded in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        response = requests.get(
            emulator.base_url + path,
            params={"temp_url_sig": f"sha256:{encoded}", "temp_url_expires": str(expires)},
            timeout=5,
        )
        assert response.status_code == 200


@pytest.mark.parametrize("signed_method", ["PUT", "GET"])
def test_head_is_allowed_on_a_put_or_get_signed_url(
    emulator: RunningEmulator, signed_method: str
) -> None:
    path = _object_path(emulator)
    image = make_image("PNG")
    _put(emulator, path, image)
    response = requests.head(_signed(emulator, path, signed_method), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(image))
    assert response.content == b""


def test_a_put_signature_does_not_grant_get_and_a_get_signature_does_not_grant_put(
    emulator: RunningEmulator,
) -> None:
    # Swift signs the method: an upload URL handed to someone must not let them read the
    # object back, and a download URL must not let them replace it.
    path = _object_path(emulator)
    image = make_image("PNG")
    _put(emulator, path, image)
    read_with_put_signature = requests.get(_signed(emulator, path, "PUT"), timeout=5)
    assert read_with_put_signature.status_code == 401
    assert read_with_put_signature.text == INVALID
    write_with_get_signature = requests.put(
        _signed(emulator, path, "GET"), data=make_image("JPEG"), timeout=5
    )
    assert write_with_get_signature.status_code == 401
    assert write_with_get_signature.text == INVALID
    served = requests.get(_signed(emulator, path, "GET"), timeout=5)
    assert served.status_code == 200
    assert served.content == image


def test_each_tampering_gets_401_temp_url_invalid(emulator: RunningEmulator) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    url = _signed(emulator, path, "GET")
    assert requests.get(url, timeout=5).status_code == 200
    signature = url.split("temp_url_sig=")[1].split("&")[0]
    expires = url.split("temp_url_expires=")[1]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    attempts = [
        requests.put(url, data=b"other", timeout=5),  # method
        requests.get(url.replace("scan.PNG", "scan2.PNG"), timeout=5),  # path
        requests.get(url.replace(expires, str(int(expires) + 1)), timeout=5),  # expiry
        requests.get(url.replace(signature, flipped), timeout=5),  # signature
        requests.get(url.replace(signature, signature.upper()), timeout=5),  # hex is case sensitive
        requests.get(url.replace(signature, signature[:-2]), timeout=5),  # unknown length
    ]
    for attempt in attempts:
        assert attempt.status_code == 401
        assert attempt.text == INVALID
    head = requests.head(url.replace(signature, flipped), timeout=5)
    assert head.status_code == 401
    assert head.content == b""
    assert requests.get(url, timeout=5).status_code == 200


def test_expired_url_gets_401(emulator: RunningEmulator) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    expired = emulator.base_url + generate_temp_url(
        path, int(time.time()) - 5, emulator.temp_url_key, "GET", absolute=True, digest="sha1"
    )
    response = requests.get(expired, timeout=5)
    assert response.status_code == 401
    assert response.text == INVALID


def test_iso_8601_expiry_is_accepted(emulator: RunningEmulator) -> None:
    path = _object_path(emulator)
    image = make_image("PNG")
    stored = requests.put(_signed(emulator, path, "PUT", iso8601=True), data=image, timeout=5)
    assert stored.status_code == 201
    assert "T" in urlsplit(_signed(emulator, path, "GET", iso8601=True)).query
    assert requests.get(_signed(emulator, path, "GET", iso8601=True), timeout=5).content == image


def test_request_without_temp_url_parameters_is_unauthorized(emulator: RunningEmulator) -> None:
    response = requests.get(emulator.base_url + _object_path(emulator), timeout=5)
    assert response.status_code == 401
    half = requests.get(emulator.base_url + _object_path(emulator) + "?temp_url_sig=abc", timeout=5)
    assert half.status_code == 401
    assert half.text == INVALID


def test_absent_object_with_a_valid_signature_is_404(emulator: RunningEmulator) -> None:
    response = requests.get(
        _signed(emulator, _object_path(emulator, "never.PNG"), "GET"), timeout=5
    )
    assert response.status_code == 404


def test_put_without_content_length_and_not_chunked_gets_411(emulator: RunningEmulator) -> None:
    url = urlsplit(_signed(emulator, _object_path(emulator), "PUT"))
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    connection.putrequest("PUT", f"{url.path}?{url.query}")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411
    connection.close()


def test_chunked_put_is_stored(emulator: RunningEmulator) -> None:
    path = _object_path(emulator)
    image = make_image("PNG", (80, 80))

    def chunks() -> Iterator[bytes]:
        yield image[:100]
        yield image[100:]

    response = requests.put(_signed(emulator, path, "PUT"), data=chunks(), timeout=5)
    assert response.status_code == 201
    assert requests.get(_signed(emulator, path, "GET"), timeout=5).content == image


def test_put_with_a_mismatched_etag_gets_422(emulator: RunningEmulator) -> None:
    response = requests.put(
        _signed(emulator, _object_path(emulator), "PUT"),
        data=b"bytes",
        headers={"ETag": "0" * 32},
        timeout=5,
    )
    assert response.status_code == 422
    assert emulator.state()["objects"] == []


def test_objects_outside_the_account_container_do_not_exist(emulator: RunningEmulator) -> None:
    response = requests.put(
        _signed(emulator, "/v1/AUTH_async-images/other/x.PNG", "PUT"), data=b"x", timeout=5
    )
    assert response.status_code == 404


def test_filename_and_inline_query_parameters_set_the_disposition(
    emulator: RunningEmulator,
) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    url = _signed(emulator, path, "GET")
    assert requests.get(url + "&inline", timeout=5).headers["Content-Disposition"] == "inline"
    named = requests.get(url + "&filename=receipt.png", timeout=5).headers["Content-Disposition"]
    assert named.startswith('attachment; filename="receipt.png"')


def test_signature_parsing_follows_swift() -> None:
    assert tempurl.parse_signature("a" * 40) == ("a" * 40, "sha1")
    assert tempurl.parse_signature("b" * 64) == ("b" * 64, "sha256")
    assert tempurl.parse_signature("c" * 128) == ("c" * 128, "sha512")
    # The reason is what the emulator logs for a refused request (the client sees only 401).
    for bad, reason in (
        ("a" * 41, "^signature is not hex$"),  # an odd number of digits
        ("a" * 42, "^hex signature has an unknown length$"),
        ("xyz", "^signature is not hex$"),
        ("md5:AAAA", "^unknown signature algorithm$"),
        ("sha1:***", "^signature is not base64$"),
    ):
        with pytest.raises(tempurl.TempUrlInvalid, match=reason):
            tempurl.parse_signature(bad)
    assert tempurl.parse_expires("1700000000") == 1_700_000_000
    assert tempurl.parse_expires("2023-11-14T22:13:20Z") == 1_700_000_000
    assert tempurl.parse_expires("tomorrow") == 0
    assert tempurl.is_object_path("/v1/a/c/o/with/slashes")
    assert not tempurl.is_object_path("/v1/a/c/")
    assert not tempurl.is_object_path("/v2/a/c/o")
    assert not tempurl.is_object_path("/v1//c/o")  # every part, the account too
    assert not tempurl.is_object_path("/v1/a//o")


def test_a_prefixed_signature_is_split_at_its_first_colon_only() -> None:
    # The algorithm is what comes before the first colon; a colon later is part of the
    # signature, which then is not base64 (never a crash, never another algorithm).
    with pytest.raises(tempurl.TempUrlInvalid, match="not base64"):
        tempurl.parse_signature("sha256:AAAA:AAAA")
    raw = bytes(range(32))
    encoded = base64.b64encode(raw).decode()
    assert tempurl.parse_signature(f"sha256:{encoded}") == (raw.hex(), "sha256")


def test_a_signature_with_two_colons_gets_401_not_a_server_error(
    emulator: RunningEmulator,
) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    response = requests.get(
        emulator.base_url + path,
        params={"temp_url_sig": "sha1:AAAA:BBBB", "temp_url_expires": str(int(time.time()) + 60)},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.text == INVALID


def test_put_over_the_object_size_limit_gets_413(emulator: RunningEmulator) -> None:
    response = requests.put(
        _signed(emulator, _object_path(emulator), "PUT"),
        data=b"\0" * (MAX_OBJECT_BYTES + 1),
        timeout=10,
    )
    assert response.status_code == 413
    assert emulator.state()["objects"] == []


def test_verify_names_each_reason_for_refusing_a_temp_url() -> None:
    key, path, expires = b"secret", "/v1/AUTH_a/c/scan.png", 1_700_000_060
    before = expires - 10
    good = tempurl.sign(key, "GET", expires, path)
    tempurl.verify(key, "GET", path, good, str(expires), now_seconds=expires)  # last second
    folder = "/v1/AUTH_a/c/"
    refusals: list[tuple[str, str, str | None, str | None, float, str]] = [
        (
            "GET",
            path,
            None,
            str(expires),
            before,
            "^temp_url_sig and temp_url_expires are both required$",
        ),
        ("GET", path, good, None, before, "^temp_url_sig and temp_url_expires are both required$"),
        ("GET", path, good, str(expires), expires + 1, "has expired"),
        ("GET", folder, tempurl.sign(key, "GET", expires, folder), str(expires), before, "object"),
        ("GET", path, tempurl.sign(key, "HEAD", expires, path), str(expires), before, "match"),
        ("PUT", path, good, str(expires), before, "does not match"),
    ]
    for method, url_path, signature, expiry, now, reason in refusals:
        with pytest.raises(tempurl.TempUrlInvalid, match=reason):
            tempurl.verify(key, method, url_path, signature, expiry, now_seconds=now)


@pytest.mark.parametrize("signed_method", ["GET", "PUT", "POST", "HEAD"])
def test_verify_grants_head_with_any_method_signature(signed_method: str) -> None:
    key, path, expires = b"secret", "/v1/AUTH_a/c/scan.png", 1_700_000_060
    signature = tempurl.sign(key, signed_method, expires, path, "sha256")
    tempurl.verify(key, "HEAD", path, signature, str(expires), now_seconds=expires - 10)


@pytest.mark.parametrize("missing", ["temp_url_sig", "temp_url_expires"])
def test_a_temp_url_missing_a_parameter_gets_401(emulator: RunningEmulator, missing: str) -> None:
    path = _object_path(emulator)
    _put(emulator, path, make_image("PNG"))
    expires = int(time.time()) + 60
    params = {
        "temp_url_sig": tempurl.sign(emulator.temp_url_key.encode(), "GET", expires, path),
        "temp_url_expires": str(expires),
    }
    del params[missing]
    response = requests.get(emulator.base_url + path, params=params, timeout=5)
    assert response.status_code == 401
    assert response.text == INVALID
