"""The inbox end to end: files an agent sends arrive once, complete, under a safe name."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from syncd.emulator.server import RunningEmulator
from syncd.state.model import InboundState
from tests.helpers.harness import (
    read_state,
    running_daemon,
    start_daemon_process,
    stop_process,
    write_config,
)
from tests.helpers.images import jpeg_bytes, png_bytes
from tests.helpers.waiting import wait_until

TIMEOUT = 60


def agent_sends(
    emulator: RunningEmulator,
    conversation_id: str,
    data: bytes,
    caption: str,
    declared_type: str | None = None,
) -> int:
    declared = f"&file_type={declared_type}" if declared_type else ""
    response = requests.post(
        f"{emulator.base_url}/_emulator/conversations/{conversation_id}/agent-file"
        f"?caption={quote(caption)}{declared}",
        data=data,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    sequence: int = response.json()["sequence"]
    return sequence


def inbox_files(inbox: Path) -> list[Path]:
    if not inbox.exists():
        return []
    return sorted(p for p in inbox.iterdir() if not p.name.startswith("."))


def open_conversation(database: Path, route: str) -> str | None:
    return read_state(database, lambda store: store.open_conversation(route))


def test_an_agent_file_lands_in_the_inbox_once_with_the_same_bytes(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    form = png_bytes(900, 700)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        agent_sends(emulator, conversation, form, "signed form")
        files = wait_until(lambda: inbox_files(route.inbox), TIMEOUT, "the inbox file")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == 1, TIMEOUT, "done"
        )
    assert len(files) == 1
    assert files[0].read_bytes() == form
    assert files[0].suffix == ".png"
    assert files[0].name.endswith("_signed form.png")
    events = next(c for c in emulator.state()["conversations"] if c["id"] == conversation)["events"]
    receipts = [e for e in events if e["event"].get("type") == "AcceptStatusEvent"]
    assert receipts and receipts[0]["event"]["status"] == "ACCEPT"


def test_files_sent_while_the_daemon_was_stopped_arrive_after_it_starts(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database = tmp_path / "state" / "syncd.sqlite3"
    inbox = tmp_path / "scans" / "inbox"
    with running_daemon(config) as running:
        conversation = running.conversation("scans")
    first, second = jpeg_bytes(seed=1), jpeg_bytes(seed=2)
    agent_sends(emulator, conversation, first, "while down 1")
    agent_sends(emulator, conversation, second, "while down 2")
    with running_daemon(config):
        files = wait_until(
            lambda: len(inbox_files(inbox)) == 2 and inbox_files(inbox), TIMEOUT, "2 files"
        )
    assert sorted(p.read_bytes() for p in files) == sorted([first, second])
    assert open_conversation(database, "scans") == conversation


def test_a_hostile_caption_never_escapes_the_inbox(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        agent_sends(emulator, conversation, jpeg_bytes(seed=3), "../../etc/passwd")
        agent_sends(emulator, conversation, jpeg_bytes(seed=4), "evil\nname\x1b[31m/..\\x")
        files = wait_until(
            lambda: len(inbox_files(route.inbox)) == 2 and inbox_files(route.inbox),
            TIMEOUT,
            "2 files",
        )
    for path in files:
        assert path.parent == route.inbox
        assert not path.name.startswith((".", "-"))
        assert all(ch.isprintable() for ch in path.name)
        assert "/" not in path.name and ".." not in path.name
    assert not (tmp_path / "etc").exists()


def test_content_unlike_its_declared_type_fails_with_a_reason_and_the_next_file_arrives(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        # An agent client that calls a PDF an image: the content decides, and it disagrees.
        agent_sends(emulator, conversation, b"%PDF-1.4\n% not an image\n", "contract", "JPG")
        good = jpeg_bytes(seed=5)
        agent_sends(emulator, conversation, good, "after")
        files = wait_until(lambda: inbox_files(route.inbox), TIMEOUT, "the good file")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.FAILED] == 1,
            TIMEOUT,
            "fail",
        )
        failed = [
            store.get_inbound(row_id)
            for row_id in range(1, 3)
            if store.get_inbound(row_id).state == InboundState.FAILED
        ]
    assert [p.read_bytes() for p in files] == [good]
    assert "declared as JPG but the content is PDF" in (failed[0].last_error or "")


@pytest.mark.parametrize("transition", ["inbound-recorded", "inbound-linked", "inbound-done"])
def test_a_kill_during_receiving_still_delivers_the_file_once(
    tmp_path: Path, emulator: RunningEmulator, transition: str
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database = tmp_path / "state" / "syncd.sqlite3"
    inbox = tmp_path / "scans" / "inbox"
    with running_daemon(config) as running:
        conversation = running.conversation("scans")
    log = tmp_path / "daemon.log"
    crashing = start_daemon_process(config, env={"SYNCD_CRASH_AFTER": transition}, log_path=log)
    data = jpeg_bytes(seed=6)
    wait_until(lambda: open_conversation(database, "scans") is not None, TIMEOUT, "state")
    agent_sends(emulator, conversation, data, "crash test")
    assert crashing.wait(timeout=TIMEOUT) == -signal.SIGKILL, log.read_text(errors="replace")
    restarted = start_daemon_process(config, log_path=log)
    try:
        files = wait_until(lambda: inbox_files(inbox), TIMEOUT, "the file after restart")

        def done() -> bool:
            counts = read_state(database, lambda store: store.inbound_counts_by_state("scans"))
            return counts is not None and counts[InboundState.DONE] == 1

        wait_until(done, TIMEOUT, "the inbound row to be done")
    finally:
        assert stop_process(restarted) == 0
    assert [p.read_bytes() for p in inbox_files(inbox)] == [data]
    assert len(files) == 1
    assert not [n for n in os.listdir(inbox) if n.startswith(".")]


@pytest.mark.parametrize("how", ["close-all-sockets", "close-every-few-requests"])
def test_files_sent_while_the_websocket_is_closed_mid_stream_arrive_once(
    tmp_path: Path, emulator: RunningEmulator, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The socket dies between and during the agent's files; each still arrives exactly once."""
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    sent = [jpeg_bytes(seed=20 + index) for index in range(4)]
    with caplog.at_level("INFO"), running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        agent_sends(emulator, conversation, sent[0], "before the drop")
        wait_until(lambda: len(inbox_files(route.inbox)) == 1, TIMEOUT, "the first file")
        if how == "close-all-sockets":
            # 1006: the connection vanishes without a close frame, as LivePerson's idle drop does.
            assert emulator.close_sockets(1006) >= 1
            for index, data in enumerate(sent[1:], start=1):
                agent_sends(emulator, conversation, data, f"during the outage {index}")
        else:
            # One request in three (subscribe, download URL, receipt...) kills the socket instead.
            emulator.set_faults(ws_close_rate=0.34, ws_close_code=1011, seed=7)
            for index, data in enumerate(sent[1:], start=1):
                agent_sends(emulator, conversation, data, f"during the outage {index}")
            wait_until(
                lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] >= 2,
                TIMEOUT,
                "progress while sockets keep closing",
            )
            emulator.reset_faults()
            closes = [r for r in caplog.records if "fault: closing instead" in r.getMessage()]
            assert closes, "the fault knob never closed a socket"
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == len(sent),
            TIMEOUT,
            "every file done",
        )
        files = inbox_files(route.inbox)
    assert sorted(p.read_bytes() for p in files) == sorted(sent)
    assert len(files) == len(sent)
    assert not [n for n in os.listdir(route.inbox) if n.startswith(".")]


