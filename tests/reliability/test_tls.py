"""TLS and storage-host pinning at the daemon level (issue 6).

The emulator serves every service over HTTPS/WSS with a certificate from a private CA made
by trustme. With ``liveperson.ca_file`` the daemon verifies it and publishes; without it the
daemon says why in its log and in the row, uploads nothing, keeps the file queued and keeps
running. An emulator that hands out upload URLs for another host (the ``upload_url_origin``
knob) gets no PUT at all: the other host is a real listening socket that must see no
connection.
"""

from __future__ import annotations

import io
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from PIL import Image

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundRow, OutboundState
from tests.helpers.harness import read_state, start_daemon_process, stop_process, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.tls import tls_emulator as running_tls_emulator
from tests.helpers.waiting import wait_until

TIMEOUT = 90


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_emulator(certificate_authority: trustme.CA, tmp_path: Path) -> Iterator[RunningEmulator]:
    with running_tls_emulator(certificate_authority, tmp_path) as running:
        yield running


def _rows(database: Path) -> list[OutboundRow]:
    everything = tuple(OutboundState)
    return read_state(database, lambda store: store.outbound_in_states(everything)) or []


def _drop(outbox: Path, name: str, data: bytes) -> None:
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    (staging / name).rename(outbox / name)


def _start(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    process = start_daemon_process(config, log_path=log_path)
    assert process.poll() is None, log_path.read_text(errors="replace")
    return process


def _log(log_path: Path) -> str:
    return log_path.read_text(encoding="utf-8", errors="replace")


def test_with_the_private_ca_as_ca_file_a_dropped_file_is_published_over_tls(
    tmp_path: Path, tls_emulator: RunningEmulator, certificate_authority: trustme.CA
) -> None:
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    assert tls_emulator.base_url.startswith("https://")
    config = write_config(
        tmp_path, tls_emulator.base_url, tls_emulator.account, liveperson={"ca_file": ca_file}
    )
    database, log_path = tmp_path / "state" / "syncd.sqlite3", tmp_path / "daemon.log"
    process = _start(config, log_path)
    try:
        _drop(tmp_path / "scans" / "outbox", "form.jpg", jpeg_bytes(640, 480, seed=3))
        wait_until(
            lambda: [row.state for row in _rows(database)] == [OutboundState.DONE],
            TIMEOUT,
            "the file to be published over TLS",
        )
        assert process.poll() is None
    finally:
        assert stop_process(process) == 0, _log(log_path)[-3000:]
    events = hosted_file_events(tls_emulator)
    assert [event["event"]["message"]["caption"] for event in events] == ["form.jpg"]
    uploaded = Image.open(io.BytesIO(_signed_get(tls_emulator, events[0], ca_file)))
    assert uploaded.size == (640, 480)
    assert "certificate" not in _log(log_path).lower()


def _signed_get(emulator: RunningEmulator, event: dict[str, Any], ca_file: Path) -> bytes:
    """The object of a hosted-file event, fetched over HTTPS trusting only ``ca_file``."""
    import requests
    from swiftclient.utils import generate_temp_url

    relative_path = event["event"]["message"]["relativePath"]
    signed = generate_temp_url(relative_path, 60, emulator.temp_url_key, "GET", digest="sha1")
    response = requests.get(f"{emulator.base_url}{signed}", timeout=10, verify=str(ca_file))
    assert response.status_code == 200
    return response.content


def test_without_ca_file_verification_fails_clearly_nothing_is_uploaded_and_the_file_waits(
    tmp_path: Path, tls_emulator: RunningEmulator, certificate_authority: trustme.CA
) -> None:
    config = write_config(tmp_path, tls_emulator.base_url, tls_emulator.account)
    database, log_path = tmp_path / "state" / "syncd.sqlite3", tmp_path / "daemon.log"
    outbox = tmp_path / "scans" / "outbox"
    data = jpeg_bytes(640, 480, seed=4)
    process = _start(config, log_path)
    try:
        _drop(outbox, "form.jpg", data)
        row = wait_until(
            lambda: next(
                (r for r in _rows(database) if r.last_error and "certificate" in r.last_error),
                None,
            ),
            TIMEOUT,
            "the certificate error to be recorded on the file's row",
        )
        # It keeps trying on the retry schedule (5 s, then 10 s) and keeps running.
        wait_until(lambda: _rows(database)[0].attempts >= 2, TIMEOUT, "a second attempt")
        assert process.poll() is None
        log = _log(log_path)
    finally:
        assert stop_process(process) == 0, _log(log_path)[-3000:]
    assert "certificate could not be verified" in row.last_error
    assert "liveperson.ca_file" in row.last_error
    assert "liveperson.ca_file" in log and "certificate" in log.lower()
    assert "Traceback" not in log  # an operator-facing message, not a crash report
    state = tls_emulator.state()
    assert state["objects"] == [] and state["conversations"] == []
    (final,) = _rows(database)
    assert final.state == OutboundState.PREPARED  # queued, not failed, not lost
    assert final.work_path is not None and final.work_path.read_bytes() == data

    # Not lost: once the CA is configured, the same file goes out.
    ca_file = tmp_path / "ca.pem"
    certificate_authority.cert_pem.write_to_path(str(ca_file))
    write_config(
        tmp_path, tls_emulator.base_url, tls_emulator.account, liveperson={"ca_file": ca_file}
    )
    process = _start(config, log_path)
    try:
        wait_until(
            lambda: [r.state for r in _rows(database)] == [OutboundState.DONE],
            TIMEOUT,
            "the queued file to be published once the CA is trusted",
        )
    finally:
        assert stop_process(process) == 0
    assert len(hosted_file_events(tls_emulator)) == 1


class _OtherHost:
    """A listening socket on another loopback address: the host a hostile URL points at."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.2", 0))
        self.server.listen(8)
        self.server.setblocking(False)
        self.host_port = f"127.0.0.2:{self.server.getsockname()[1]}"

    def connections(self) -> int:
        count = 0
        while True:
            try:
                connection, _ = self.server.accept()
            except BlockingIOError:
                return count
            connection.close()
            count += 1


@pytest.mark.parametrize("scheme", ["http:", ""], ids=["absolute-url", "scheme-relative"])
def test_upload_urls_for_another_host_are_refused_with_a_reason_and_nothing_is_put(
    tmp_path: Path, emulator: RunningEmulator, scheme: str
) -> None:
    other = _OtherHost()
    emulator.set_faults(upload_url_origin=f"{scheme}//{other.host_port}")
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database, log_path = tmp_path / "state" / "syncd.sqlite3", tmp_path / "daemon.log"
    data = jpeg_bytes(320, 240, seed=5)
    process = _start(config, log_path)
    try:
        _drop(tmp_path / "scans" / "outbox", "scan.jpg", data)
        row = wait_until(
            lambda: next((r for r in _rows(database) if r.last_error), None),
            TIMEOUT,
            "the refusal to be recorded on the row",
        )
        assert process.poll() is None
    finally:
        assert stop_process(process) == 0, _log(log_path)[-3000:]
        connections = other.connections()
        other.server.close()
    assert connections == 0
    assert emulator.state()["objects"] == []
    assert hosted_file_events(emulator) == []
    assert row.state == OutboundState.PREPARED  # kept for a later try, not failed
    assert row.work_path is not None and row.work_path.read_bytes() == data
    assert other.host_port in row.last_error or "relativePath" in row.last_error
    assert "refus" in row.last_error.lower()
    assert row.next_attempt_at - row.updated_at >= 300  # no hammering a misbehaving server
