"""The office world: folders with a site's owners and modes, and processes run as users.

Everything the daemon or the scanner does runs in a child process with that user's uid,
gids and umask (``subprocess`` drops them before exec); the test process itself stays root
only to set the scene and to read what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from syncd.emulator.server import RunningEmulator
from tests.helpers.harness import REPOSITORY, notify_listener, wait_for_ready
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

# The unit's UMask=: files syncd makes are rw for owner and group, nothing for others.
UNIT_UMASK = 0o007
SHARED_MODE = 0o2770

# Printed as JSON by a child running as syncd: the state is syncd's alone (0700), and a
# read by root could leave root-owned -wal/-shm files behind that syncd then cannot open.
_READ_STATE = """
import json, sys
from pathlib import Path
from syncd.state.model import OutboundState
from syncd.state.store import StateStore
with StateStore.open(Path(sys.argv[1]), exclusive=False) as store:
    rows = store.outbound_in_states(tuple(OutboundState))
outbound = [
    {"id": r.id, "name": r.source_name, "state": str(r.state), "error": r.last_error,
     "final_path": None if r.final_path is None else str(r.final_path)}
    for r in rows
]
print(json.dumps({"outbound": outbound}))
"""


@dataclass(frozen=True)
class OfficeUsers:
    """Numeric ids of the office's users and their shared group."""

    daemon_uid: int
    daemon_gid: int
    scanner_uid: int
    scanner_gid: int
    scanners_gid: int


def _reachable_by_others(path: str) -> bool:
    """True when every folder on the way to ``path`` lets other users through (o+x)."""
    current = Path(path)
    for folder in current.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(current).st_mode & stat.S_IXOTH)


def interpreter() -> tuple[str, str]:
    """A Python the syncd user may run, and the PYTHONPATH that gives it this checkout and
    the test venv's packages (the venv's own interpreter may live under /root)."""
    real = os.path.realpath(sys.executable)
    if _reachable_by_others(real):
        python = real
    else:
        python = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        if not os.path.exists(python) or not _reachable_by_others(python):
            pytest.skip(f"no Python {sys.version_info[:2]} that the syncd user may run")
    paths = [str(REPOSITORY), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return python, os.pathsep.join(dict.fromkeys(paths))


@dataclass
class Office:
    """One test's office: folders, config, emulator and the processes run as users."""

    users: OfficeUsers
    emulator: RunningEmulator
    base: Path
    python: str
    python_path: str
    daemon: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def create(
        cls, users: OfficeUsers, emulator: RunningEmulator, route: dict[str, Any] | None = None
    ) -> Office:
        base = Path(tempfile.mkdtemp(prefix="syncd-office-"))
        base.chmod(0o755)
        python, python_path = interpreter()
        office = cls(users, emulator, base, python, python_path)
        office.scans.mkdir(mode=0o755)
        for folder in (office.outbox, office.inbox):
            folder.mkdir()
            os.chown(folder, 0, users.scanners_gid)
            folder.chmod(SHARED_MODE)
        office.state_dir.mkdir()
        os.chown(office.state_dir, users.daemon_uid, users.daemon_gid)
        office.state_dir.chmod(0o700)
        office.incoming.mkdir(mode=0o755)
        office.write_config(route or {})
        # A file of syncd's own that it never has reason to write: planted links aim here.
        office.canary.write_bytes(b"syncd's own file; must never change\n")
        os.chown(office.canary, users.daemon_uid, users.daemon_gid)
        office.canary.chmod(0o600)
        return office

    # --- layout ---------------------------------------------------------------------------

    @property
    def scans(self) -> Path:
        return self.base / "scans"

    @property
    def outbox(self) -> Path:
        return self.scans / "outbox"

    @property
    def inbox(self) -> Path:
        return self.scans / "inbox"

    @property
    def state_dir(self) -> Path:
        return self.base / "state"

    @property
    def database(self) -> Path:
        return self.state_dir / "syncd.sqlite3"

    @property
    def canary(self) -> Path:
        return self.state_dir / "canary"

    @property
    def incoming(self) -> Path:
        """Root-owned, world-readable staging for the bytes a scanner then copies in."""
        return self.base / "incoming"

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    def write_config(self, route: dict[str, Any]) -> None:
        entries = {
            "name": "office",
            "outbox": str(self.outbox),
            "inbox": str(self.inbox),
            "settle_seconds": 0.3,
            "rescan_seconds": 2,
            **route,
        }
        lines = [
            "[liveperson]",
            f'account = "{self.emulator.account}"',
            f'domain_api = "{self.emulator.base_url}"',
            "",
            "[state]",
            f'database = "{self.database}"',
            "",
            "[[route]]",
        ]
        for key, value in entries.items():
            lines.append(f"{key} = {json.dumps(value)}")
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.config.chmod(0o644)

    # --- processes as users -----------------------------------------------------------------

    def _environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": self.python_path,
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            "HOME": str(self.base),
        }
        return {**environment, **(extra or {})}

    def as_daemon_user(
        self, *arguments: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python ARGUMENTS`` as syncd (uid, gid, scanners, UMask=0007)."""
        return subprocess.run(
            [self.python, *arguments],
            cwd=self.base,
            env=self._environment(),
            user=self.users.daemon_uid,
            group=self.users.daemon_gid,
            extra_groups=[self.users.scanners_gid],
            umask=UNIT_UMASK,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    def syncd(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """``syncd ARGUMENTS --config CONFIG`` as the syncd user."""
        return self.as_daemon_user("-m", "syncd", *arguments, "--config", str(self.config))

    def as_scanner(
        self, script: str, *arguments: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run shell ``script`` (``$1``… are ``arguments``) as the scanner user in the outbox."""
        return subprocess.run(
            ["/bin/sh", "-c", script, "sh", *arguments],
            cwd=self.scans,
            env=self._environment(),
            user=self.users.scanner_uid,
            group=self.users.scanner_gid,
            extra_groups=[self.users.scanners_gid],
            umask=0o002,
            capture_output=True,
            text=True,
            timeout=60,
            check=check,
        )

    def drop_scan(self, name: str, data: bytes, mode: int = 0o660) -> None:
        """The scanner writes ``data`` into the outbox as ``name`` (its file, ``mode``)."""
        staged = self.incoming / f"staged-{len(os.listdir(self.incoming))}"
        staged.write_bytes(data)
        staged.chmod(0o644)
        self.as_scanner(
            'cp "$1" "outbox/.in-$2" && chmod "$3" "outbox/.in-$2" && '
            'mv "outbox/.in-$2" "outbox/$2"',
            str(staged),
            name,
            f"{mode:o}",
        )

    def start_daemon(self) -> subprocess.Popen[bytes]:
        """``syncd run`` as syncd, as the unit starts it; returns once it sent READY=1."""
        listener, socket_path = notify_listener()
        socket_path.parent.chmod(0o755)
        socket_path.chmod(0o777)
        log = self.base / f"daemon-{len(self.logs)}.log"
        self.logs.append(log)
        with open(log, "ab") as sink:
            self.daemon = subprocess.Popen(
                [self.python, "-m", "syncd", "run", "--config", str(self.config)],
                cwd=self.base,
                env=self._environment({"NOTIFY_SOCKET": str(socket_path)}),
                user=self.users.daemon_uid,
                group=self.users.daemon_gid,
                extra_groups=[self.users.scanners_gid],
                umask=UNIT_UMASK,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        try:
            wait_for_ready(listener, self.daemon)
        finally:
            listener.close()
        return self.daemon

    def stop_daemon(self) -> int:
        """SIGTERM the daemon and return its exit status."""
        assert self.daemon is not None
        if self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
        code = self.daemon.wait(timeout=60)
        self.daemon = None
        return code

    def log_text(self) -> str:
        return "".join(log.read_text(errors="replace") for log in self.logs if log.exists())

    def close(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait(timeout=30)
        shutil.rmtree(self.base, ignore_errors=True)

    # --- what happened --------------------------------------------------------------------

    def state(self) -> dict[str, list[dict[str, Any]]]:
        """Outbound and inbound rows, read as syncd."""
        result = self.as_daemon_user("-c", _READ_STATE, str(self.database))
        assert result.returncode == 0, result.stderr
        document: dict[str, list[dict[str, Any]]] = json.loads(result.stdout)
        return document

    def rows_named(self, name: str) -> list[dict[str, Any]]:
        return [row for row in self.state()["outbound"] if row["name"] == name]

    def status(self) -> dict[str, Any]:
        """``syncd status --json`` as syncd."""
        result = self.syncd("status", "--json")
        assert result.returncode == 0, result.stderr
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def published_captions(self) -> list[str]:
        return [event["event"]["message"]["caption"] for event in hosted_file_events(self.emulator)]

    def wait_published(self, *captions: str, timeout_seconds: float = 90) -> None:
        """Wait until every caption in ``captions`` was published (the default caption is
        the file name)."""
        wait_until(
            lambda: set(captions) <= set(self.published_captions()),
            timeout_seconds,
            f"{captions} published",
        )

    def open_conversation(self, timeout_seconds: float = 60) -> str:
        """The route's open conversation; when there is none, the scanner drops a scan
        (syncd opens a conversation only when a file is ready to publish)."""

        def find() -> str | None:
            for conversation in self.emulator.state()["conversations"]:
                if conversation["state"] == "OPEN":
                    return str(conversation["id"])
            return None

        if find() is None:
            self.drop_scan("opener.jpg", jpeg_bytes(320, 240, seed=77))
        conversation: str = wait_until(find, timeout_seconds, "an open conversation")
        return conversation

    def canary_intact(self) -> bool:
        return self.canary.read_bytes() == b"syncd's own file; must never change\n"

    def database_sound(self) -> bool:
        """The state opens and SQLite's quick_check finds nothing (read as syncd)."""
        result = self.as_daemon_user(
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]);"
            " print(c.execute('PRAGMA quick_check').fetchone()[0])",
            str(self.database),
        )
        return result.returncode == 0 and result.stdout.strip() == "ok"
