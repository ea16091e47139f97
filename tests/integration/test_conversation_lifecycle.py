"""Conversations as agents live them: none opened idly, every open one followed, and every
document and text an agent sends saved once (or refused with a reason ``syncd status`` shows).
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.emulator.server import RunningEmulator
from syncd.emulator.settings import EmulatorSettings
from syncd.state.model import InboundState
from tests.helpers.cli import run_syncd
from tests.helpers.harness import running_daemon, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until

TIMEOUT = 60
REQUESTED = "requested by consumer"


@pytest.fixture
def emulator_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """The emulator's log lines (conversation requests, closes) of the test."""
    with caplog.at_level(logging.INFO, logger="syncd.emulator"):
        yield caplog


def _requests_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum(REQUESTED in record.getMessage() for record in caplog.records)


def _office(kind: str, macro: bool = False) -> bytes:
    """A minimal OOXML package of ``kind`` (docx, xlsx, pptx); ``macro`` adds a VBA part."""
    main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}
    buffer = io.BytesIO()
    content_type = "application/vnd.ms-word.document.macroEnabled.main+xml" if macro else "x"
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", f'<Types><Override ContentType="{content_type}"/>')
        archive.writestr(main[kind], f"<{kind}>content of a {kind}</{kind}>")
        if macro:
            archive.writestr("word/vbaProject.bin", b"\x00macro")
    return buffer.getvalue()


def _inbox_files(inbox: Path) -> list[Path]:
    return (
        sorted(p for p in inbox.iterdir() if not p.name.startswith(".")) if inbox.exists() else []
    )


def test_starting_with_no_files_opens_no_conversation(
    tmp_path: Path, emulator: RunningEmulator, emulator_log: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        store = running.daemon.store
        wait_until(
            lambda: store.connection_of("scans").state == "connected", TIMEOUT, "a connection"
        )
        assert _requests_logged(emulator_log) == 0
        assert emulator.state()["conversations"] == []
        running.conversation("scans")  # a file is ready: now, and only now, one opens
        assert _requests_logged(emulator_log) == 1


@pytest.mark.parametrize("emulator_settings", [EmulatorSettings(auto_close_seconds=5)])
def test_after_an_auto_close_the_next_file_opens_exactly_one_new_conversation(
    tmp_path: Path, emulator: RunningEmulator, emulator_log: pytest.LogCaptureFixture
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        store = running.daemon.store
        first = running.conversation("scans")
        # Idle: LivePerson's auto-close ends it, and syncd must not ring an agent again.
        wait_until(lambda: store.open_conversation("scans") is None, TIMEOUT, "the auto-close")
        assert any("auto-closed" in r.getMessage() for r in emulator_log.records)
        assert _requests_logged(emulator_log) == 1
        second = running.conversation("scans")
        wait_until(lambda: store.counts_by_state("scans")["done"] == 2, TIMEOUT, "both scans sent")
    assert second != first
    assert _requests_logged(emulator_log) == 2
    assert len(emulator.state()["conversations"]) == 2


@pytest.mark.parametrize(
    "emulator_settings", [EmulatorSettings(participant_ids="distinct", history_delay_ms=300)]
)
def test_every_document_type_and_text_an_agent_sends_arrives_once_byte_identical(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    sent = {
        "contract.pdf": b"%PDF-1.7\n" + os.urandom(2000) + b"\n%%EOF\n",
        "letter.docx": _office("docx"),
        "figures.xlsx": _office("xlsx"),
        "slides.pptx": _office("pptx"),
        "photo.jpg": jpeg_bytes(seed=41),
    }
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        for caption, data in sent.items():
            emulator.send_agent_file(conversation, data, caption)
        emulator.send_agent_message(conversation, "please rescan page 3\x1b[31m\x07")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.DONE] == len(sent) + 1,
            TIMEOUT,
            "every file and the text",
        )
        files = _inbox_files(route.inbox)
    by_suffix = {p.suffix: p for p in files}
    assert len(files) == len(sent) + 1, files  # none of our own scans landed in the inbox
    for caption, data in sent.items():
        assert by_suffix[Path(caption).suffix].read_bytes() == data
    text = by_suffix[".txt"].read_text(encoding="utf-8")
    assert "please rescan page 3[31m" in text
    assert "\x1b" not in text and "\x07" not in text
    assert f"conversation: {conversation}" in text


def test_an_oversize_file_and_a_macro_document_are_refused_with_reasons_in_status(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    emulator.set_faults(agent_file_max_bytes=7 * 1024 * 1024)
    six_megabytes = b"%PDF-1.7\n" + os.urandom(6 * 1024 * 1024)
    with running_daemon(config) as running:
        store = running.daemon.store
        conversation = running.conversation("scans")
        emulator.send_agent_file(conversation, six_megabytes, "big scan")
        emulator.send_agent_file(conversation, _office("docx", macro=True), "macros")
        wait_until(
            lambda: store.inbound_counts_by_state("scans")[InboundState.FAILED] == 2,
            TIMEOUT,
            "both refused",
        )
        status = run_syncd("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    refusals = [line for line in status.stdout.splitlines() if "refused from agent" in line]
    assert len(refusals) == 2, status.stdout
    assert any("5242880" in line for line in refusals), refusals
    assert any("macro-enabled" in line for line in refusals), refusals
    assert _inbox_files(running.config.routes[0].inbox) == []


def test_a_file_sent_into_a_conversation_the_agent_resumed_arrives(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    data = jpeg_bytes(seed=42)
    with running_daemon(config) as running:
        store = running.daemon.store
        route = running.config.routes[0]
        conversation = running.conversation("scans")
        emulator.close_conversation(conversation)
        wait_until(lambda: store.open_conversation("scans") is None, TIMEOUT, "the close")
        emulator.send_agent_file(conversation, data, "after resuming")
        files = wait_until(lambda: _inbox_files(route.inbox), TIMEOUT, "the resumed file")
        assert store.open_conversation("scans") == conversation
    assert [p.read_bytes() for p in files] == [data]
    assert len(emulator.state()["conversations"]) == 1


def test_a_route_closes_its_idle_conversation_and_opens_none_until_the_next_file(
    tmp_path: Path, emulator: RunningEmulator, emulator_log: pytest.LogCaptureFixture
) -> None:
    config = write_config(
        tmp_path,
        emulator.base_url,
        emulator.account,
        routes=[{"name": "scans", "close_after_idle_minutes": 0.05}],
    )
    with running_daemon(config) as running:
        store = running.daemon.store
        first = running.conversation("scans")
        wait_until(lambda: store.open_conversation("scans") is None, TIMEOUT, "the idle close")
        closed = next(c for c in emulator.state()["conversations"] if c["id"] == first)
        assert closed["closeReason"] == "CONSUMER"  # syncd closed it, not the agent
        assert _requests_logged(emulator_log) == 1
        second = running.conversation("scans")
    assert second != first
    assert _requests_logged(emulator_log) == 2
