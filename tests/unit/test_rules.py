"""The pure rules: ignored names, settling, retries, captions, inbox names and hosts."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd import rules
from syncd.rules import SettleObservation

# --- ignored names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.jpg",
        ".syncd-work",
        "sent",
        "failed",
        "~$report.docx",
        "scan.tmp",
        "scan.TMP",
        "scan.jpg.part",
        "scan.partial",
        "download.jpg.crdownload",
        "Thumbs.db",
        "THUMBS.DB",
        "desktop.ini",
        "Desktop.INI",
        "@eaDir",
        ".DS_Store",
        "",
        ".",
        "..",
    ],
)
def test_hidden_temporary_and_own_names_are_ignored(name: str) -> None:
    assert rules.is_ignored_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "scan_0001.jpg",
        "SCAN.JPG",
        "invoice 2026-11.png",
        "tmp.jpg",
        "partial-page.gif",
        "sent.jpg",
        "failed scan.jpeg",
        "~scan.jpg",
        "Thumbs.db.jpg",
    ],
)
def test_ordinary_scan_names_are_not_ignored(name: str) -> None:
    assert not rules.is_ignored_name(name)


# --- settling -------------------------------------------------------------------------------


def observation(at: float, size: int = 1000, mtime: int = 5, inode: int = 7) -> SettleObservation:
    return SettleObservation(size_bytes=size, mtime_ns=mtime, inode=inode, observed_at=at)


SETTLE_SECONDS = 2.0


@pytest.mark.parametrize(
    ("previous", "current", "now", "close_write_seen", "expected"),
    [
        pytest.param(None, observation(10.0), 10.0, False, "wait", id="first-look"),
        pytest.param(None, observation(10.0), 99.0, True, "wait", id="first-look-after-close"),
        pytest.param(observation(0.0), observation(1.0), 1.0, False, "wait", id="quiet-too-short"),
        pytest.param(observation(0.0), observation(2.0), 2.0, False, "ready", id="quiet-enough"),
        pytest.param(
            observation(0.0, size=500), observation(5.0), 5.0, False, "wait", id="size-changed"
        ),
        pytest.param(
            observation(0.0, mtime=4), observation(5.0), 5.0, False, "wait", id="mtime-changed"
        ),
        pytest.param(
            observation(0.0, inode=8), observation(5.0), 5.0, False, "wait", id="file-replaced"
        ),
        pytest.param(
            observation(0.0), observation(0.25), 0.25, True, "ready", id="close-shortens-wait"
        ),
        pytest.param(
            observation(0.0), observation(0.1), 0.1, True, "wait", id="close-keeps-a-floor"
        ),
        pytest.param(
            observation(0.0, size=1), observation(0.3), 0.3, True, "wait", id="close-not-stat"
        ),
    ],
)
def test_settle_decision_needs_two_equal_looks_a_quiet_period_apart(
    previous: SettleObservation | None,
    current: SettleObservation,
    now: float,
    close_write_seen: bool,
    expected: str,
) -> None:
    decision = rules.settle_decision(previous, current, now, SETTLE_SECONDS, close_write_seen)
    assert decision == expected


def test_a_watcher_event_restarts_the_quiet_period() -> None:
    previous, current = observation(0.0), observation(3.0)
    assert rules.settle_decision(previous, current, 3.0, SETTLE_SECONDS, False) == "ready"
    assert (
        rules.settle_decision(previous, current, 3.0, SETTLE_SECONDS, False, last_event_at=2.5)
        == "wait"
    )
    assert rules.settle_ready_at(previous, current, SETTLE_SECONDS, False, last_event_at=2.5) == 4.5


def test_settle_ready_at_counts_from_the_first_sighting_of_the_present_state() -> None:
    assert rules.settle_ready_at(observation(1.0), observation(2.0), SETTLE_SECONDS, False) == 3.0
    changed = observation(2.0, size=2)
    assert rules.settle_ready_at(observation(1.0), changed, SETTLE_SECONDS, False) == 4.0
    assert rules.settle_ready_at(None, observation(2.0), SETTLE_SECONDS, True) == pytest.approx(
        2.0 + rules.CLOSE_WRITE_SETTLE_SECONDS
    )


def test_a_short_settle_period_is_not_lengthened_by_a_close_event() -> None:
    assert rules.settle_decision(observation(0.0), observation(0.1), 0.1, 0.1, True) == "ready"


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected_seconds"),
    [
        (1, 5.0),
        (2, 10.0),
        (3, 15.0),
        (4, 120.0),
        (5, 240.0),
        (6, 480.0),
        (7, 960.0),
        (8, 1800.0),
        (9, 1800.0),
        (10_000_000, 1800.0),
    ],
)
def test_retry_schedule_follows_liveperson_then_backs_off_to_half_an_hour(
    attempts: int, expected_seconds: float
) -> None:
    assert rules.next_attempt_at(attempts, now=1000.0) == 1000.0 + expected_seconds


@pytest.mark.parametrize(
    ("retry_after_seconds", "expected_seconds"),
    [(0.0, 1.0), (0.2, 1.0), (1.0, 1.0), (30.0, 30.0), (86_400.0, 1800.0)],
)
def test_a_server_hint_wins_but_never_below_one_second_or_above_the_cap(
    retry_after_seconds: float, expected_seconds: float
) -> None:
    assert rules.retry_delay_seconds(6, retry_after_seconds) == expected_seconds


def test_jitter_only_lengthens_the_wait_by_up_to_a_fifth() -> None:
    assert rules.retry_delay_seconds(1, jitter_fraction=0.0) == 5.0
    assert rules.retry_delay_seconds(1, jitter_fraction=0.5) == pytest.approx(5.5)
    assert rules.retry_delay_seconds(1, jitter_fraction=1.0) == pytest.approx(6.0)


def test_a_custom_policy_replaces_the_schedule() -> None:
    policy = rules.RetryPolicy(first_delays_seconds=(0.5,), backoff_start_seconds=1.0)
    delays = [rules.retry_delay_seconds(attempts, policy=policy) for attempts in (1, 2, 3)]
    assert delays == [0.5, 1.0, 2.0]


@pytest.mark.parametrize(("attempts", "jitter_fraction"), [(0, 0.0), (-1, 0.0), (1, 1.5)])
def test_retry_rejects_impossible_arguments(attempts: int, jitter_fraction: float) -> None:
    with pytest.raises(ValueError, match="must"):
        rules.next_attempt_at(attempts, 0.0, jitter_fraction=jitter_fraction)


@given(
    attempts=st.integers(min_value=1, max_value=10**9),
    retry_after=st.none() | st.floats(min_value=0, max_value=10**9),
    jitter=st.floats(min_value=0, max_value=1),
)
def test_every_retry_waits_at_least_a_second_and_at_most_the_jittered_cap(
    attempts: int, retry_after: float | None, jitter: float
) -> None:
    delay = rules.retry_delay_seconds(attempts, retry_after, jitter)
    policy = rules.DEFAULT_RETRY_POLICY
    assert 1.0 <= delay <= policy.max_delay_seconds * (1 + policy.jitter_spread)
    assert delay >= rules.retry_delay_seconds(attempts, retry_after, 0.0)


@given(attempts=st.integers(min_value=1, max_value=200))
def test_the_schedule_never_gets_shorter(attempts: int) -> None:
    assert rules.retry_delay_seconds(attempts + 1) >= rules.retry_delay_seconds(attempts)


@pytest.mark.parametrize(
    ("attempts", "seconds_since_first", "expected"),
    [
        (1, 0.0, False),
        (4, 120.0, False),
        (5, 59.0, False),
        (5, 60.0, True),
        (20, 61.0, True),
        (100, 10.0, False),
    ],
)
def test_an_incomplete_file_fails_only_after_five_looks_and_a_minute(
    attempts: int, seconds_since_first: float, expected: bool
) -> None:
    first_seen_at = 500.0
    now = first_seen_at + seconds_since_first
    assert rules.is_still_writing_exhausted(attempts, first_seen_at, now) is expected


def test_incomplete_files_are_looked_at_again_sooner_than_failed_sends() -> None:
    waits = [rules.next_still_writing_check_at(attempts, 0.0) for attempts in range(1, 7)]
    assert waits == [2.0, 4.0, 8.0, 15.0, 15.0, 15.0]


# --- captions -------------------------------------------------------------------------------

MODIFIED = datetime(2026, 11, 25, 10, 15, 3)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{filename}", "scan.0001.jpg"),
        ("{stem}", "scan.0001"),
        ("{route}: {stem}", "invoices: scan.0001"),
        ("{modified}", "2026-11-25T10:15"),
        ("{modified:%Y-%m-%d %H:%M}", "2026-11-25 10:15"),
        ("{modified:%d.%m.%Y}", "25.11.2026"),
        ("Scan {{literal}} {stem}", "Scan {literal} scan.0001"),
        ("  padded  ", "padded"),
        ("no fields at all", "no fields at all"),
    ],
)
def test_render_caption_fills_the_four_fields(template: str, expected: str) -> None:
    assert rules.validate_caption_template(template) is None
    assert rules.render_caption(template, "scan.0001.jpg", "invoices", MODIFIED) == expected


def test_modified_keeps_its_time_zone_in_iso_form() -> None:
    aware = MODIFIED.replace(tzinfo=timezone(timedelta(hours=2)))
    assert rules.render_caption("{modified}", "a.jpg", "r", aware) == "2026-11-25T10:15+02:00"


@pytest.mark.parametrize(
    ("template", "expected_fragment"),
    [
        ("{filename.__class__}", "attribute access and indexing are not allowed"),
        ("{filename[0]}", "attribute access and indexing are not allowed"),
        ("{route.__init__.__globals__}", "attribute access and indexing are not allowed"),
        ("{}", "positional fields"),
        ("{0}", "positional fields"),
        ("{filename!r}", "conversions are not allowed"),
        ("{filename:>40}", "only {modified} takes a format"),
        ("{modified:%Y{route}}", "cannot contain braces"),
        ("{modified:%Y\x00}", "control characters"),
        ("line\nbreak {stem}", "control characters"),
        ("{size}", "unknown field {size}"),
        ("{filename", "malformed template"),
        ("oops }", "malformed template"),
    ],
)
def test_unsafe_or_malformed_templates_are_refused(template: str, expected_fragment: str) -> None:
    problem = rules.validate_caption_template(template)
    assert problem is not None
    assert expected_fragment in problem
    with pytest.raises(ValueError) as caught:
        rules.render_caption(template, "a.jpg", "r", MODIFIED)
    assert str(caught.value) == problem


def test_caption_drops_control_and_bidi_characters_from_file_names() -> None:
    caption = rules.render_caption("{filename}", "in\nvoice\u202egpj.exe", "r", MODIFIED)
    assert caption == "in voicegpj.exe"


def test_a_huge_caption_is_cut_to_a_sane_length() -> None:
    caption = rules.render_caption("{stem} {stem}", "x" * 10_000 + ".jpg", "r", MODIFIED)
    assert len(caption) == rules.MAX_CAPTION_CHARS


# --- inbox names ----------------------------------------------------------------------------

RECEIVED_AT = datetime(2026, 11, 25, 10, 15, 3, tzinfo=UTC)
CONVERSATION = "7507be78-9d3e-4c51-a5a8-0c4f3fa2a0d1"


def test_inbox_name_is_built_from_local_facts() -> None:
    name = rules.inbox_file_name(RECEIVED_AT, CONVERSATION, 12, "signed-form", "jpg")
    assert name == "2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form.jpg"


@pytest.mark.parametrize(
    ("caption", "extension", "expected"),
    [
        (None, "png", "2026-11-25T10-15-03Z_conv-7507be78_seq-12.png"),
        ("", ".PNG", "2026-11-25T10-15-03Z_conv-7507be78_seq-12.png"),
        ("///", "gif", "2026-11-25T10-15-03Z_conv-7507be78_seq-12.gif"),
        ("Résumé signé", "jpg", "2026-11-25T10-15-03Z_conv-7507be78_seq-12_Résumé signé.jpg"),
    ],
)
def test_inbox_name_leaves_out_an_empty_caption_and_uses_the_detected_type(
    caption: str | None, extension: str, expected: str
) -> None:
    assert rules.inbox_file_name(RECEIVED_AT, CONVERSATION, 12, caption, extension) == expected


def test_inbox_name_is_in_utc() -> None:
    local = RECEIVED_AT.astimezone(timezone(timedelta(hours=-5)))
    name = rules.inbox_file_name(local, CONVERSATION, 1, None, "jpg")
    assert name.startswith("2026-11-25T10-15-03Z_")


@pytest.mark.parametrize("extension", ["j/pg", "", "../x", ".", "averylongextension", "jpé"])
def test_inbox_name_refuses_an_extension_that_is_not_a_detected_type(extension: str) -> None:
    with pytest.raises(ValueError, match="extension must be"):
        rules.inbox_file_name(RECEIVED_AT, CONVERSATION, 1, None, extension)


@pytest.mark.parametrize("sequence", [-1, 10**16, 10**400])
def test_a_wild_sequence_from_the_server_still_gives_a_short_name(sequence: int) -> None:
    name = rules.inbox_file_name(RECEIVED_AT, CONVERSATION, sequence, None, "jpg")
    assert name == "2026-11-25T10-15-03Z_conv-7507be78_seq-x.jpg"


def test_a_conversation_id_without_letters_still_gives_a_name() -> None:
    name = rules.inbox_file_name(RECEIVED_AT, "../--", 3, None, "jpg")
    assert name == "2026-11-25T10-15-03Z_conv-unknown_seq-3.jpg"


HOSTILE_CAPTIONS = [
    "../../etc/passwd",
    "/etc/passwd",
    "..\\..\\Windows\\system32",
    "line one\nINFO fake log line",
    "nul\x00byte",
    "-rf --no-preserve-root",
    ".bashrc",
    "..",
    "...",
    " - . leading junk",
    "r\u202egpj.exe",
    "zero\u200bwidth",
    "x" * 10_240,
    "é" * 500,
    "😀" * 300,
    "CON",
    'a:b*c?d"e<f>g|h',
    "\t\r\x1b[31mred",
]


def assert_safe_name_part(part: str, max_chars: int) -> None:
    assert len(part) <= max_chars
    assert "/" not in part and "\\" not in part and ".." not in part
    assert not part.startswith((".", "-", " "))
    assert not part.endswith((".", " "))
    assert all(unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp") for char in part)


def assert_safe_file_name(name: str) -> None:
    assert PurePosixPath(name).name == name
    assert name not in (".", "..")
    assert "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith((".", "-"))
    assert len(name.encode()) <= rules.MAX_FILE_NAME_BYTES
    assert all(unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp") for char in name)


@pytest.mark.parametrize("caption", HOSTILE_CAPTIONS)
def test_hostile_captions_never_escape_the_inbox(caption: str) -> None:
    assert_safe_name_part(rules.sanitize_name_part(caption), rules.MAX_CAPTION_NAME_CHARS)
    assert_safe_file_name(rules.inbox_file_name(RECEIVED_AT, CONVERSATION, 9, caption, "jpg"))


@pytest.mark.parametrize(
    ("caption", "expected"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("line one\nINFO fake", "line one_INFO fake"),
        ("-rf --no-preserve-root", "rf --no-preserve-root"),
        ("r\u202egpj.exe", "r_gpj.exe"),
        ("a:b*c?d", "a_b_c_d"),
        ("invoice...final..jpg", "invoice.final.jpg"),
        ("signed   form", "signed form"),
        ("नमस्ते", "नमस्ते"),
        ("", ""),
    ],
)
def test_sanitizer_keeps_words_and_replaces_the_rest(caption: str, expected: str) -> None:
    assert rules.sanitize_name_part(caption) == expected


@settings(max_examples=500, deadline=None)
@given(caption=st.text(), conversation_id=st.text(), sequence=st.integers())
def test_any_caption_and_conversation_give_a_safe_single_component_name(
    caption: str, conversation_id: str, sequence: int
) -> None:
    assert_safe_name_part(rules.sanitize_name_part(caption), rules.MAX_CAPTION_NAME_CHARS)
    name = rules.inbox_file_name(RECEIVED_AT, conversation_id, sequence, caption, "jpeg")
    assert_safe_file_name(name)
    assert name.endswith(".jpeg")


@pytest.mark.parametrize(
    ("name", "number", "expected"),
    [
        ("a.jpg", 2, "a-2.jpg"),
        ("a.jpg", 3, "a-3.jpg"),
        ("archive.tar.gz", 2, "archive.tar-2.gz"),
        ("noextension", 4, "noextension-4"),
    ],
)
def test_numbered_variants_go_before_the_extension(name: str, number: int, expected: str) -> None:
    assert rules.numbered_variant(name, number) == expected


def test_numbered_variant_of_a_longest_name_stays_within_the_byte_limit() -> None:
    longest = rules.inbox_file_name(RECEIVED_AT, CONVERSATION, 1, "é" * 500, "jpg")
    variant = rules.numbered_variant(longest, 1234)
    assert len(variant.encode()) <= rules.MAX_FILE_NAME_BYTES
    assert variant.endswith("-1234.jpg")
    assert_safe_file_name(variant)


@pytest.mark.parametrize("number", [1, 0, -2])
def test_numbered_variants_start_at_two(number: int) -> None:
    with pytest.raises(ValueError, match="from 2"):
        rules.numbered_variant("a.jpg", number)


def test_candidate_names_offer_the_name_then_its_numbered_variants_and_stop() -> None:
    names = list(rules.candidate_names("scan.jpg"))
    assert names[:3] == ["scan.jpg", "scan-2.jpg", "scan-3.jpg"]
    assert len(names) == rules.MAX_NAME_CANDIDATES == len(set(names))
    assert names[-1] == f"scan-{rules.MAX_NAME_CANDIDATES}.jpg"


# --- hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("api.liveperson.net", False),
        ("localhost.example.com", False),
        ("evil.localhost", False),
        ("2130706433", False),
        ("", False),
    ],
)
def test_only_this_machine_counts_as_loopback(host: str, expected: bool) -> None:
    assert rules.is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.liveperson.net", True),
        ("wss://va.msg.liveperson.net/ws_api", True),
        ("http://127.0.0.1:8780", True),
        ("ws://[::1]:9000/x", True),
        ("http://localhost", True),
        ("http://api.liveperson.net", False),
        ("ws://10.1.2.3", False),
        ("ftp://127.0.0.1", False),
        ("https://", False),
        ("http://[::1", False),
        ("api.liveperson.net", False),
    ],
)
def test_plain_transports_are_allowed_only_on_loopback(url: str, expected: bool) -> None:
    assert rules.is_allowed_transport(url) is expected
