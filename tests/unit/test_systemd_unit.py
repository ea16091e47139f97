"""The shipped systemd unit: it loads cleanly, stays hardened, and explains itself.

``systemd-analyze verify`` checks that ExecStart='s program exists and is executable, which
/opt/syncd/bin/syncd is not on a development machine, and it exits 0 even on unknown keys.
So the unit is verified unchanged inside a throwaway root (``--root=``) that holds the unit,
an executable stand-in at exactly the path ExecStart= names, and a copy of the host's unit
directory (verify loads the targets every service depends on by default), and any output at
all counts as a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT_PATH = Path(__file__).resolve().parents[2] / "systemd" / "syncd.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
HOST_UNIT_DIRECTORIES = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]
MAXIMUM_EXPOSURE_SCORE = 1.5
ANALYZE_TIMEOUT_SECONDS = 120

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed"
)


def directive_values(unit_text: str, key: str) -> list[str]:
    """The values of every ``key=`` line of the unit, in order."""
    prefix = f"{key}="
    return [
        line[len(prefix) :].strip() for line in unit_text.splitlines() if line.startswith(prefix)
    ]


def exec_start_program(unit_text: str) -> Path:
    """The program ExecStart= runs, without systemd's ``-@:+!`` prefix characters."""
    (command,) = directive_values(unit_text, "ExecStart")
    return Path(command.split()[0].lstrip("-@:+!"))


def verification_root(tmp_path: Path, unit_text: str) -> Path:
    """A file system root in which ``unit_text`` can be verified as syncd.service."""
    host_units = next((path for path in HOST_UNIT_DIRECTORIES if path.is_dir()), None)
    if host_units is None:
        pytest.skip("no systemd unit directory on this machine")
    root = tmp_path / "root"
    unit_directory = root / "etc" / "systemd" / "system"
    unit_directory.mkdir(parents=True)
    (unit_directory / "syncd.service").write_text(unit_text, encoding="utf-8")
    shutil.copytree(host_units, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    program = root / exec_start_program(unit_text).relative_to("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    program.chmod(0o755)
    return root


def verify_output(tmp_path: Path, unit_text: str) -> str:
    """Everything ``systemd-analyze verify`` prints about ``unit_text``."""
    assert SYSTEMD_ANALYZE is not None
    root = verification_root(tmp_path, unit_text)
    completed = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", "syncd.service"],
        capture_output=True,
        text=True,
        timeout=ANALYZE_TIMEOUT_SECONDS,
        check=False,
    )
    return completed.stdout + completed.stderr


@needs_systemd_analyze
def test_unit_verifies_without_a_single_message(tmp_path: Path) -> None:
    assert verify_output(tmp_path, UNIT_PATH.read_text(encoding="utf-8")) == ""


@needs_systemd_analyze
def test_verification_catches_a_misspelt_directive(tmp_path: Path) -> None:
    # Proves the check above is not vacuous: a typo silently disables a protection.
    misspelt = UNIT_PATH.read_text(encoding="utf-8").replace("\nProtectSystem=", "\nProtectSytem=")
    assert "Unknown key 'ProtectSytem'" in verify_output(tmp_path, misspelt)


@needs_systemd_analyze
def test_offline_exposure_score_is_at_most_one_and_a_half() -> None:
    assert SYSTEMD_ANALYZE is not None
    completed = subprocess.run(
        [
            SYSTEMD_ANALYZE,
            "security",
            "--offline=true",
            f"--threshold={round(MAXIMUM_EXPOSURE_SCORE * 10)}",
            "--no-pager",
            str(UNIT_PATH),
        ],
        capture_output=True,
        text=True,
        timeout=ANALYZE_TIMEOUT_SECONDS,
        check=False,
    )
    found = re.search(r"Overall exposure level for syncd\.service: (\d+\.\d)", completed.stdout)
    assert found is not None, completed.stdout + completed.stderr
    assert float(found.group(1)) <= MAXIMUM_EXPOSURE_SCORE
    assert completed.returncode == 0, completed.stderr


def test_every_directive_has_a_comment_right_above_it() -> None:
    lines = UNIT_PATH.read_text(encoding="utf-8").splitlines()
    unexplained = [
        line
        for previous, line in zip(["#", *lines], lines, strict=False)
        if line.strip() and not line.startswith(("#", "[")) and not previous.startswith("#")
    ]
    assert unexplained == []


def test_a_configuration_error_exit_is_never_restarted() -> None:
    unit_text = UNIT_PATH.read_text(encoding="utf-8")
    (prevented,) = directive_values(unit_text, "RestartPreventExitStatus")
    assert str(os.EX_CONFIG) in prevented.split()
    assert directive_values(unit_text, "Restart") == ["on-failure"]
