"""Running the ``syncd`` command line as real subprocesses, and listening as systemd would.

``run_syncd`` runs one subcommand to completion. ``DaemonProcess`` runs ``syncd run`` with
its stderr in a file and a real ``NotifyListener`` as ``$NOTIFY_SOCKET``, so tests see the
same READY/STATUS/STOPPING datagrams and log lines systemd and journald would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from tests.helpers.waiting import wait_until

REPOSITORY = Path(__file__).resolve().parents[2]

# Variables of the test's own environment that would change what syncd does.
_SYNCD_VARIABLES = (
    "NOTIFY_SOCKET",
    "JOURNAL_STREAM",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "CREDENTIALS_DIRECTORY",
    "SYNCD_ADMIN_PASSWORD",
    "SYNCD_CRASH_AFTER",
    "SYNCD_CRASH_AFTER_COUNT",
)


def syncd_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without syncd's own variables, plus ``env``."""
    environment = {k: v for k, v in os.environ.items() if k not in _SYNCD_VARIABLES}
    environment.update(env or {})
    return environment


def syncd_command(*args: str) -> list[str]:
    """The argv that runs ``syncd ARGS`` with this interpreter (the installed venv's)."""
    return [sys.executable, "-m", "syncd", *args]


def run_syncd(
    *args: str, env: Mapping[str, str] | None = None, timeout_seconds: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``syncd ARGS`` to completion with stdin closed; returns its exit code and output."""
    return subprocess.run(
        syncd_command(*args),
        cwd=REPOSITORY,
        env=syncd_environment(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_seconds,
        check=False,
    )


def append_daemon_section(config_path: Path, **settings: object) -> None:
    """Append a ``[daemon]`` table (e.g. ``log_level="debug"``) to a written config."""
    lines = ["", "[daemon]"]
    for key, value in settings.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, int | float):
            lines.append(f"{key} = {value!r}")
        else:
            lines.append(f'{key} = "{value}"')
    with config_path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


class NotifyListener:
    """A unix datagram socket standing in for systemd's notify socket.

    ``abstract=False`` binds a path in a fresh temporary folder (``$NOTIFY_SOCKET=/path``);
    ``abstract=True`` binds a unique name in the abstract namespace (``$NOTIFY_SOCKET=@name``).
    Every datagram received is kept, in order, in ``messages``.
    """

    def __init__(self, *, abstract: bool = False) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._folder: Path | None = None
        if abstract:
            name = f"syncd-test-{uuid.uuid4().hex}"
            self._socket.bind(b"\0" + name.encode())
            self.address = f"@{name}"
        else:
            self._folder = Path(tempfile.mkdtemp(prefix="syncd-notify-"))
            path = self._folder / "notify.sock"
            self._socket.bind(str(path))
            self.address = str(path)
        self._socket.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        """Read every datagram waiting now; returns all messages received so far."""
        while True:
            try:
                data = self._socket.recv(65536)
            except BlockingIOError:
                return self.messages
            self.messages.append(data.decode("utf-8"))

    def assignments(self) -> list[str]:
        """Every ``KEY=value`` line received so far, in order."""
        return [line for message in self.drain() for line in message.split("\n") if line]

    def wait_for(
        self, predicate: Callable[[str], bool], timeout_seconds: float = 60, what: str = ""
    ) -> str:
        """Wait until some received assignment satisfies ``predicate``; returns the first."""

        def found() -> str | None:
            return next((line for line in self.assignments() if predicate(line)), None)

        return wait_until(found, timeout_seconds, what or "a notify message")

    def close(self) -> None:
        """Close the socket and remove its folder."""
        self._socket.close()
        if self._folder is not None:
            for entry in self._folder.iterdir():
                entry.unlink()
            self._folder.rmdir()

    def __enter__(self) -> NotifyListener:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class DaemonProcess:
    """``syncd run --config CONFIG`` as a child process, its stderr going to ``log_path``.

    ``start()`` waits for READY=1 on ``notify`` (a listener of the caller's, or one of its
    own), so a following SIGTERM finds the handler installed.
    """

    def __init__(
        self,
        config_path: Path,
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        notify: NotifyListener | None = None,
    ) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self._own_listener = notify is None
        self.notify = notify or NotifyListener()
        self._env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_seconds: float = 90) -> DaemonProcess:
        """Start the daemon and wait for its READY=1; fails the test if it exits first."""
        environment = syncd_environment({"NOTIFY_SOCKET": self.notify.address, **self._env})
        with self.log_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                syncd_command("run", "--config", str(self.config_path)),
                cwd=REPOSITORY,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        process = self.process

        def ready_or_exited() -> bool:
            return process.poll() is not None or "READY=1" in self.notify.assignments()

        wait_until(ready_or_exited, timeout_seconds, "READY=1 from the daemon")
        assert process.poll() is None, f"daemon exited {process.returncode}: {self.log()}"
        return self

    def log(self) -> str:
        """Everything the daemon wrote to stderr so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_seconds: float = 60) -> int:
        """SIGTERM the daemon and return its exit code (SIGKILL and fail if it hangs)."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise AssertionError(f"daemon ignored SIGTERM: {self.log()}") from None
        return process.returncode

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_listener:
            self.notify.close()
