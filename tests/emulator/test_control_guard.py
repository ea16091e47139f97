"""The emulator's control API and console against DNS rebinding and foreign networks.

Bound to loopback without a token they answer only to a loopback Host and to requests from
their own origin; with a control token every request needs it. Binding elsewhere needs a
token, and the admin password never comes from the command line.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from syncd.emulator.command import add_arguments, settings_from
from syncd.emulator.guard import TOKEN_HEADER
from syncd.emulator.server import EmulatorSettings, RunningEmulator

REPOSITORY = Path(__file__).resolve().parents[2]
TOKEN = "correct horse battery staple"


def test_a_rebound_host_name_is_refused_and_loopback_names_are_served(
    emulator: RunningEmulator,
) -> None:
    url = f"{emulator.base_url}/_emulator/state"
    assert requests.get(url, headers={"Host": "attacker.example"}, timeout=10).status_code == 403
    console = f"{emulator.base_url}/_emulator/"
    assert (
        requests.get(console, headers={"Host": "attacker.example"}, timeout=10).status_code == 403
    )
    for host in (f"127.0.0.1:{emulator.port}", f"localhost:{emulator.port}", "[::1]"):
        assert requests.get(url, headers={"Host": host}, timeout=10).status_code == 200, host


def test_a_request_from_another_origin_is_refused(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/tokens?ttl_seconds=60"
    foreign = requests.post(url, headers={"Origin": "http://attacker.example"}, timeout=10)
    assert foreign.status_code == 403 and "jwt" not in foreign.text
    own = requests.post(url, headers={"Origin": emulator.base_url}, timeout=10)
    assert own.status_code == 200 and "jwt" in own.json()


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(control_token=TOKEN)])
def test_with_a_control_token_every_control_request_needs_it(emulator: RunningEmulator) -> None:
    url = f"{emulator.base_url}/_emulator/state"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={TOKEN_HEADER: "wrong"}, timeout=10).status_code == 401
    assert requests.get(url, headers={TOKEN_HEADER: TOKEN}, timeout=10).status_code == 200
    # The console is opened once with the token; its cookie then carries the forms.
    browser = requests.Session()
    assert browser.get(f"{emulator.base_url}/_emulator/", timeout=10).status_code == 401
    page = browser.get(f"{emulator.base_url}/_emulator/", params={"token": TOKEN}, timeout=10)
    assert page.status_code == 200 and "Agent console" in page.text
    assert browser.get(url, timeout=10).status_code == 200
    # LivePerson's own services are not behind the control token.
    domain = f"{emulator.base_url}/api/account/{emulator.account}/service/idp/baseURI.json"
    assert requests.get(domain, params={"version": "1.0"}, timeout=10).status_code == 200


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_a_non_loopback_bind_needs_a_control_token_and_an_own_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="control-token"):
        settings_from(parse("--host", "0.0.0.0"), env={})
    with pytest.raises(ValueError, match="admin-password-file"):
        settings_from(parse("--host", "0.0.0.0", "--control-token", TOKEN), env={})
    password_file = tmp_path / "password"
    password_file.write_text("s3cret\n", encoding="utf-8")
    settings = settings_from(
        parse("--host", "0.0.0.0", "--admin-password-file", str(password_file)),
        env={"SYNCD_EMULATOR_CONTROL_TOKEN": TOKEN},
    )
    assert settings.control_token == TOKEN and settings.admin_password == "s3cret"
    assert TOKEN not in repr(settings) and "s3cret" not in repr(settings)


def test_the_admin_password_comes_from_the_environment_not_argv() -> None:
    settings = settings_from(parse(), env={"SYNCD_EMULATOR_ADMIN_PASSWORD": "from-env"})
    assert settings.admin_password == "from-env"
    with pytest.raises(SystemExit):
        parse("--admin-password", "on-the-command-line")


def test_the_command_warns_and_refuses_a_public_bind_without_a_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "syncd", "emulator", "--host", "0.0.0.0", "--port", "0"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "warning: listening on '0.0.0.0', not loopback" in result.stderr
    assert "set --control-token" in result.stderr
