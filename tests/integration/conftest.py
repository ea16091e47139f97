"""Fixtures of the LivePerson client tests: an HTTP client, a domain resolver, and a check
that the client's own threads (``lp-…``, daemon threads the shared check ignores) end."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.liveperson.domains import DomainResolver
from syncd.liveperson.http import HttpClient
from tests.helpers.identity import BrandKeys, make_brand_keys
from tests.helpers.waiting import wait_until


@pytest.fixture
def no_leaked_client_threads() -> Iterator[None]:
    """Fail a test whose LivePerson client threads are still running 5 s after it ended."""
    yield
    wait_until(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("lp-")],
        5,
        "syncd.liveperson threads to end",
    )


@pytest.fixture
def http() -> Iterator[HttpClient]:
    client = HttpClient(None, 5.0, "syncd-tests")
    yield client
    client.close()


@pytest.fixture
def resolver(http: HttpClient, emulator: RunningEmulator) -> DomainResolver:
    return DomainResolver(http, emulator.base_url, emulator.account)


@pytest.fixture(scope="module")
def brand_keys(tmp_path_factory: pytest.TempPathFactory) -> BrandKeys:
    """A brand key pair (PEM files) for the authenticated flow, one per test module."""
    return make_brand_keys(tmp_path_factory.mktemp("keys"))
