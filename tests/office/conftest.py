"""A shared back office, as the unit's comments describe it, with real users.

The ``office_users`` fixture creates a ``syncd`` user and a ``scanner`` user (when missing)
who share the group ``scanners``, and removes what it created at the end. The ``office``
fixture lays out, per test, what a site has: a scan root only root may change
(``root:root 0755``), an outbox and an inbox ``root:scanners 2770``, a state folder
``syncd:syncd 0700`` and a config ``root:root 0644``. The daemon runs as ``syncd`` (with
``scanners`` as supplementary group and the unit's ``UMask=0007``), the attacker or the
ordinary scanner as ``scanner``. ``fs.protected_hardlinks`` is whatever the machine has
(1 on every mainstream distribution; the tests say so when it is not).

Creating users needs root: CI runs the suite as root; elsewhere these tests are skipped
with that reason.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.emulator.server import RunningEmulator
from tests.office.world import Office, OfficeUsers

GROUP = "scanners"
DAEMON_USER = "syncd"
SCANNER_USER = "scanner"


def _group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def _user_id(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def office_users() -> Iterator[OfficeUsers]:
    """The ``syncd`` and ``scanner`` users in group ``scanners`` (created when missing)."""
    if os.geteuid() != 0:
        pytest.skip(
            "the shared-office tests create the users syncd and scanner (group scanners) "
            "and need root for that; CI runs them as root"
        )
    if shutil.which("useradd") is None or shutil.which("groupadd") is None:
        pytest.skip("useradd/groupadd are not installed; cannot create the office users")
    created_users: list[str] = []
    created_group = False
    if _group_id(GROUP) is None:
        _run("groupadd", "--system", GROUP)
        created_group = True
    for user in (DAEMON_USER, SCANNER_USER):
        if _user_id(user) is None:
            _run(
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--groups",
                GROUP,
                user,
            )
            created_users.append(user)
        else:
            _run("usermod", "--append", "--groups", GROUP, user)
    try:
        yield OfficeUsers(
            daemon_uid=pwd.getpwnam(DAEMON_USER).pw_uid,
            daemon_gid=pwd.getpwnam(DAEMON_USER).pw_gid,
            scanner_uid=pwd.getpwnam(SCANNER_USER).pw_uid,
            scanner_gid=pwd.getpwnam(SCANNER_USER).pw_gid,
            scanners_gid=grp.getgrnam(GROUP).gr_gid,
        )
    finally:
        for user in created_users:
            subprocess.run(["userdel", user], check=False, capture_output=True, timeout=60)
        if created_group:
            subprocess.run(["groupdel", GROUP], check=False, capture_output=True, timeout=60)


@pytest.fixture
def office(office_users: OfficeUsers, emulator: RunningEmulator) -> Iterator[Office]:
    """A fresh office (folders, config) on the emulator; the daemon is started by the test."""
    world = Office.create(office_users, emulator)
    try:
        yield world
    finally:
        world.close()


@pytest.fixture
def protected_hardlinks() -> bool:
    """Whether the kernel refuses links to files the linker does not own."""
    return Path("/proc/sys/fs/protected_hardlinks").read_text().strip() == "1"
