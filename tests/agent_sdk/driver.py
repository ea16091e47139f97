"""Installing LivePerson's agent SDK from the committed lock, and driving ``agent.js``.

``install_sdk`` runs ``npm ci`` once per lock file into a cache folder (the registry is the
machine's own npm configuration; the lock names no download address) and returns the
``node_modules`` folder. ``SdkAgent`` starts ``node agent.js`` against an emulator and sends
it JSON-line commands; every answer is waited for with a timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SDK_FILES = ("package.json", "package-lock.json", ".npmrc")
ANSWER_SECONDS = 60.0


def install_sdk(cache_root: Path) -> Path:
    """``npm ci`` the locked SDK into ``cache_root/<lock hash>`` unless it is there; return
    its ``node_modules``. Raises CalledProcessError when npm fails."""
    digest = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:16]
    target = cache_root / f"agent-sdk-{digest}"
    if (target / ".installed").exists():
        return target / "node_modules"
    cache_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="agent-sdk-", dir=cache_root))
    for name in SDK_FILES:
        shutil.copy2(HERE / name, staging / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=staging,
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    (staging / ".installed").touch()
    try:
        staging.rename(target)
    except OSError:  # another session installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return target / "node_modules"


class SdkAgent:
    """``node agent.js`` logged in to an emulator as its agent; see agent.js for commands."""

    def __init__(self, node_modules: Path, env: dict[str, str], log_path: Path) -> None:
        self._log = log_path.open("wb")
        self._process = subprocess.Popen(
            ["node", str(HERE / "agent.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, **env, "NODE_PATH": str(node_modules)},
        )
        self._lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, name="sdk-agent-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(json.loads(line))
        self._lines.put(None)

    def _next_line(self, timeout_seconds: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=timeout_seconds)
        except queue.Empty:
            raise AssertionError(f"agent.js said nothing for {timeout_seconds} s") from None
        if line is None:
            raise AssertionError("agent.js ended; its stderr is in the test's log file")
        return line

    def wait_event(self, name: str, timeout_seconds: float = ANSWER_SECONDS) -> dict[str, Any]:
        """Wait for an unasked line ``{"event": name}`` (other events are kept in ``events``)."""
        for event in self.events:
            if event.get("event") == name:
                return event
        while True:
            line = self._next_line(timeout_seconds)
            self.events.append(line)
            if line.get("event") == name:
                return line

    def call(self, command: str, timeout_seconds: float = ANSWER_SECONDS, **fields: Any) -> Any:
        """Send a command and return its answer; raises AssertionError when it failed."""
        self._next_id += 1
        request_id = self._next_id
        assert self._process.stdin is not None
        line = json.dumps({"id": request_id, "cmd": command, **fields})
        self._process.stdin.write(line.encode() + b"\n")
        self._process.stdin.flush()
        while True:
            answer = self._next_line(timeout_seconds)
            if answer.get("id") != request_id:
                self.events.append(answer)
                continue
            assert "error" not in answer, f"{command}: {answer['error']}"
            return answer

    def errors(self) -> list[dict[str, Any]]:
        """The errors the SDK emitted so far."""
        return [event for event in self.events if event.get("event") == "error"]

    def stop(self) -> None:
        """Dispose of the SDK and end the process (killed when it does not end)."""
        try:
            if self._process.poll() is None:
                self.call("quit", timeout_seconds=10)
            self._process.wait(timeout=10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait(timeout=10)
        finally:
            self._log.close()
