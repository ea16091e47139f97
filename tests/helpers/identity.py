"""Brand key pairs, emulators with the production identity flows, and reading the IdP log."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from syncd.emulator.server import EmulatorSettings, RunningEmulator
from tests.helpers.images import jpeg_bytes

CONNECTOR_ID = "2470021030"
ISSUER = "https://scans.example.test"


@dataclass(frozen=True)
class BrandKeys:
    """A private key file (mode 600, what syncd reads) and its public key file (the
    connector's, what the emulator reads)."""

    private_key_file: Path
    public_key_file: Path


def make_brand_keys(folder: Path, name: str = "brand") -> BrandKeys:
    """Make an RSA key pair as ``openssl genpkey`` would and write both PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_file = folder / f"{name}-private.pem"
    private_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_file.chmod(0o600)
    public_file = folder / f"{name}-public.pem"
    public_file.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return BrandKeys(private_file, public_file)


def identity_settings(keys: BrandKeys, **overrides: Any) -> EmulatorSettings:
    """Emulator settings with both production flows on (and any ``overrides``)."""
    values: dict[str, Any] = {
        "port": 0,
        "auth_public_key": keys.public_key_file,
        "auth_issuer": ISSUER,
        "unauth_connector_id": CONNECTOR_ID,
    }
    values.update(overrides)
    return EmulatorSettings(**values)


def authenticated_keys(keys: BrandKeys) -> dict[str, Any]:
    """The ``[liveperson]`` keys of the authenticated flow."""
    return {
        "identity": "authenticated",
        "private_key_file": str(keys.private_key_file),
        "issuer": ISSUER,
    }


UNAUTHENTICATED_KEYS: Mapping[str, Any] = {
    "identity": "unauthenticated",
    "connector_id": CONNECTOR_ID,
}


def idp_calls(emulator: RunningEmulator, call: str, ok: bool | None = True) -> list[dict[str, Any]]:
    """The IdP log entries of ``call`` (``signup``, ``authenticate``, ``anonymous/refresh``…),
    only the accepted (or refused) ones unless ``ok`` is None."""
    return [
        entry
        for entry in emulator.state()["identityLog"]
        if entry["call"] == call and (ok is None or entry["ok"] is ok)
    ]


def drop_scan(outbox: Path, name: str, seed: int) -> None:
    """Write a scan next to ``outbox`` and rename it in, as a scanner finishing a file."""
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(jpeg_bytes(320, 240, seed=seed))
    os.rename(staging / name, outbox / name)
