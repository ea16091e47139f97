"""Child processes without capabilities, so that tests running as root (CI) still see file
permissions enforced, as a service user would.

The capability bounding set is per thread and inherited by children: a root process started
from a thread whose bounding set is empty has no capability at all (as under systemd's
``CapabilityBoundingSet=``), so ``chmod 0`` and read-only folders apply to it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

PR_CAPBSET_DROP = 24
# CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: the two that let root ignore file permissions.
FILE_PERMISSION_CAPABILITIES = 0b110


def drop_bounding_set_of_this_thread() -> bool:
    """Empty this thread's capability bounding set; True when it worked (needs CAP_SETPCAP)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text().strip())
    return all(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 for cap in range(last + 1))


def effective_capabilities(pid: int) -> int:
    """The ``CapEff`` mask of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no CapEff line for process {pid}")


def call_without_capabilities(call: Callable[[], T], timeout_seconds: float = 120) -> T:
    """Run ``call`` on a short-lived thread whose bounding set is emptied first when this
    process is root, and return its result (or raise its exception). Child processes that
    ``call`` starts are then subject to file permissions; the test process keeps its own
    capabilities. Skips the test when root cannot drop them (no CAP_SETPCAP).
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            if os.geteuid() == 0 and not drop_bounding_set_of_this_thread():
                outcome["skip"] = True
                return
            outcome["value"] = call()
        except BaseException as error:  # handed to the test's thread below
            outcome["error"] = error

    thread = threading.Thread(target=run, name="without-capabilities")
    thread.start()
    thread.join(timeout=timeout_seconds)
    assert not thread.is_alive(), f"the call did not end within {timeout_seconds} s"
    if outcome.get("skip"):
        pytest.skip("running as root without CAP_SETPCAP: capabilities cannot be dropped")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
