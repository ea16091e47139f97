"""A Debian 12 machine booted with systemd-nspawn, and commands run inside it through nsenter.

The machine boots the cached root file system read-only with a throwaway tmpfs layered on top
(``--volatile=overlay``), so every run starts from the same clean tree and nothing needs to be
copied. It has only a loopback network (``--private-network``): package registries are out of
reach, which is also how the test proves the install works offline from a wheelhouse.

This host has no systemd as PID 1, so the machine is neither registered (``--register=no``)
nor given a scope unit (``--keep-unit``); commands enter its namespaces with ``nsenter``
instead of machinectl. ``IPAddressDeny=`` in syncd.service needs BPF in the container
(``CAP_BPF``, the ``bpf`` system call) and the unified cgroup hierarchy.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

BOOT_TIMEOUT_SECONDS = 120.0
COMMAND_TIMEOUT_SECONDS = 300.0
POWEROFF_TIMEOUT_SECONDS = 30.0
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MachineError(Exception):
    """The machine did not boot, or a command inside it failed; the message says how."""


@dataclass(frozen=True)
class Bind:
    """A host folder made visible inside the machine."""

    host: Path
    guest: str
    read_only: bool = True

    def option(self) -> str:
        """The systemd-nspawn option that makes this bind."""
        kind = "--bind-ro" if self.read_only else "--bind"
        return f"{kind}={self.host}:{self.guest}"


@dataclass(frozen=True)
class Completed:
    """What a command inside the machine did."""

    command: str
    returncode: int
    stdout: str
    stderr: str


def _container_init_pid(nspawn_pid: int) -> int | None:
    """The host PID of the machine's PID 1 (a descendant of ``nspawn_pid``), if it exists yet."""
    parents: dict[int, int] = {}
    inits: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0"))
        if fields.get("NSpid", "").split()[-1:] == ["1"] and pid != 1:
            inits.append(pid)
    for pid in inits:
        ancestor = parents.get(pid, 0)
        while ancestor > 1:
            if ancestor == nspawn_pid:
                return pid
            ancestor = parents.get(ancestor, 0)
    return None


class Machine:
    """One booted machine; ``run`` executes shell commands in it as root."""

    def __init__(self, rootfs: Path, binds: list[Bind], log_path: Path) -> None:
        self._rootfs = rootfs
        self._binds = binds
        self._log_path = log_path
        self._nspawn: subprocess.Popen[bytes] | None = None
        self._init_pid: int | None = None

    def boot(self) -> None:
        """Boot the machine and wait until systemd says it is up.

        Raises MachineError when systemd-nspawn exits or the boot does not finish in time.
        """
        environment = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        command = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            f"--directory={self._rootfs}",
            "--volatile=overlay",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--console=read-only",
            f"--machine=syncd-test-{os.getpid()}",
            "--capability=CAP_BPF",
            "--system-call-filter=bpf",
            *(bind.option() for bind in self._binds),
        ]
        with open(self._log_path, "wb") as log:
            self._nspawn = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=environment
            )
        deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
        while self._init_pid is None:
            if self._nspawn.poll() is not None:
                raise MachineError(f"systemd-nspawn exited with {self._nspawn.returncode}")
            if time.monotonic() > deadline:
                raise MachineError("the machine's PID 1 never appeared")
            self._init_pid = _container_init_pid(self._nspawn.pid)
            if self._init_pid is None:
                time.sleep(0.2)
        # PID 1 exists before it has become systemd in its new root; until then nsenter finds
        # no shell and systemctl no manager, so ask again until the deadline.
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MachineError("the machine did not finish booting in time")
            booted = self.run(
                f"timeout {remaining:.0f} systemctl is-system-running --wait", check=False
            )
            state = booted.stdout.strip()
            if state in ("running", "degraded"):
                return
            if state in ("maintenance", "stopping"):
                raise MachineError(f"the machine did not finish booting: {state}")
            time.sleep(0.2)

    def run(
        self,
        script: str,
        *,
        check: bool = True,
        timeout_seconds: float = COMMAND_TIMEOUT_SECONDS,
        stdin: str | None = None,
    ) -> Completed:
        """Run ``script`` with bash (errexit, pipefail) as root inside the machine.

        Raises MachineError when ``check`` is set and the script exits non-zero.
        """
        if self._init_pid is None:
            raise MachineError("the machine is not running")
        command = [
            "nsenter",
            f"--target={self._init_pid}",
            "--mount",
            "--uts",
            "--ipc",
            "--net",
            "--pid",
            "--cgroup",
            "--root",
            "--wd",
            "--",
            "/usr/bin/env",
            "-i",
            f"PATH={CONTAINER_PATH}",
            "LANG=C.UTF-8",
            "HOME=/root",
            "SYSTEMD_PAGER=",
            "SYSTEMD_COLORS=0",
            "/bin/bash",
            "-e",
            "-o",
            "pipefail",
            "-c",
            script,
        ]
        completed = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
        result = Completed(script, completed.returncode, completed.stdout, completed.stderr)
        if check and completed.returncode != 0:
            raise MachineError(
                f"exit {completed.returncode} from:\n{script}\n--- stdout\n{completed.stdout}"
                f"--- stderr\n{completed.stderr}"
            )
        return result

    def write_file(self, path: str, text: str, mode: str = "0644") -> None:
        """Write ``text`` to ``path`` inside the machine (root-owned, ``mode``)."""
        self.run(f"install -D -m {mode} /dev/stdin {path}", stdin=text)

    def poweroff(self) -> None:
        """Stop the machine: SIGTERM asks its systemd to shut down, SIGKILL if it hangs."""
        if self._nspawn is None or self._nspawn.poll() is not None:
            return
        self._nspawn.send_signal(signal.SIGTERM)
        try:
            self._nspawn.wait(timeout=POWEROFF_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._nspawn.kill()
            self._nspawn.wait()
