"""A mixed workload for the crash and fault tests, and the invariants every run must keep.

A ``Workload`` owns one route's folders, config and state database under a test's tmp
folder. Tests drop good scans and broken files into the outbox, have the emulated agent send
files, run the daemon as a real process, and finally call ``check_invariants``, which fails
with everything it found wrong: a file lost, a file published twice, a work file or an inbox
temp file left behind, inbox bytes that differ from what the agent sent.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncd.emulator.server import RunningEmulator
from syncd.state.model import InboundState, OutboundState
from tests.helpers.harness import (
    REPOSITORY,
    notify_listener,
    read_state,
    start_daemon_process,
    wait_for_ready,
    write_config,
)
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

ROUTE = "scans"
# Generous: a loaded 2-core CI machine runs several daemons and emulators at once.
SETTLE_TIMEOUT_SECONDS = 150.0
BAD_CONTENT = b"this is a shopping list, not a scan\n" * 20


@dataclass
class Workload:
    """One route's folders and everything the test put in or expects out."""

    root: Path
    emulator: RunningEmulator
    config: Path
    good: dict[str, bytes] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)
    agent: dict[str, bytes] = field(default_factory=dict)
    # Outboxes that were renamed away (their sent/ and failed/ still count).
    old_outboxes: list[Path] = field(default_factory=list)

    @classmethod
    def create(
        cls, root: Path, emulator: RunningEmulator, liveperson: Mapping[str, Any] | None = None
    ) -> Workload:
        """Write a one-route config under ``root`` (``liveperson`` keys are added as given)."""
        config = write_config(root, emulator.base_url, emulator.account, liveperson=liveperson)
        return cls(root, emulator, config)

    # --- places ---------------------------------------------------------------------------

    @property
    def outbox(self) -> Path:
        return self.root / ROUTE / "outbox"

    @property
    def inbox(self) -> Path:
        return self.root / ROUTE / "inbox"

    @property
    def work(self) -> Path:
        return self.outbox / ".syncd-work"

    @property
    def database(self) -> Path:
        return self.root / "state" / "syncd.sqlite3"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    def log_text(self) -> str:
        """The daemon's log so far (for assertion messages)."""
        return self.log.read_text(errors="replace") if self.log.exists() else "<no log>"

    # --- input ----------------------------------------------------------------------------

    def drop_good(self, count: int, prefix: str, seed: int = 0) -> list[str]:
        """Write ``count`` JPEG scans into the outbox, each through a hidden temp name
        renamed into place (as most scanners do); returns their names.
        """
        names = []
        for index in range(count):
            name = f"{prefix}_{index:02d}.jpg"
            data = jpeg_bytes(640, 480, seed=seed * 1000 + index + len(self.good))
            self._write_atomically(name, data)
            self.good[name] = data
            names.append(name)
        return names

    def drop_bad(self, name: str) -> None:
        """Write a text file named like a scan: it must end in failed/ with a reason."""
        self._write_atomically(name, BAD_CONTENT)
        self.bad.append(name)

    def _write_atomically(self, name: str, data: bytes) -> None:
        temporary = self.outbox / f".{name}.writing"
        temporary.write_bytes(data)
        os.rename(temporary, self.outbox / name)

    def conversation(self, timeout_seconds: float = 60) -> str:
        """Return the route's open conversation; when there is none, drop one good scan
        (syncd opens a conversation only when a file is ready) and wait for it."""
        if read_state(self.database, lambda store: store.open_conversation(ROUTE)) is None:
            self.drop_good(1, f"opener{len(self.good)}", seed=len(self.good) + 50)
        conversation_id: str = wait_until(
            lambda: read_state(self.database, lambda store: store.open_conversation(ROUTE)),
            timeout_seconds,
            "an open conversation in the state",
        )
        return conversation_id

    def agent_sends(self, caption: str, seed: int, conversation_id: str | None = None) -> None:
        """The agent sends a JPEG into the route's open conversation (or the one named)."""
        data = jpeg_bytes(500, 400, colour=(200, 180, 40), seed=seed)
        self.emulator.send_agent_file(conversation_id or self.conversation(), data, caption)
        self.agent[caption] = data

    # --- the daemon -----------------------------------------------------------------------

    def start(self, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``syncd run`` as a process logging into ``self.log``; waits for READY=1."""
        return start_daemon_process(self.config, env=env, log_path=self.log)

    # --- observations ---------------------------------------------------------------------

    def outbound_states(self) -> Counter[str]:
        """How many outbound rows are in each state."""
        counts = read_state(self.database, lambda store: store.counts_by_state(ROUTE))
        return Counter({k: v for k, v in (counts or {}).items() if v})

    def inbound_states(self) -> Counter[str]:
        """How many inbound rows are in each state."""
        counts = read_state(self.database, lambda store: store.inbound_counts_by_state(ROUTE))
        return Counter({k: v for k, v in (counts or {}).items() if v})

    def settled(self) -> bool:
        """True once every dropped file is done or failed and every agent file received."""
        outbound = self.outbound_states()
        inbound = self.inbound_states()
        return (
            outbound[OutboundState.DONE] >= len(self.good)
            and outbound[OutboundState.FAILED] >= len(self.bad)
            and inbound[InboundState.DONE] >= len(self.agent)
            and sum(outbound.values())
            == outbound[OutboundState.DONE] + outbound[OutboundState.FAILED]
            and sum(inbound.values()) == inbound[InboundState.DONE] + inbound[InboundState.FAILED]
        )

    def wait_settled(self, context: str, timeout_seconds: float = SETTLE_TIMEOUT_SECONDS) -> None:
        """Wait until ``settled``; on timeout fail with the states and the daemon's log."""
        try:
            wait_until(self.settled, timeout_seconds, f"every file to settle ({context})")
        except AssertionError as error:
            raise AssertionError(
                f"{error}; outbound {dict(self.outbound_states())}, "
                f"inbound {dict(self.inbound_states())}\n{self.log_tail()}"
            ) from None

    def log_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the daemon's log."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_invariants(self, context: str) -> None:
        """Assert nothing was lost, nothing duplicated and nothing left behind.

        ``context`` (what was done to the daemon, seeds, delays) starts every message so a
        failure can be reproduced.
        """
        problems = self._problems()
        assert not problems, f"{context}: " + "; ".join(problems) + "\n" + self.log_tail()

    def _problems(self) -> list[str]:
        problems: list[str] = []
        rows = read_state(
            self.database, lambda store: store.outbound_in_states(tuple(OutboundState), ROUTE)
        )
        by_name: dict[str, list[str]] = {}
        for row in rows or []:
            by_name.setdefault(row.source_name, []).append(str(row.state))
        expected = {name: ["done"] for name in self.good} | {name: ["failed"] for name in self.bad}
        if by_name != expected:
            problems.append(f"outbound rows {by_name} != expected {expected}")
        events = hosted_file_events(self.emulator)
        captions = Counter(event["event"]["message"]["caption"] for event in events)
        if captions != Counter(list(self.good)):
            problems.append(f"published captions {dict(captions)} != each good file once")
        paths = Counter(event["event"]["message"]["relativePath"] for event in events)
        if any(count > 1 for count in paths.values()):
            problems.append(f"an object was published twice: {dict(paths)}")
        if self.work.exists() and os.listdir(self.work):
            problems.append(f"work folder not empty: {sorted(os.listdir(self.work))}")
        problems += self._folder_problems()
        problems += self._inbox_problems()
        return problems

    def _folder_problems(self) -> list[str]:
        problems: list[str] = []
        sent: list[str] = []
        failed: list[str] = []
        for outbox in [*self.old_outboxes, self.outbox]:
            if (outbox / "sent").is_dir():
                sent += os.listdir(outbox / "sent")
            if (outbox / "failed").is_dir():
                failed += os.listdir(outbox / "failed")
        if sorted(sent) != sorted(self.good):
            problems.append(f"sent/ holds {sorted(sent)}, expected {sorted(self.good)}")
        expected_failed = sorted([*self.bad, *(name + ".error.txt" for name in self.bad)])
        if sorted(failed) != expected_failed:
            problems.append(f"failed/ holds {sorted(failed)}, expected {expected_failed}")
        for name in self.bad:
            for outbox in [*self.old_outboxes, self.outbox]:
                report = outbox / "failed" / (name + ".error.txt")
                if report.exists() and "reason: " not in report.read_text():
                    problems.append(f"{report.name} names no reason")
        left = sorted(
            n for n in os.listdir(self.outbox) if n not in ("sent", "failed", ".syncd-work")
        )
        if left:
            problems.append(f"left in the outbox: {left}")
        return problems

    def _inbox_problems(self) -> list[str]:
        if not self.inbox.exists():
            return [] if not self.agent else ["no inbox folder"]
        names = os.listdir(self.inbox)
        problems = []
        hidden = [name for name in names if name.startswith(".")]
        if hidden:
            problems.append(f"temp files left in the inbox: {hidden}")
        received = sorted((self.inbox / name).read_bytes() for name in names if name not in hidden)
        if received != sorted(self.agent.values()):
            problems.append(
                f"inbox holds {len(received)} file(s) {sorted(names)}; the agent sent "
                f"{len(self.agent)} ({sorted(self.agent)}), or the bytes differ"
            )
        inbound = self.inbound_states()
        if inbound != Counter({InboundState.DONE: len(self.agent)}):
            problems.append(f"inbound rows {dict(inbound)}, expected {len(self.agent)} done")
        return problems


def _all_terminal(counts: Counter[str]) -> bool:
    return sum(counts.values()) == counts["done"] + counts["failed"]


class FaultCounter(logging.Handler):
    """Counts the emulator's log lines about injected faults (``fault: ...``), refused
    storage requests and consumer socket attempts (opened or refused at the upgrade), so a
    test knows its fault actually hit the daemon, and how often the daemon knocked.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.faults = 0
        self.refused_storage = 0
        self.connection_attempts = 0
        # When (time.monotonic()) each consumer socket was opened.
        self.sockets_opened_at: list[float] = []
        self._lock_counts = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        with self._lock_counts:
            if message.startswith("consumer socket opened"):
                self.sockets_opened_at.append(time.monotonic())
            if message.startswith("consumer socket opened") or (
                "refusing a consumer socket" in message
            ):
                self.connection_attempts += 1
            if message.startswith("fault:"):
                self.faults += 1
            elif message.startswith("refusing storage"):
                self.refused_storage += 1


@contextmanager
def counting_faults() -> Iterator[FaultCounter]:
    """Attach a ``FaultCounter`` to the emulator's logger for the duration of the block."""
    logger = logging.getLogger("syncd.emulator")
    counter = FaultCounter()
    previous_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous_level)


def start_piped_daemon(
    config: Path, log: Path, preexec: Any = None
) -> tuple[subprocess.Popen[bytes], threading.Thread]:
    """Start ``syncd run`` with its stderr through a pipe copied into ``log`` by a thread.

    A pipe, unlike a log file, keeps working when the daemon's file writes are refused
    (the disk-full test), so its error lines still reach the test. ``preexec`` runs in the
    child before exec. Waits for READY=1 like ``harness.start_daemon_process``.
    """
    listener, socket_path = notify_listener()
    environment = {**os.environ, "NOTIFY_SOCKET": str(socket_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "syncd", "run", "--config", str(config)],
        cwd=REPOSITORY,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=preexec,
    )

    def copy() -> None:
        assert process.stderr is not None
        with open(log, "ab") as sink:
            for line in process.stderr:
                sink.write(line)
                sink.flush()

    copier = threading.Thread(target=copy, name="daemon-log-copier", daemon=True)
    copier.start()
    wait_for_ready(listener, process)
    return process, copier


def kill_hard(process: subprocess.Popen[bytes]) -> int:
    """SIGKILL ``process`` (a power cut) and return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    return process.wait(timeout=60)
