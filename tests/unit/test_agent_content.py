"""What an agent's file is (decided from its bytes), and an agent's text as an inbox file."""

from __future__ import annotations

import io
import zipfile

import pytest

from syncd.errors import PermanentFileError
from syncd.inbox.agent_text import MAX_TEXT_BYTES, cap_text, render_agent_text, strip_controls
from syncd.inbox.content import agent_file_extension, content_kind
from syncd.inbox.cursor import GaplessCursor
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.notifications import ConversationChange, MessagingEvent
from tests.helpers.images import jpeg_bytes, png_bytes

GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"

MAIN_PARTS = {
    "docx": "word/document.xml",
    "xlsx": "xl/workbook.xml",
    "pptx": "ppt/presentation.xml",
}


def office(kind: str, *, macro: bool = False, content_types: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if content_types:
            declared = "application/vnd.ms-excel.sheet.macroEnabled.main+xml" if macro else "x"
            archive.writestr("[Content_Types].xml", f'<Types><Default ContentType="{declared}"/>')
        archive.writestr(MAIN_PARTS[kind], "<root/>")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "declared", "extension"),
    [
        (jpeg_bytes(seed=1), "JPG", "jpg"),
        (jpeg_bytes(seed=1), "IMG", "jpg"),
        (png_bytes(40, 30), "PNG", "png"),
        (GIF, "GIF", "gif"),
        (b"%PDF-1.7\nbody", "PDF", "pdf"),
        (office("docx"), "DOCX", "docx"),
        (office("xlsx"), "xlsx", "xlsx"),
        (office("pptx"), "PPTX", "pptx"),
    ],
)
def test_each_type_agents_may_send_is_recognised_by_its_content(
    data: bytes, declared: str, extension: str
) -> None:
    assert agent_file_extension(data, declared) == extension


@pytest.mark.parametrize(
    ("data", "declared", "reason"),
    [
        (office("xlsx", macro=True), "XLSX", "macro-enabled"),
        (office("docx", content_types=False), "DOCX", "[Content_Types].xml"),
        (b"PK\x03\x04 not really a zip", "DOCX", "damaged ZIP"),
        (b"%PDF-1.4\n", "JPG", "declared as JPG but the content is PDF"),
        (office("pptx"), "DOCX", "declared as DOCX but the content is PPTX"),
        (b"%PDF-1.4\n", "EXE", "not one agents may send"),
        (b"MZ\x90\x00 a program", "PDF", "not a file type agents may send"),
    ],
)
def test_macro_damaged_and_mismatched_content_is_refused_with_a_reason(
    data: bytes, declared: str, reason: str
) -> None:
    with pytest.raises(PermanentFileError) as refused:
        agent_file_extension(data, declared)
    assert reason in refused.value.reason


def test_a_macro_part_alone_is_enough_to_refuse() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<root/>")
        archive.writestr("word/vbaProject.bin", b"\x00")
    with pytest.raises(PermanentFileError, match="macro-enabled"):
        content_kind(buffer.getvalue())


def test_agent_text_keeps_line_breaks_and_drops_control_characters() -> None:
    rendered = render_agent_text(0.0, "conv\x1b[2J-1", "agent\x00", "line 1\r\nline 2\x07\u202e!")
    text = rendered.decode("utf-8")
    assert text.startswith("time: 1970-01-01T00:00:00Z\nconversation: conv[2J-1\nagent: agent\n")
    assert text.endswith("\n\nline 1\nline 2!\n")
    assert strip_controls("a\tb\nc", keep_line_breaks=False) == "abc"


def test_agent_text_is_capped_on_a_character_boundary() -> None:
    capped = cap_text("é" * MAX_TEXT_BYTES)
    assert len(capped.encode("utf-8")) <= MAX_TEXT_BYTES
    assert capped.endswith("cut: the message was longer than 16 kB]")
    assert cap_text("short") == "short"


def _change(
    conversation_id: str, *, start_ms: int | None, state: str = "OPEN"
) -> ConversationChange:
    participants = {"consumer-1": "CONSUMER", "agent-1": "ASSIGNED_AGENT"}
    return ConversationChange(
        "UPSERT", conversation_id, state, state, None, participants, start_ms, None
    )


def test_the_tracker_follows_every_open_conversation_and_names_the_newest() -> None:
    tracker = ConversationTracker()
    tracker.apply_conversation_changes([_change("old", start_ms=100), _change("new", start_ms=200)])
    assert tracker.open_conversation_ids() == ["old", "new"]
    assert tracker.open_conversation_id == "new"
    tracker.apply_conversation_changes([_change("new", start_ms=200, state="CLOSE")])
    assert tracker.open_conversation_id == "old"
    tracker.set_open("created")
    assert tracker.open_conversation_id == "created"
    tracker.forget("created")
    assert tracker.open_conversation_ids() == ["old"]
    stranger = ConversationChange("UPSERT", "stranger", "OPEN", "OPEN", None, {}, 999, None)
    assert tracker.apply_conversation_changes([stranger]) == []  # names no consumer: not ours
    assert tracker.open_conversation_ids() == ["old"]


def test_a_probe_finds_its_notification_whether_it_came_before_or_after_the_wait() -> None:
    tracker = ConversationTracker()
    tracker.start_probe()
    tracker.apply_conversation_changes([_change("a", start_ms=1)], "probe-1")
    assert [c.conversation_id for c in tracker.wait_for_probe("probe-1", 0.1) or []] == ["a"]
    assert tracker.wait_for_probe("probe-2", 0.05) is None
    tracker.finish_probe()
    tracker.apply_conversation_changes([_change("b", start_ms=2)], "probe-3")
    assert tracker.wait_for_probe("probe-3", 0.05) is None  # no probe running: not kept


def _event(sequence: int) -> MessagingEvent:
    return MessagingEvent("c", sequence, "x", None, None, "ContentEvent", "text/plain", {})


def test_a_replay_is_complete_only_when_every_sequence_up_to_the_last_arrived() -> None:
    tracker = ConversationTracker()
    replay = tracker.start_replay("c", 1)
    tracker.offer_events([_event(3), _event(1), _event(3)])  # out of order and repeated
    assert not tracker.wait_for_replay(replay, 3, 0.05)
    tracker.offer_events([_event(2), _event(0)])
    assert tracker.wait_for_replay(replay, 3, 0.05)
    assert [e.sequence for e in tracker.finish_replay(replay)] == [1, 2, 3]


def test_the_cursor_never_passes_a_sequence_that_has_not_arrived() -> None:
    cursor = GaplessCursor(lambda conversation_id: 5)
    assert cursor.through_if_seen("c", 7) is None  # live event 7 overtook history 5 and 6
    cursor.mark_seen("c", 7)
    assert cursor.through_if_seen("c", 6) is None
    cursor.mark_seen("c", 6)
    assert cursor.through_if_seen("c", 5) == 7  # the gap closes: 5, 6 and 7 all seen
    cursor.mark_seen("c", 5)
    cursor.mark_seen("c", 3)  # below where the subscription started: ignored
    assert cursor.through_if_seen("c", 8) == 8