def test_an_oversize_download_fails_with_a_reason_and_the_next_file_still_arrives(
    tmp_path: Path, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    limit_bytes = 60_000
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "scans", "max_download_bytes": limit_bytes}],
    )
    big = jpeg_bytes(1200, 900, seed=8, noise=True)
    small = jpeg_bytes(320, 240, seed=9)
    assert len(big) > limit_bytes > len(small)
    with caplog.at_level("INFO", logger="syncd"), running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        big_sequence = agent_sends(emulator, conversation, big, "too big")
        agent_sends(emulator, conversation, small, "fits")
        files = wait_until(lambda: inbox_files(route.inbox), TIMEOUT, "the small file")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.FAILED] == 1,
            TIMEOUT,
            "the big file to fail",
        )
        rows = [store.get_inbound(row_id) for row_id in (1, 2)]
    failed = next(row for row in rows if row.state == InboundState.FAILED)
    assert failed.sequence == big_sequence
    assert str(limit_bytes) in (failed.last_error or ""), failed.last_error
    assert [p.read_bytes() for p in files] == [small]
    refusals = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(
        f"sequence {big_sequence} refused" in m and str(limit_bytes) in m for m in refusals
    ), refusals
    assert not [n for n in os.listdir(route.inbox) if n.startswith(".")]


def _conversation_count(emulator: RunningEmulator) -> int:
    return len(emulator.state()["conversations"])


def test_after_the_agent_closes_the_conversation_none_opens_until_the_next_file(
    tmp_path: Path, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing keeps what arrived; no new conversation rings an agent until a file is ready;
    then exactly one opens, and its files and texts are received too."""
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    database = tmp_path / "state" / "syncd.sqlite3"
    first, second = jpeg_bytes(seed=30), jpeg_bytes(seed=31)
    with caplog.at_level("INFO", logger="syncd"), running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        old_conversation = running.conversation("scans")
        agent_sends(emulator, old_conversation, first, "old conversation")
        wait_until(lambda: len(inbox_files(route.inbox)) == 1, TIMEOUT, "the first file")
        emulator.close_conversation(old_conversation)
        wait_until(lambda: open_conversation(database, "scans") is None, TIMEOUT, "the close")
        # The close itself must not make syncd ask for a new conversation.
        assert _conversation_count(emulator) == 1
        new_conversation = running.conversation("scans")  # drops a scan: the next file
        assert new_conversation != old_conversation
        assert _conversation_count(emulator) == 2
        emulator.send_agent_message(new_conversation, "here is your signed copy")
        agent_sends(emulator, new_conversation, second, "new conversation")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == 3,
            TIMEOUT,
            "both files and the text",
        )
        files = inbox_files(route.inbox)
    images = [p for p in files if p.suffix == ".jpg"]
    texts = [p for p in files if p.suffix == ".txt"]
    assert sorted(p.read_bytes() for p in images) == sorted([first, second])
    assert len(texts) == 1
    assert "here is your signed copy" in texts[0].read_text(encoding="utf-8")
    # Customer conversation content stays out of the journal: it is in the inbox only.
    assert not [r for r in caplog.records if "signed copy" in r.getMessage()]
    # Names carry the conversation's first 8 characters, so each file is traceable to its dialog.
    assert any(f"conv-{old_conversation[:8]}" in p.name for p in images)
    assert any(f"conv-{new_conversation[:8]}" in p.name for p in images)
    assert _conversation_count(emulator) == 2
