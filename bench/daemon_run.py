"""Running the real daemon against the real emulator for the end-to-end benchmarks.

The emulator runs in the benchmark's own process (a thread on loopback); syncd runs as
``python -m syncd run`` in a child process, started exactly as systemd starts it (READY=1 on a
notify socket). Published files are read from the emulator's own conversation book, with the
emulator's receive timestamps (``serverTimestamp``, ms).
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.emulator.server import EmulatorSettings, RunningEmulator, start_emulator

REPOSITORY = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Published:
    """One consumer ``hosted/file`` event the emulator received."""

    caption: str
    conversation_id: str
    server_time: float  # unix seconds, from the emulator's serverTimestamp (ms)
    relative_path: str = ""  # where the file is in the emulator's storage


@contextmanager
def emulator(**settings: Any) -> Iterator[RunningEmulator]:
    """A fresh emulator on 127.0.0.1 (port chosen by the kernel)."""
    running = start_emulator(EmulatorSettings(port=0, **settings))
    try:
        yield running
    finally:
        running.stop()


def published(running: RunningEmulator) -> list[Published]:
    """Every consumer hosted-file event so far, read straight from the emulator's book.

    The book is read on the emulator's loop; ``state()`` would also hash every stored object,
    which costs more than the figures being measured once hundreds of uploads are stored.
    """

    def collect() -> list[Published]:
        found = []
        for conversation in running.core.book.all():
            for event in conversation.events:
                body = event.event
                if (
                    event.role == "CONSUMER"
                    and body.get("contentType") == "hosted/file"
                    and event.server_timestamp_ms is not None
                ):
                    found.append(
                        Published(
                            str(body["message"].get("caption", "")),
                            conversation.conversation_id,
                            event.server_timestamp_ms / 1000,
                            str(body["message"].get("relativePath", "")),
                        )
                    )
        return found

    return running._call(collect)


def write_config(
    folder: Path,
    running: RunningEmulator,
    routes: list[str],
    *,
    settle_seconds: float | None = None,
    watch: str = "events",
    caption: str = "{filename}",
    upload_window_files: int | None = None,
) -> Path:
    """A config for ``routes`` under ``folder`` (state in ``folder/state``); its path."""
    lines = [
        "[liveperson]",
        f'account = "{running.account}"',
        f'domain_api = "{running.base_url}"',
        "",
        "[state]",
        f'database = "{folder / "state" / "syncd.sqlite3"}"',
    ]
    for name in routes:
        lines += [
            "",
            "[[route]]",
            f'name = "{name}"',
            f'outbox = "{folder / name / "outbox"}"',
            f'inbox = "{folder / name / "inbox"}"',
            f'watch = "{watch}"',
            f'caption = "{caption}"',
            "create_folders = true",
        ]
        if settle_seconds is not None:
            lines.append(f"settle_seconds = {settle_seconds!r}")
        if upload_window_files is not None:
            lines.append(f"upload_window_files = {upload_window_files}")
        (folder / name / "outbox").mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@dataclass
class DaemonProcess:
    """A ``syncd run`` child and when it said READY=1."""

    process: subprocess.Popen[bytes]
    started_at: float
    ready_at: float
    notify_socket: socket.socket

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the daemon has used so far (from /proc/PID/stat)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident set size now (VmRSS), MB."""
        return _status_field(self.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        """Peak resident set size so far (VmHWM), MB."""
        return _status_field(self.pid, "VmHWM") / 1024

    def drain_notifications(self) -> None:
        """Thread body: read (and drop) the daemon's notifications until it exits."""
        while self.process.poll() is None:
            try:
                self.notify_socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self, timeout_seconds: float = 60) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout_seconds``); the exit code."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    return self.process.wait(timeout=timeout_seconds)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    return self.process.wait()
            return self.process.returncode
        finally:
            self.notify_socket.close()


def _status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise ValueError(f"{name} not in /proc/{pid}/status")


def start_daemon(
    config: Path, log_path: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> DaemonProcess:
    """Start ``syncd run --config config`` and wait for READY=1 on a notify socket of ours.

    The socket stays open and drained while the daemon runs, as systemd's does, so the
    daemon's STATUS= updates (and their cost) are part of every measurement.
    Raises RuntimeError when the daemon exits or stays silent for ``timeout`` seconds.
    """
    socket_path = Path(tempfile.mkdtemp(prefix="syncd-bench-")) / "notify.sock"
    environment = {**os.environ, **(env or {}), "NOTIFY_SOCKET": str(socket_path)}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(socket_path))
    listener.settimeout(0.5)
    started_at = time.time()
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "syncd", "run", "--config", str(config)],
            cwd=REPOSITORY,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            listener.close()
            raise RuntimeError(f"syncd exited with {process.returncode}; see {log_path}")
        try:
            message = listener.recv(65536)
        except TimeoutError:
            continue
        if b"READY=1" in message.split(b"\n"):
            daemon = DaemonProcess(process, started_at, time.time(), listener)
            threading.Thread(target=daemon.drain_notifications, daemon=True).start()
            return daemon
    process.kill()
    process.wait()
    listener.close()
    raise RuntimeError(f"syncd sent no READY=1 within {timeout} s; see {log_path}")


def wait_for(condition: Any, timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``condition()`` until truthy; its value. Raises TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def own_cpu_seconds() -> float:
    """CPU seconds of this process (the emulator's threads live here)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
