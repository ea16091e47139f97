"""Configs and running daemons for integration tests (real folders, real emulator)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from syncd.config import Config, load_config
from syncd.service.daemon import Daemon
from syncd.state.store import StateStore

REPOSITORY = Path(__file__).resolve().parents[2]

T = TypeVar("T")

# Longer than any test, so that the watcher's events are what delivers (see write_config).
RESCAN_SECONDS = 3600


def read_state(database: Path, read: Callable[[StateStore], T]) -> T | None:
    """Run ``read`` on the state database opened read-only, as ``syncd status`` does
    beside a running daemon; None while the daemon has not created it yet.
    """
    if not database.exists():
        return None
    with StateStore.open(database, exclusive=False) as store:
        return read(store)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def write_config(
    folder: Path,
    domain_api: str,
    account: str,
    routes: list[Mapping[str, Any]] | None = None,
    liveperson: Mapping[str, Any] | None = None,
) -> Path:
    """Write a config with ``routes`` (name → folders under ``folder``) and return its path.

    Each route mapping needs ``name``; ``outbox`` and ``inbox`` default to
    ``folder/NAME/outbox`` and ``folder/NAME/inbox``; other keys are written as given.
    Settle times default to 0.3 s so tests stay quick; ``create_folders`` defaults to true
    (the outbox is made here, the inbox by the daemon). The periodic rescan defaults to an
    hour, far longer than any test: files dropped while the daemon runs must then arrive
    through watcher events (a rescan would hide a watcher that loses them); the start-up
    scan still runs.
    """
    routes = routes or [{"name": "scans"}]
    lines = [
        "[liveperson]",
        f"account = {_toml_value(account)}",
        f"domain_api = {_toml_value(domain_api)}",
    ]
    for key, value in (liveperson or {}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    lines += ["", "[state]", f"database = {_toml_value(folder / 'state' / 'syncd.sqlite3')}"]
    for route in routes:
        entry = {
            "outbox": folder / route["name"] / "outbox",
            "inbox": folder / route["name"] / "inbox",
            "settle_seconds": 0.3,
            "rescan_seconds": RESCAN_SECONDS,
            # The daemon makes the inbox; tests of missing folders pass False.
            "create_folders": True,
            **route,
        }
        lines += ["", "[[route]]"] + [
            f"{key} = {_toml_value(value)}" for key, value in entry.items()
        ]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    for route in routes:
        (folder / route["name"] / "outbox").mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class RunningDaemon:
    """A daemon running ``run_until_stopped`` in a thread of the test process."""

    daemon: Daemon
    thread: threading.Thread
    config: Config

    def conversation(self, route: str, timeout_seconds: float = 60) -> str:
        """Return the open conversation of ``route``; when it has none, drop one scan into
        its outbox (syncd opens a conversation only when a file is ready) and wait for it."""
        from tests.helpers.images import jpeg_bytes
        from tests.helpers.waiting import wait_until

        if self.daemon.store.open_conversation(route) is None:
            outbox = self.config.route(route).outbox
            temporary = outbox / ".opener.jpg.writing"
            temporary.write_bytes(jpeg_bytes(320, 240, seed=99))
            os.rename(temporary, outbox / f"opener-{time.time_ns()}.jpg")
        conversation_id: str = wait_until(
            lambda: self.daemon.store.open_conversation(route), timeout_seconds, "a conversation"
        )
        return conversation_id

    def stop(self) -> None:
        self.daemon.request_stop()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "daemon did not stop within 60 s"


@contextmanager
def running_daemon(config_path: Path) -> Iterator[RunningDaemon]:
    """Start a daemon in-process on ``config_path``; stop it (gracefully) on exit."""
    config = load_config(config_path)
    daemon = Daemon(config)
    daemon.start()
    thread = threading.Thread(target=daemon.run_until_stopped, name="test-daemon", daemon=True)
    thread.start()
    running = RunningDaemon(daemon, thread, config)
    try:
        yield running
    finally:
        running.stop()


def start_daemon_process(
    config_path: Path,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    wait_ready: bool = True,
) -> subprocess.Popen[bytes]:
    """Start ``syncd run`` as a separate process (for SIGKILL crash tests).

    With ``wait_ready`` it waits for the daemon's ``READY=1`` on a notify socket of the
    test's own, exactly as systemd would, so a following SIGTERM finds its handler installed.
    """
    environment = {**os.environ, **(env or {})}
    listener = None
    if wait_ready:
        listener, socket_path = notify_listener()
        environment["NOTIFY_SOCKET"] = str(socket_path)
    else:
        environment.pop("NOTIFY_SOCKET", None)
    stderr = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", "--config", str(config_path)],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    if listener is not None:
        wait_for_ready(listener, process)
    return process


def notify_listener() -> tuple[socket.socket, Path]:
    """A datagram socket standing in for systemd's notify socket, and its path."""
    socket_path = Path(tempfile.mkdtemp(prefix="syncd-notify-")) / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(socket_path))
    listener.settimeout(1.0)
    return listener, socket_path


def wait_for_ready(
    listener: socket.socket, process: subprocess.Popen[bytes], timeout_seconds: float = 60
) -> None:
    """Wait for ``READY=1`` from ``process`` on ``listener`` (closed afterwards); returns
    early when the process exits, so the caller's next check sees why."""
    with listener:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline and process.poll() is None:
            try:
                message = listener.recv(4096)
            except TimeoutError:
                continue
            if b"READY=1" in message.split(b"\n"):
                return


def stop_process(process: subprocess.Popen[bytes], timeout_seconds: float = 60) -> int:
    """SIGTERM a daemon process and return its exit code (SIGKILL if it hangs)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode
