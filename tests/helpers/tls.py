"""The emulator over HTTPS/WSS with a certificate from a private CA made by trustme."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator


def write_server_certificate(authority: trustme.CA, folder: Path) -> tuple[Path, Path]:
    """Issue a certificate for 127.0.0.1/localhost; return its chain and key files."""
    server = authority.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    server.cert_chain_pems[0].write_to_path(str(cert_path))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_path), append=True)
    server.private_key_pem.write_to_path(str(key_path))
    return cert_path, key_path


def write_ca_file(authority: trustme.CA, folder: Path) -> Path:
    """Write the CA's certificate where a config's ``ca_file`` can name it."""
    path = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return path


@contextmanager
def tls_emulator(authority: trustme.CA, folder: Path) -> Iterator[RunningEmulator]:
    """A running emulator whose certificate ``authority`` signed (files go in ``folder``)."""
    cert_path, key_path = write_server_certificate(authority, folder)
    with start_emulator(EmulatorSettings(port=0, tls_cert=cert_path, tls_key=key_path)) as running:
        yield running
