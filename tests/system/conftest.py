"""The booted machine every system test shares, with syncd installed by the README's commands.

The tests run only where they can: as root, with systemd-nspawn, nsenter and debootstrap
installed, and a machine that actually boots. Anywhere else they are left out at collection
and one line says why (``make test`` prints it at the end); ``.ci/run`` installs the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.container import Bind, Machine, MachineError
from tests.system.readme_blocks import readme_block
from tests.system.rootfs import RootfsUnavailable, cached_rootfs

REPOSITORY = Path(__file__).resolve().parents[2]
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--quiet")
TOOLS = ("systemd-nspawn", "nsenter", "debootstrap")
# The account of config.example.toml; the emulator serves it so only domain_api changes.
ACCOUNT = "56072331"
EMULATOR_PORT = 8780
ADMIN_USER = "it-admin@example.com"
# The emulator's admin password, known only to this test.
ADMIN_PASSWORD = "system-test admin password"
CONFIG = "/etc/syncd/config.toml"
EMULATOR_UNIT = f"""\
[Unit]
Description=LivePerson emulator for the system test
[Service]
DynamicUser=yes
ExecStart=/opt/syncd/bin/syncd emulator --host 127.0.0.1 --port {EMULATOR_PORT} \
--account {ACCOUNT} --admin-user {ADMIN_USER} --file-sharing-disabled
Environment="SYNCD_EMULATOR_ADMIN_PASSWORD={ADMIN_PASSWORD}"
"""


def reason_to_skip() -> str | None:
    """Why this machine cannot run the system test, or None when it can try."""
    if sys.platform != "linux":
        return "system test skipped: needs Linux"
    if os.geteuid() != 0:
        return "system test skipped: needs root (systemd-nspawn boots the test machine)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"system test skipped: {', '.join(missing)} not installed "
            "(apt-get install systemd-container debootstrap)"
        )
    return None


_SYSTEM_TESTS = Path(__file__).resolve().parent
_skip_reason: list[str] = []


def _cannot_boot() -> str | None:
    """Why no machine boots here (the root file system cannot be made, nspawn fails), or
    None. Builds the cached root file system on first use (about a minute)."""
    try:
        rootfs = cached_rootfs()
    except RootfsUnavailable as error:
        return f"system test skipped: {error}"
    with tempfile.TemporaryDirectory(prefix="syncd-system-probe-") as scratch:
        probe = Machine(rootfs, [], Path(scratch) / "console.log")
        try:
            probe.boot()
        except MachineError as error:
            return f"system test skipped: systemd-nspawn cannot boot a machine here: {error}"
        finally:
            probe.poweroff()
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave the system tests out when this machine cannot run them, saying why once.

    Only when system tests were collected: a run of other tests pays nothing for this.
    """
    system = [item for item in items if _SYSTEM_TESTS in item.path.parents]
    if not system:
        return
    reason = reason_to_skip() or _cannot_boot()
    if reason is None:
        return
    _skip_reason.append(reason)
    items[:] = [item for item in items if item not in system]
    config.hook.pytest_deselected(items=system)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the one line saying the system test did not run, and why."""
    for reason in _skip_reason:
        terminalreporter.write_line(reason)


def _source_copy(target: Path) -> Path:
    """Copy the files git knows (committed or not, minus ignored ones) to ``target``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPOSITORY,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = REPOSITORY / name
        if source.is_file():
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


def _wheelhouse(source: Path, target: Path) -> Path:
    """Build wheels of syncd, its dependencies and its build tools into ``target``."""
    subprocess.run(
        [*PIP_WHEEL, "--wheel-dir", str(target), ".", "setuptools>=77", "wheel"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    return target


def _test_files(target: Path) -> Path:
    """A scan the scanner user copies into the outbox, and a file that is not an image."""
    from tests.helpers.images import jpeg_bytes

    target.mkdir()
    (target / "scan.jpg").write_bytes(jpeg_bytes())
    (target / "broken.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    return target


@pytest.fixture(scope="session")
def machine() -> Iterator[Machine]:
    """A booted Debian 12 machine with syncd installed and running as the README says."""
    # Collection already left the tests out where the machine cannot boot (see above), so
    # anything failing from here on is an error of syncd or its install, not a skip.
    rootfs = cached_rootfs()
    with tempfile.TemporaryDirectory(prefix="syncd-system-") as scratch_name:
        scratch = Path(scratch_name)
        source = _source_copy(scratch / "src")
        wheels = _wheelhouse(source, scratch / "wheels")
        files = _test_files(scratch / "files")
        machine = Machine(
            rootfs,
            [Bind(source, "/src", read_only=False), Bind(wheels, "/wheels"), Bind(files, "/files")],
            scratch / "console.log",
        )
        try:
            machine.boot()
            _install(machine)
            yield machine
        finally:
            machine.poweroff()


def _install(machine: Machine) -> None:
    """Follow the README: install, configure, enable file sharing, start."""
    # The machine has no route to a package index: pip takes everything from the wheelhouse.
    machine.write_file("/etc/pip.conf", "[global]\nno-index = true\nfind-links = /wheels\n")
    machine.run("cd /src\n" + readme_block("install"))
    machine.run("cd /src\n" + readme_block("extra-share"))
    # The administrator's edit: point the example config at the emulator.
    machine.run(
        f"sed -i 's|^domain_api = .*|domain_api = \"http://127.0.0.1:{EMULATOR_PORT}\"|' {CONFIG}"
    )
    machine.write_file("/etc/systemd/system/syncd-emulator.service", EMULATOR_UNIT)
    machine.run(
        "systemctl daemon-reload && systemctl start syncd-emulator\n"
        f"timeout 60 bash -c 'until (exec 3<>/dev/tcp/127.0.0.1/{EMULATOR_PORT}) 2>/dev/null;"
        " do sleep 0.2; done'"
    )
    machine.write_file("/etc/syncd/lp-admin-password", ADMIN_PASSWORD + "\n", mode="0600")
    machine.run("cd /src\n" + readme_block("enable-file-sharing"))
    machine.run("cd /src\n" + readme_block("start"))
