"""Fixtures of the agent SDK tests: the SDK installed from the lock, a private CA, and the
emulator over TLS with rings left for the agent to accept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from syncd.emulator.server import RunningEmulator, start_emulator
from tests.agent_sdk.driver import SdkAgent, install_sdk
from tests.helpers.identity import BrandKeys, identity_settings, make_brand_keys
from tests.helpers.tls import write_ca_file, write_server_certificate

NO_NODE = "node and npm are needed to run LivePerson's agent SDK (.ci/run installs them)"


@pytest.fixture(scope="session")
def sdk_modules() -> Path:
    """The SDK's node_modules, installed once per lock file (skips without node and npm)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(NO_NODE)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return install_sdk(cache / "syncd-tests")


@pytest.fixture(scope="module")
def brand_keys(tmp_path_factory: pytest.TempPathFactory) -> BrandKeys:
    """A brand key pair for the authenticated flow (the consumer's name reaches the agent)."""
    return make_brand_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def tls_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tls"
    folder.mkdir()
    return folder


@pytest.fixture
def authority() -> trustme.CA:
    """A private CA made for the test: the emulator's certificate is issued by it."""
    return trustme.CA()


@pytest.fixture
def ca_file(authority: trustme.CA, tls_folder: Path) -> Path:
    """The CA certificate, for syncd's ``ca_file`` and Node's NODE_EXTRA_CA_CERTS."""
    return write_ca_file(authority, tls_folder)


@pytest.fixture
def tls_emulator(
    authority: trustme.CA, tls_folder: Path, brand_keys: BrandKeys
) -> Iterator[RunningEmulator]:
    """The emulator over HTTPS/WSS, the agent accepting by hand (rings wait for the SDK)."""
    cert, key = write_server_certificate(authority, tls_folder)
    settings = identity_settings(brand_keys, tls_cert=cert, tls_key=key, agent_accept="manual")
    with start_emulator(settings) as running:
        yield running


@pytest.fixture
def sdk_agent(
    sdk_modules: Path, tls_emulator: RunningEmulator, ca_file: Path, tmp_path: Path
) -> Iterator[SdkAgent]:
    """LivePerson's SDK logged in as the emulator's agent, ONLINE and subscribed.

    Its session refresh runs every second, so the SDK's own refresh is exercised too.
    """
    env = {
        "NODE_EXTRA_CA_CERTS": str(ca_file),
        "AGENT_ACCOUNT": tls_emulator.account,
        "AGENT_CSDS": tls_emulator.host_port,
        "AGENT_USERNAME": tls_emulator.settings.admin_user,
        "AGENT_PASSWORD": tls_emulator.settings.admin_password,
        "AGENT_REFRESH_MS": "1000",
    }
    agent = SdkAgent(sdk_modules, env, tmp_path / "agent-sdk.log")
    try:
        connected = agent.wait_event("connected")
        assert connected["agentId"] == tls_emulator.core.agent_id
        yield agent
        agent.call("clock")  # everything the SDK said before this answer has been read
        assert agent.errors() == []
    finally:
        agent.stop()
