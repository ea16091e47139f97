"""`syncd enable-file-sharing` as a real subprocess against an emulator whose account has
file sharing switched off (LivePerson's step 1).

The password comes from ``$CREDENTIALS_DIRECTORY/lp-admin-password`` (systemd's
``LoadCredential=``), else ``SYNCD_ADMIN_PASSWORD``; it never shows in any output.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator
from tests.helpers.cli import REPOSITORY, run_syncd, syncd_command, syncd_environment
from tests.helpers.harness import write_config

ADMIN = "it-admin"
PASSWORD = "correct horse battery staple 7"
SETTING = "messaging.file.sharing.enabled"
EX_OK = 0
EX_NOPERM = 77
EX_CONFIG = 78


@pytest.fixture
def sharing_off() -> Iterator[RunningEmulator]:
    """An emulator whose account starts with file sharing disabled."""
    settings = EmulatorSettings(
        port=0, admin_user=ADMIN, admin_password=PASSWORD, file_sharing_enabled=False
    )
    with start_emulator(settings) as running:
        yield running


def _sharing_enabled(emulator: RunningEmulator) -> bool:
    return emulator.core.site_settings.file_sharing_enabled


def _credentials(folder: Path, password: str, mode: int = 0o600) -> Path:
    """A credentials folder as systemd makes it for ``LoadCredential=lp-admin-password``."""
    folder.mkdir(mode=0o700)
    credential = folder / "lp-admin-password"
    credential.write_text(password + "\n", encoding="utf-8")
    credential.chmod(mode)
    return folder


def _enable(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = run_syncd("enable-file-sharing", "--config", str(config), "--username", ADMIN, env=env)
    assert PASSWORD not in result.stdout + result.stderr
    return result


def test_the_credential_file_enables_sharing_and_prints_old_and_new_values(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    credentials = _credentials(tmp_path / "credentials", PASSWORD)
    assert not _sharing_enabled(sharing_off)

    result = _enable(config, {"CREDENTIALS_DIRECTORY": str(credentials)})

    assert result.returncode == EX_OK, result.stderr
    assert result.stdout.strip() == f"{SETTING}: False → True"
    assert _sharing_enabled(sharing_off)
    again = _enable(config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert again.returncode == EX_OK, again.stderr
    assert again.stdout.strip() == f"{SETTING}: True → True"


def test_the_environment_variable_is_used_when_there_is_no_credential(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    result = _enable(config, {"SYNCD_ADMIN_PASSWORD": PASSWORD})
    assert result.returncode == EX_OK, result.stderr
    assert result.stdout.strip() == f"{SETTING}: False → True"
    assert _sharing_enabled(sharing_off)


def test_the_credential_file_wins_over_the_environment(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    credentials = _credentials(tmp_path / "credentials", PASSWORD)
    result = _enable(
        config,
        {"CREDENTIALS_DIRECTORY": str(credentials), "SYNCD_ADMIN_PASSWORD": "stale password"},
    )
    assert result.returncode == EX_OK, result.stderr
    assert _sharing_enabled(sharing_off)


def test_a_wrong_password_is_a_clear_error_and_changes_nothing(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    wrong = "not-the-password-42"
    result = _enable(config, {"SYNCD_ADMIN_PASSWORD": wrong})
    assert result.returncode == EX_NOPERM
    assert f"LivePerson refused the login of {ADMIN!r}" in result.stderr
    assert wrong not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not _sharing_enabled(sharing_off)


def test_a_credential_file_other_users_can_read_is_refused_naming_it(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    credentials = _credentials(tmp_path / "credentials", PASSWORD, mode=0o644)
    result = _enable(config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert result.returncode == EX_CONFIG
    assert f"credential {credentials / 'lp-admin-password'}: readable by other users" in (
        result.stderr
    )
    assert "chmod 600" in result.stderr
    assert not _sharing_enabled(sharing_off)


def test_a_world_readable_config_is_warned_about_and_the_command_proceeds(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    config.chmod(0o644)
    result = _enable(config, {"SYNCD_ADMIN_PASSWORD": PASSWORD})
    assert result.returncode == EX_OK, result.stderr
    assert (
        f"syncd: warning: {config} is readable by every user on this machine; "
        f"run: chmod o-r {config}"
    ) in result.stderr
    assert _sharing_enabled(sharing_off)


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid (util-linux)")
def test_without_any_password_or_terminal_it_says_where_to_put_one(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    # setsid: no controlling terminal, so getpass cannot open /dev/tty and stdin is closed.
    result = subprocess.run(
        [
            "setsid",
            *syncd_command("enable-file-sharing", "--config", str(config), "--username", ADMIN),
        ],
        cwd=REPOSITORY,
        env=syncd_environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == EX_CONFIG
    assert "lp-admin-password" in result.stderr and "SYNCD_ADMIN_PASSWORD" in result.stderr
    assert not _sharing_enabled(sharing_off)


def test_the_admin_username_comes_from_the_config_when_not_given(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)
    with config.open("a", encoding="utf-8") as file:
        file.write(f'\n[admin]\nusername = "{ADMIN}"\n')

    result = run_syncd(
        "enable-file-sharing", "--config", str(config), env={"SYNCD_ADMIN_PASSWORD": PASSWORD}
    )

    assert result.returncode == EX_OK, result.stderr
    assert _sharing_enabled(sharing_off)


def test_without_any_admin_username_the_missing_key_is_named(
    tmp_path: Path, sharing_off: RunningEmulator
) -> None:
    config = write_config(tmp_path, sharing_off.base_url, sharing_off.account)

    result = run_syncd(
        "enable-file-sharing", "--config", str(config), env={"SYNCD_ADMIN_PASSWORD": PASSWORD}
    )

    assert result.returncode == EX_CONFIG
    assert "admin.username" in result.stderr
    assert not _sharing_enabled(sharing_off)
