"""Route options end to end, each in a case where ignoring it would show: ``after_send``,
``send_accept_receipts``, and the settle rule for a writer whose end marker comes first."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from syncd.emulator.server import RunningEmulator
from syncd.state.model import InboundState, OutboundState
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import decode, jpeg_bytes, png_bytes
from tests.helpers.lookups import captions_in_order, hosted_file_events, object_bytes
from tests.helpers.waiting import wait_until
from tests.integration.test_inbox import agent_sends, inbox_files
from tests.integration.test_outbox import done_count, drop

TIMEOUT = 60


def _visible(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if not name.startswith("."))


def test_after_send_delete_removes_the_original_and_archives_nothing(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "scans", "after_send": "delete"}],
    )
    with running_daemon(config) as running:
        route = running.config.routes[0]
        drop(route.outbox, "page_1.jpg", jpeg_bytes(seed=1))
        drop(route.outbox, "page_2.png", png_bytes())
        wait_until(lambda: done_count(running.daemon.store) == 2, TIMEOUT, "both pages")
        rows = running.daemon.store.outbound_in_states((OutboundState.DONE,))
    assert captions_in_order(emulator) == ["page_1.jpg", "page_2.png"]
    assert [row.final_path for row in rows] == [None, None]
    assert not route.sent_dir.exists() or _visible(route.sent_dir) == []
    assert _visible(route.work_dir) == []
    # Only syncd's own (now empty) folders are left in the outbox.
    assert [name for name in _visible(route.outbox) if not (route.outbox / name).is_dir()] == []


def test_without_accept_receipts_files_arrive_and_no_receipt_is_published(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "scans", "send_accept_receipts": False}],
    )
    first, second = png_bytes(300, 200), jpeg_bytes(seed=7)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        agent_sends(emulator, conversation, first, "first form")
        agent_sends(emulator, conversation, second, "second form")
        # One receiver thread per route takes the files in turn, and a receipt would be sent
        # right after each is done: once the second is done, the first one's would be out.
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == 2,
            TIMEOUT,
            "both agent files",
        )
    assert sorted(path.read_bytes() for path in inbox_files(route.inbox)) == sorted([first, second])
    events = next(c for c in emulator.state()["conversations"] if c["id"] == conversation)["events"]
    assert [e for e in events if e["event"].get("type") == "AcceptStatusEvent"] == []


def test_a_preallocated_file_with_its_end_marker_written_first_is_sent_only_once_whole(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    # Some writers size the file first (the JPEG's last bytes, end marker included, land at
    # once) and then fill it in. The end-marker check passes from the start, so only the
    # settle rule (no change for settle_seconds) keeps the half-filled file from being sent.
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "slow", "settle_seconds": 3.0}],
    )
    data = jpeg_bytes(1600, 1200, noise=True, seed=6)
    header_bytes = 1024
    with running_daemon(config) as running:
        target = running.config.routes[0].outbox / "preallocated.jpg"
        with open(target, "wb") as handle:
            handle.write(data[:header_bytes])
            handle.seek(len(data) - 2)
            handle.write(data[-2:])
            handle.flush()
            body = range(header_bytes, len(data) - 2)
            chunk = len(body) // 8 + 1
            for offset in range(body.start, body.stop, chunk):
                # The writer's pace, well inside settle_seconds: a stall of this thread on a
                # loaded machine must not look like a finished file.
                time.sleep(0.2)
                handle.seek(offset)
                handle.write(data[offset : min(offset + chunk, body.stop)])
                handle.flush()
        wait_until(lambda: done_count(running.daemon.store) == 1, TIMEOUT, "the file")
        [row] = running.daemon.store.outbound_in_states((OutboundState.DONE,))
    assert row.sha256 == hashlib.sha256(data).hexdigest()  # what was read when claimed
    [event] = hosted_file_events(emulator)
    uploaded = decode(object_bytes(emulator, event["event"]["message"]["relativePath"]))
    assert uploaded.size == (1600, 1200)
