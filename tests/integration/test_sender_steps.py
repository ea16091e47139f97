"""The sender driven one step at a time against the real emulator, with its fault knobs.

``RouteSender.step(now)`` is the unit the daemon's sender thread repeats; here the test
calls it with explicit times, so retry schedules are stepped through instead of waited out.
Each test checks what a row's state says after a fault and that the file is sent exactly
once (or fails with its reason) in the end.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from syncd.config import RouteConfig, load_config
from syncd.emulator.server import EmulatorSettings, RunningEmulator
from syncd.folders.route import RouteFolders
from syncd.imaging import pipeline as imaging
from syncd.liveperson.consumer import ConsumerClient
from syncd.outbox import finisher as finisher_module
from syncd.outbox import row_upload as row_upload_module
from syncd.outbox import sender as sender_module
from syncd.outbox.intake import Intake
from syncd.outbox.preparer import Preparer
from syncd.outbox.send_faults import PUBLISH_REJECTIONS_BEFORE_FAILING, ROW_FAULTS_BEFORE_FAILING
from syncd.outbox.sender import RouteSender
from syncd.outbox.uploads import upload_name_of
from syncd.rules.error_kinds import LOG_RECORD_KIND, ErrorKind
from syncd.rules.retry import DEFAULT_RETRY_POLICY
from syncd.service.wiring import LivePersonServices
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore
from tests.helpers.documents import pdf_document
from tests.helpers.harness import write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.immutable import set_immutable
from tests.helpers.lookups import hosted_file_events
from tests.helpers.tls import write_server_certificate
from tests.helpers.waiting import wait_until

# Far enough apart that every retry schedule the sender may set has passed.
STEP_SECONDS = 4000.0


class Clock:
    """The time the sender reads; the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Parts:
    route: RouteConfig
    store: StateStore
    folders: RouteFolders
    client: ConsumerClient
    sender: RouteSender
    clock: Clock
    intake: Intake
    preparer: Preparer


@pytest.fixture
def emulator_settings(request: pytest.FixtureRequest, tmp_path: Path) -> EmulatorSettings:
    """The emulator's settings: plain HTTP, or (parametrized indirectly with "private CA")
    HTTPS with a certificate from a CA the test's configuration does not trust."""
    if getattr(request, "param", None) != "private CA":
        return EmulatorSettings(port=0)
    folder = tmp_path / "tls"
    folder.mkdir()
    cert_path, key_path = write_server_certificate(trustme.CA(), folder)
    return EmulatorSettings(port=0, tls_cert=cert_path, tls_key=key_path)


@pytest.fixture
def parts(tmp_path: Path, emulator: RunningEmulator) -> Iterator[Parts]:
    # A short request timeout: a lost answer is given up on quickly. A window of one file:
    # the sender does every step itself, so each step's effect is visible when it returns
    # (uploads ahead and background finishing are tests/integration/test_upload_window.py's).
    config = load_config(
        write_config(
            tmp_path,
            emulator.base_url,
            emulator.account,
            routes=[{"name": "scans", "upload_window_files": 1}],
            liveperson={"request_timeout_seconds": 2},
        )
    )
    route = config.routes[0]
    clock = Clock(1_000_000.0)
    with StateStore.open(config.state.database) as store:
        folders = RouteFolders(route.name, route.outbox, route.inbox)
        services = LivePersonServices(config, store)
        preparer = Preparer(
            store,
            {route.name: route},
            {route.name: folders},
            workers=1,
            limits=imaging.ImageLimits(),
            clock=clock,
            on_finished=lambda _route: None,
        )
        client = services.client_for(
            route, on_messaging_event=lambda _e: None, on_conversation_change=lambda _c: None
        )
        sender = RouteSender(route, store, folders, client, services.storage, preparer, clock)
        try:
            yield Parts(
                route,
                store,
                folders,
                client,
                sender,
                clock,
                Intake(route, store, folders),
                preparer,
            )
        finally:
            client.close()
            preparer.shutdown()
            services.close()
            folders.close()


def _prepared_row(
    parts: Parts, name: str = "scan.jpg", seed: int = 0, data: bytes | None = None
) -> OutboundRow:
    """Drop a file (``data``, else a photo made from ``seed``), claim it and prepare it;
    returns its row (prepared; a document's row, with its pages prepared beside it)."""
    path = parts.route.outbox / name
    path.write_bytes(jpeg_bytes(320, 240, seed=seed) if data is None else data)
    now = parts.clock.now
    parts.intake.note_seen(path, close_write=True, now=now)
    for offset in (0.0, 60.0, 120.0):
        if parts.intake.step(now + offset):
            break
    (row,) = [
        r for r in parts.store.outbound_in_states([OutboundState.CLAIMED]) if r.source_name == name
    ]
    assert parts.preparer.prepare_now(row, parts.route)
    return parts.store.get_outbound(row.id)


def _damage(upload: Path, damage: str) -> None:
    """Remove a prepared upload (``missing``) or overwrite it with other bytes."""
    if damage == "missing":
        upload.unlink()
    else:
        upload.write_bytes(b"not the prepared bytes")


def _step(parts: Parts, times: int = 1) -> None:
    for _ in range(times):
        parts.clock.now += STEP_SECONDS
        parts.sender.step(parts.clock.now)


def _kinds(caplog: pytest.LogCaptureFixture, logger: str) -> list[object]:
    """The kind (``extra=log_kind(...)``) each captured line of ``logger`` states."""
    return [getattr(r, LOG_RECORD_KIND, None) for r in caplog.records if r.name == logger]


def _row(parts: Parts, row_id: int) -> OutboundRow:
    return parts.store.get_outbound(row_id)


def test_a_row_goes_through_every_state_to_done_one_step_each(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    seen = []
    for _ in range(6):
        _step(parts)
        seen.append(_row(parts, row.id).state)
        if seen[-1] == OutboundState.DONE:
            break
    assert seen == [OutboundState.UPLOADED, OutboundState.PUBLISHED, OutboundState.DONE]
    done = _row(parts, row.id)
    assert done.final_path is not None and done.final_path.exists()
    assert done.attempts == 0 and done.last_error is None
    (event,) = hosted_file_events(emulator)
    assert done.relative_path is not None and done.relative_path in str(event)


def test_storage_refusing_every_upload_fails_the_row_after_its_tries_and_the_route_goes_on(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=403)
    for attempt in range(1, ROW_FAULTS_BEFORE_FAILING):
        with caplog.at_level(logging.WARNING, logger="syncd.sender"):
            _step(parts)
        current = _row(parts, row.id)
        assert (current.state, current.attempts) == (OutboundState.PREPARED, attempt)
        assert "403" in (current.last_error or "")
        # The durable schedule: 5 s after the first try, 10 s after the second (+20 % jitter).
        wait = current.next_attempt_at - parts.clock.now
        assert DEFAULT_RETRY_POLICY.first_delays_seconds[attempt - 1] <= wait
        assert wait <= 1.2 * DEFAULT_RETRY_POLICY.first_delays_seconds[attempt - 1]
        summary = parts.store.route_summary("scans")
        assert (summary.last_error, summary.last_error_at) == (current.last_error, parts.clock.now)
        # Storage refusing the upload is LivePerson's side, not the file's.
        assert summary.last_error_kind == ErrorKind.LIVEPERSON
        (line,) = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
        assert line == f"route=scans file=scan.jpg: {current.last_error}; retrying in {wait:.0f} s"
        assert _kinds(caplog, "syncd.sender") == [ErrorKind.LIVEPERSON]
        caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syncd.quarantine"):
        _step(parts)
    assert _kinds(caplog, "syncd.quarantine") == [ErrorKind.LIVEPERSON]
    failed = _row(parts, row.id)
    assert failed.state == OutboundState.FAILED
    assert (failed.last_error or "").startswith("not sent: ")
    assert "403" in (failed.last_error or "")
    assert (parts.route.failed_dir / "scan.jpg").exists()
    summary = parts.store.route_summary("scans")
    assert summary.last_error == f"scan.jpg: {failed.last_error}"
    assert summary.last_error_at == parts.clock.now
    assert summary.last_error_kind == ErrorKind.LIVEPERSON
    emulator.reset_faults()
    second = _prepared_row(parts, "next.jpg", seed=1)
    _step(parts, 3)
    assert _row(parts, second.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 1


def test_a_refused_publish_is_retried_on_its_schedule_then_fails_with_liveperson_s_reason(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    _step(parts)
    assert _row(parts, row.id).state == OutboundState.UPLOADED
    emulator.set_faults(
        request_error_rate=1.0, request_error_code=400, request_error_types=["ms.PublishEvent"]
    )
    for attempt in range(1, PUBLISH_REJECTIONS_BEFORE_FAILING):
        with caplog.at_level(logging.WARNING, logger="syncd.sender"):
            _step(parts)
        current = _row(parts, row.id)
        assert (current.state, current.attempts) == (OutboundState.PUBLISHING, attempt)
        assert "400" in (current.last_error or "")
        assert parts.store.route_summary("scans").last_error_kind == ErrorKind.LIVEPERSON
        assert _kinds(caplog, "syncd.sender") == [ErrorKind.LIVEPERSON]
        caplog.clear()
    with caplog.at_level(logging.WARNING, logger="syncd.quarantine"):
        _step(parts)
    assert _kinds(caplog, "syncd.quarantine") == [ErrorKind.LIVEPERSON]
    failed = _row(parts, row.id)
    assert failed.state == OutboundState.FAILED
    assert (failed.last_error or "").startswith("LivePerson refused it: ")
    emulator.reset_faults()
    assert hosted_file_events(emulator) == []


def test_a_refused_upload_url_keeps_the_file_and_asks_about_file_sharing(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    emulator.set_faults(
        request_error_rate=1.0,
        request_error_code=403,
        request_error_types=["ms.GenerateURLForUploadFile"],
    )
    with caplog.at_level(logging.ERROR, logger="syncd.sender"):
        before = parts.clock.now + STEP_SECONDS
        _step(parts)
    current = _row(parts, row.id)
    assert (current.state, current.attempts) == (OutboundState.PREPARED, 1)
    assert "403" in (current.last_error or "")
    # At least a minute (the schedule alone would say 5 s): the account, not the file, is wrong.
    assert before + 60 <= current.next_attempt_at < before + 61
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        "route=scans: LivePerson refused an upload URL (Injected fault); is file sharing "
        "enabled? (syncd enable-file-sharing)"
    ]
    # The account is wrong (file sharing off), not the file and not the link.
    assert _kinds(caplog, "syncd.sender") == [ErrorKind.ACCOUNT]
    assert parts.store.route_summary("scans").last_error_kind == ErrorKind.ACCOUNT
    emulator.reset_faults()
    _step(parts, 3)
    assert _row(parts, row.id).state == OutboundState.DONE


def test_a_link_failure_leaves_the_row_untouched_and_waits_for_the_link(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    emulator.set_faults(request_error_rate=1.0, request_error_code=503)
    with caplog.at_level(logging.DEBUG, logger="syncd.sender"):
        _step(parts)
        first_step_at = parts.clock.now
        lines = [r.getMessage() for r in caplog.records if r.name == "syncd.sender"]
        first_kinds = _kinds(caplog, "syncd.sender")
        caplog.clear()
        _step(parts)
        later = [r.getMessage() for r in caplog.records if r.name == "syncd.sender"]
    current = _row(parts, row.id)
    assert (current.state, current.attempts, current.last_error) == (
        OutboundState.PREPARED,
        0,
        None,
    )
    # The route (not the file) carries the error, noted once per outage.
    summary = parts.store.route_summary("scans")
    assert summary.last_error is not None and "503" in summary.last_error
    assert summary.last_error_at == first_step_at
    assert summary.last_error_kind == ErrorKind.LIVEPERSON
    assert first_kinds == [ErrorKind.LIVEPERSON]
    assert lines == [
        f"route=scans file=scan.jpg: waiting for LivePerson ({summary.last_error}); "
        "the file keeps its place"
    ]
    assert len(later) == 1
    assert later[0].startswith("route=scans: still waiting for LivePerson: ")
    assert "503" in later[0]
    emulator.reset_faults()
    # The session reconnects on its own schedule (real time): step until the file is done.
    wait_until(lambda: _step_until_done(parts, row.id), 60, "the file after the outage")
    assert len(hosted_file_events(emulator)) == 1


def _step_until_done(parts: Parts, row_id: int) -> bool:
    _step(parts)
    return _row(parts, row_id).state == OutboundState.DONE


def test_upload_urls_that_have_always_expired_are_asked_for_again_then_count_as_a_fault(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    emulator.set_faults(upload_url_ttl_seconds=-10)
    with caplog.at_level(logging.INFO, logger="syncd.sender"):
        _step(parts)
    # One fresh URL asked for after each expired one, up to the limit.
    expired = [r.getMessage() for r in caplog.records if "expired, asking again" in r.getMessage()]
    assert expired == ["route=scans file=scan.jpg: upload URL expired, asking again"] * (
        row_upload_module.UPLOAD_URL_ATTEMPTS
    )
    current = _row(parts, row.id)
    assert (current.state, current.attempts) == (OutboundState.PREPARED, 1)
    assert "expired" in (current.last_error or "")
    emulator.reset_faults()
    _step(parts, 3)
    assert _row(parts, row.id).state == OutboundState.DONE


def test_a_publish_whose_answer_was_lost_is_found_by_replay_and_not_sent_twice(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    _step(parts)
    parts.client.ensure_open_conversation()
    emulator.set_faults(drop_responses_rate=1.0)
    _step(parts)
    assert _row(parts, row.id).state == OutboundState.PUBLISHING
    emulator.reset_faults()
    _step(parts, 3)
    assert _row(parts, row.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 1


def test_the_file_published_before_a_lost_answer_is_told_apart_by_its_upload_path(
    parts: Parts,
    emulator: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The real crash point kills the process; here each point reached is recorded.
    reached: list[str] = []
    monkeypatch.setattr(sender_module, "crash_point", reached.append)
    first = _prepared_row(parts, "a.jpg")
    _step(parts, 3)
    assert _row(parts, first.id).state == OutboundState.DONE
    second = _prepared_row(parts, "b.jpg", seed=1)
    _step(parts)
    emulator.set_faults(drop_responses_rate=1.0)
    _step(parts)
    assert _row(parts, second.id).state == OutboundState.PUBLISHING
    emulator.reset_faults()
    reached.clear()
    # The publish happened, only its answer was lost: the replay finds b.jpg's event (not
    # a.jpg's, also ours, in the same conversation) and records it without publishing again.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="syncd.sender"):
        _step(parts)
    published = _row(parts, second.id)
    assert published.state == OutboundState.PUBLISHED
    assert reached == ["published"]
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        f"route=scans file=b.jpg: found already published as sequence {published.sequence}"
    ]
    _step(parts)
    events = hosted_file_events(emulator)
    assert len(events) == 2
    for row_id in (first.id, second.id):
        done = _row(parts, row_id)
        assert done.state == OutboundState.DONE
        (event,) = [e for e in events if done.relative_path and done.relative_path in str(e)]
        assert event["sequence"] == done.sequence


def test_a_publish_cut_off_before_it_arrived_is_proven_absent_by_replay_and_sent_once(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    _step(parts)
    parts.client.ensure_open_conversation()
    # The socket closes on the publish request: it never reaches the conversation.
    emulator.set_faults(ws_close_rate=1.0)
    _step(parts)
    assert _row(parts, row.id).state == OutboundState.PUBLISHING
    emulator.reset_faults()
    wait_until(lambda: _step_until_done(parts, row.id), 60, "the file after the reconnect")
    done = _row(parts, row.id)
    (event,) = hosted_file_events(emulator)
    assert done.relative_path is not None and done.relative_path in str(event)
    assert event["sequence"] == done.sequence


def test_the_sender_thread_steps_on_its_own_until_stopped(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    stop = threading.Event()
    thread = threading.Thread(target=parts.sender.run, args=(stop,), name="send-test")
    thread.start()
    try:
        parts.sender.wake()
        wait_until(
            lambda: _row(parts, row.id).state == OutboundState.DONE, 30, "the file to be sent"
        )
    finally:
        stop.set()
        parts.sender.wake()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(hosted_file_events(emulator)) == 1


def test_a_swapped_route_folder_stops_sending_and_says_why(
    parts: Parts, emulator: RunningEmulator, tmp_path: Path
) -> None:
    row = _prepared_row(parts)
    parts.route.inbox.rename(tmp_path / "inbox-moved")
    parts.route.inbox.mkdir()
    parts.clock.now += STEP_SECONDS
    assert parts.sender.step(parts.clock.now) == 60.0
    summary = parts.store.route_summary("scans")
    assert summary.last_error_at == parts.clock.now
    assert summary.last_error is not None and str(parts.route.inbox) in summary.last_error
    assert summary.last_error_kind == ErrorKind.STORAGE
    assert _row(parts, row.id).state == OutboundState.PREPARED
    assert hosted_file_events(emulator) == []


def test_step_says_how_long_to_wait(parts: Parts, emulator: RunningEmulator) -> None:
    now = parts.clock.now
    assert parts.sender.step(now) == 60.0  # nothing to send
    path = parts.route.outbox / "scan.jpg"
    path.write_bytes(jpeg_bytes(320, 240))
    parts.intake.note_seen(path, close_write=True, now=now)
    parts.intake.step(now)
    parts.intake.step(now + 60)
    (row,) = parts.store.outbound_in_states([OutboundState.CLAIMED])
    # Claimed, due now: handed to the preparer; the preparer wakes the sender when done.
    assert parts.sender.step(row.next_attempt_at) == 1.0
    wait_until(lambda: _row(parts, row.id).state == OutboundState.PREPARED, 30, "the preparer")
    parts.store.schedule_retry(row.id, "busy", row.next_attempt_at + 25.0, row.next_attempt_at)
    assert parts.sender.step(row.next_attempt_at + 10.0) == 15.0
    assert parts.sender.step(row.next_attempt_at + 25.0) == 0.0
    assert _row(parts, row.id).state == OutboundState.UPLOADED


def test_the_happy_path_passes_each_crash_point_and_tells_the_daemon(
    parts: Parts, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached: list[str] = []
    for module in (sender_module, row_upload_module, finisher_module):
        monkeypatch.setattr(module, "crash_point", reached.append)
    published: list[OutboundRow] = []
    sender = RouteSender(
        parts.route,
        parts.store,
        parts.folders,
        parts.client,
        parts.sender._storage,
        parts.preparer,
        parts.clock,
        on_published=published.append,
    )
    row = _prepared_row(parts)
    for _ in range(3):
        parts.clock.now += STEP_SECONDS
        sender.step(parts.clock.now)
    assert reached == ["uploaded", "publishing", "publish-sent", "published", "done"]
    assert [(r.id, r.state) for r in published] == [(row.id, OutboundState.PUBLISHED)]
    summary = parts.store.route_summary("scans")
    assert summary.last_success_at == parts.clock.now


def test_an_original_that_cannot_be_archived_leaves_the_row_done_with_the_reason(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    _step(parts, 2)
    assert _row(parts, row.id).state == OutboundState.PUBLISHED
    parts.route.sent_dir.mkdir(exist_ok=True)
    # Immutable: even root cannot move a file into it (EPERM).
    if not set_immutable(parts.route.sent_dir, True):
        pytest.skip("this file system or user cannot make a folder immutable")
    try:
        with caplog.at_level(logging.ERROR, logger="syncd.sender"):
            _step(parts)
    finally:
        set_immutable(parts.route.sent_dir, False)
    done = _row(parts, row.id)
    assert done.state == OutboundState.DONE
    assert done.final_path is None
    problem = done.last_error or ""
    assert problem.startswith("sent, but could not be archived (Operation not permitted)")
    summary = parts.store.route_summary("scans")
    assert (summary.last_error, summary.last_error_at) == (f"scan.jpg: {problem}", parts.clock.now)
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        f"route=scans file=scan.jpg: {problem}"
    ]


def test_a_two_page_document_is_sent_page_by_page_in_order(
    parts: Parts, emulator: RunningEmulator
) -> None:
    _prepared_row(parts, "contract.pdf", data=pdf_document(2))
    for _ in range(12):
        _step(parts)
        rows = parts.store.outbound_in_states(tuple(OutboundState))
        if all(r.state == OutboundState.DONE for r in rows):
            break
    rows = parts.store.outbound_in_states(tuple(OutboundState))
    assert all(r.state == OutboundState.DONE for r in rows), [(r.id, r.state) for r in rows]
    events = hosted_file_events(emulator)
    assert len(events) == 2
    assert [event["sequence"] for event in events] == sorted(e["sequence"] for e in events)


# Found by this test (and fixed): the sender handed the row, still ``prepared``, to
# Preparer.prepare_now, whose mark_prepared accepted only ``claimed`` rows, so every step
# raised IllegalTransitionError and the file was never sent until a restart.
@pytest.mark.parametrize("damage", ["missing", "unusable"])
def test_a_lost_or_damaged_prepared_upload_is_prepared_again_and_sent_once(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    row = _prepared_row(parts)
    upload = parts.route.work_dir / upload_name_of(row)
    original = upload.read_bytes()
    _damage(upload, damage)
    with caplog.at_level(logging.ERROR, logger="syncd.sender"):
        _step(parts)
    assert _row(parts, row.id).state == OutboundState.PREPARED
    assert upload.read_bytes() == original
    messages = [r.getMessage() for r in caplog.records if r.name == "syncd.sender"]
    if damage == "unusable":
        (message,) = messages
        assert message.startswith("route=scans file=scan.jpg: prepared upload refused (")
        assert upload_name_of(row) in message  # what was wrong, with the upload's name
        assert message.endswith("); preparing it again")
        assert _kinds(caplog, "syncd.sender") == [ErrorKind.FILE]
    else:
        assert messages == []
    _step(parts, 3)
    assert _row(parts, row.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 1


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("missing", "the prepared page 1 of contract.pdf disappeared"),
        ("unusable", "the prepared page 1 of contract.pdf is unusable: "),
    ],
)
def test_a_lost_or_damaged_page_fails_its_document_unsent(
    parts: Parts, emulator: RunningEmulator, damage: str, reason: str
) -> None:
    _prepared_row(parts, "contract.pdf", data=pdf_document(2))
    pages = [r for r in parts.store.outbound_in_states(tuple(OutboundState)) if r.is_page]
    first = min(pages, key=lambda r: r.page or 0)
    upload = parts.route.work_dir / upload_name_of(first)
    _damage(upload, damage)
    _step(parts, 4)
    failed = _row(parts, first.id)
    assert failed.state == OutboundState.FAILED
    assert (failed.last_error or "").startswith(reason)
    assert hosted_file_events(emulator) == []


@pytest.mark.parametrize(
    ("origin", "refusal"),
    [
        # A full URL as relativePath: the answer itself is refused (ProtocolError).
        ("http://elsewhere.invalid:9", "not a path on the storage host"),
        # Scheme-relative: a path, but not on the configured storage host (UnsafeRemoteError).
        ("//elsewhere.invalid:9", "refusing"),
    ],
)
def test_an_upload_url_for_another_host_keeps_the_file_and_is_not_asked_again_for_minutes(
    parts: Parts,
    emulator: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
    origin: str,
    refusal: str,
) -> None:
    row = _prepared_row(parts)
    emulator.set_faults(upload_url_origin=origin)
    parts.clock.now += STEP_SECONDS
    with caplog.at_level(logging.WARNING, logger="syncd.sender"):
        assert parts.sender.step(parts.clock.now) == 0.0
    current = _row(parts, row.id)
    assert (current.state, current.attempts) == (OutboundState.PREPARED, 1)
    assert refusal in (current.last_error or "")
    # Five minutes at least (the schedule alone would say 5 s): LivePerson is not hammered.
    assert parts.clock.now + 300 <= current.next_attempt_at < parts.clock.now + 301
    summary = parts.store.route_summary("scans")
    assert (summary.last_error, summary.last_error_at) == (current.last_error, parts.clock.now)
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        f"route=scans file=scan.jpg: {current.last_error}; retrying in 300 s"
    ]
    emulator.reset_faults()
    _step(parts, 3)
    assert _row(parts, row.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 1


@pytest.mark.parametrize("emulator_settings", ["private CA"], indirect=True)
def test_a_certificate_that_does_not_verify_keeps_the_file_on_its_schedule(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # The emulator's certificate comes from a CA the configuration does not name.
    row = _prepared_row(parts)
    parts.clock.now += STEP_SECONDS
    with caplog.at_level(logging.WARNING, logger="syncd.sender"):
        assert parts.sender.step(parts.clock.now) == 0.0
    current = _row(parts, row.id)
    assert (current.state, current.attempts) == (OutboundState.PREPARED, 1)
    assert "liveperson.ca_file" in (current.last_error or "")
    wait = current.next_attempt_at - parts.clock.now
    assert DEFAULT_RETRY_POLICY.first_delays_seconds[0] <= wait
    assert wait <= 1.2 * DEFAULT_RETRY_POLICY.first_delays_seconds[0]
    summary = parts.store.route_summary("scans")
    assert (summary.last_error, summary.last_error_at) == (current.last_error, parts.clock.now)
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        f"route=scans file=scan.jpg: {current.last_error}; retrying in {wait:.0f} s"
    ]
    assert hosted_file_events(emulator) == []


def test_storage_asking_to_retry_after_five_minutes_is_waited_out_without_touching_the_row(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    # Connected before the fault: a connect after the failure would end the wait at once.
    parts.client.ensure_open_conversation()
    emulator.set_faults(swift_error_rate=1.0, swift_error_code=503, retry_after_seconds=300)
    start = parts.clock.now + STEP_SECONDS
    wait_seconds = parts.sender.step(start)
    assert wait_seconds >= 300
    # The next look, before the wait is over, says how long is left and does not try.
    emulator.reset_faults()
    assert parts.sender.step(start + 100) == pytest.approx(wait_seconds - 100)
    assert parts.sender.step(start + wait_seconds - 0.5) == pytest.approx(0.5)
    current = _row(parts, row.id)
    assert (current.state, current.attempts, current.last_error) == (
        OutboundState.PREPARED,
        0,
        None,
    )
    assert parts.sender.step(start + wait_seconds) == 0.0
    assert _row(parts, row.id).state == OutboundState.UPLOADED


def test_a_publish_refused_because_the_conversation_closed_meanwhile_goes_to_the_next_one(
    parts: Parts, emulator: RunningEmulator
) -> None:
    first = _prepared_row(parts, "a.jpg")
    _step(parts, 3)
    done = _row(parts, first.id)
    assert done.state == OutboundState.DONE and done.conversation_id is not None
    second = _prepared_row(parts, "b.jpg", seed=1)
    _step(parts)
    assert _row(parts, second.id).state == OutboundState.UPLOADED
    # The conversation's close is recorded while b.jpg's publish is on its way, and
    # LivePerson refuses that publish: not the file's fault, it goes back to be published
    # into the route's current conversation.
    parts.store.mark_conversation_closed(done.conversation_id, parts.clock.now)
    emulator.set_faults(
        request_error_rate=1.0, request_error_code=400, request_error_types=["ms.PublishEvent"]
    )
    _step(parts)
    current = _row(parts, second.id)
    assert current.state == OutboundState.UPLOADED
    assert current.conversation_id is None
    assert "400" in (current.last_error or "")
    wait = current.next_attempt_at - parts.clock.now
    assert DEFAULT_RETRY_POLICY.first_delays_seconds[current.attempts - 1] <= wait
    assert wait <= 1.2 * DEFAULT_RETRY_POLICY.first_delays_seconds[current.attempts - 1]
    emulator.reset_faults()
    _step(parts, 2)
    assert _row(parts, second.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 2


def _uploader(parts: Parts) -> row_upload_module.RowUploader:
    """The route's row uploader as the upload window uses it (the same parts as the sender)."""
    return row_upload_module.RowUploader(
        parts.route,
        parts.store,
        parts.folders,
        parts.client,
        parts.sender._storage,
        parts.preparer,
        parts.clock,
    )


def test_an_upload_ahead_commits_uploaded_and_the_sender_then_publishes_it(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    assert _uploader(parts).upload_ahead(row) is True
    uploaded = _row(parts, row.id)
    assert uploaded.state == OutboundState.UPLOADED
    assert uploaded.relative_path is not None and uploaded.updated_at == parts.clock.now
    _step(parts, 2)
    done = _row(parts, row.id)
    assert done.state == OutboundState.DONE
    (event,) = hosted_file_events(emulator)
    assert uploaded.relative_path in str(event)


@pytest.mark.parametrize("problem", ["storage refuses", "prepared upload missing"])
def test_an_upload_ahead_that_fails_leaves_the_row_as_it_was_for_the_sender(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture, problem: str
) -> None:
    row = _prepared_row(parts)
    if problem == "storage refuses":
        emulator.set_faults(swift_error_rate=1.0, swift_error_code=403)
    else:
        (parts.route.work_dir / upload_name_of(row)).unlink()
    with caplog.at_level(logging.DEBUG, logger="syncd.sender"):
        assert _uploader(parts).upload_ahead(row) is False
    current = _row(parts, row.id)
    assert (current.state, current.attempts, current.last_error) == (
        OutboundState.PREPARED,
        0,
        None,
    )
    (message,) = [r.getMessage() for r in caplog.records if r.name == "syncd.sender"]
    assert message.startswith("route=scans file=scan.jpg: upload ahead did not finish (")
    assert message.endswith("); it is uploaded in its turn")
    # The reason is named: storage's status, or the prepared upload that is missing.
    assert ("403" if problem == "storage refuses" else upload_name_of(row)) in message
    emulator.reset_faults()
    _step(parts, 4)
    assert _row(parts, row.id).state == OutboundState.DONE
    assert len(hosted_file_events(emulator)) == 1


def test_a_publish_cut_off_in_a_conversation_closed_since_goes_back_to_be_published_again(
    parts: Parts, emulator: RunningEmulator
) -> None:
    row = _prepared_row(parts)
    _step(parts)
    conversation_id = parts.client.ensure_open_conversation()
    emulator.set_faults(ws_close_rate=1.0)
    _step(parts)
    cut_off = _row(parts, row.id)
    assert (cut_off.state, cut_off.conversation_id) == (OutboundState.PUBLISHING, conversation_id)
    emulator.reset_faults()
    # The conversation's close is recorded before the row's turn comes again: once the
    # replay proves the publish absent, the row goes back to be published anew.
    parts.store.mark_conversation_closed(conversation_id, parts.clock.now)

    def settled() -> bool:
        _step(parts)
        return _row(parts, row.id).state != OutboundState.PUBLISHING

    wait_until(settled, 60, "the cut-off publish to be settled after the reconnect")
    reverted = _row(parts, row.id)
    assert (reverted.state, reverted.conversation_id) == (OutboundState.UPLOADED, None)
    assert hosted_file_events(emulator) == []
    wait_until(lambda: _step_until_done(parts, row.id), 60, "the file to be sent")
    assert len(hosted_file_events(emulator)) == 1


def test_the_published_event_carries_the_row_s_caption_and_preview_and_the_log_says_where(
    parts: Parts, emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    row = _prepared_row(parts)
    _step(parts)
    with caplog.at_level(logging.INFO, logger="syncd.sender"):
        _step(parts)
    published = _row(parts, row.id)
    assert published.state == OutboundState.PUBLISHED
    (event,) = hosted_file_events(emulator)
    message = event["event"]["message"]
    assert message["caption"] == published.caption
    assert message["preview"] == published.preview
    assert message["relativePath"] == published.relative_path
    assert message["fileType"] == published.file_type
    assert [r.getMessage() for r in caplog.records if r.name == "syncd.sender"] == [
        f"route=scans file=scan.jpg: published to conversation {published.conversation_id} "
        f"as sequence {published.sequence}"
    ]


def test_with_a_window_of_two_the_next_file_is_uploaded_ahead_and_finishing_is_off_the_path(
    parts: Parts, emulator: RunningEmulator
) -> None:
    route = dataclasses.replace(parts.route, upload_window_files=2)
    # Which threads woke the sender: the window's and the finisher's are named.
    woken_by: list[str] = []

    class WokenSender(RouteSender):
        def wake(self) -> None:
            woken_by.append(threading.current_thread().name)
            super().wake()

    first = _prepared_row(parts, "a.jpg")
    second = _prepared_row(parts, "b.jpg", seed=1)
    sender = WokenSender(
        route,
        parts.store,
        parts.folders,
        parts.client,
        parts.sender._storage,
        parts.preparer,
        parts.clock,
    )

    def published() -> bool:
        parts.clock.now += STEP_SECONDS
        sender.step(parts.clock.now)
        return _row(parts, first.id).state in (OutboundState.PUBLISHED, OutboundState.DONE)

    wait_until(published, 30, "the first file to be published")
    # No further step: the finisher's own thread archives the original and wakes the sender;
    # the upload of b.jpg ahead of its turn, on a thread of the window's, woke it too.
    wait_until(lambda: _row(parts, first.id).state == OutboundState.DONE, 30, "the finisher")
    wait_until(lambda: {"finish", "upload-ahead"} <= set(woken_by), 30, "both wakes")
    assert _row(parts, second.id).state == OutboundState.UPLOADED
    done = _row(parts, first.id)
    assert done.final_path is not None and done.final_path.exists()

    def second_done() -> bool:
        parts.clock.now += STEP_SECONDS
        sender.step(parts.clock.now)
        return _row(parts, second.id).state == OutboundState.DONE

    wait_until(second_done, 30, "the second file to be sent")
    events = hosted_file_events(emulator)
    assert [e["sequence"] for e in events] == sorted(
        [_row(parts, first.id).sequence, _row(parts, second.id).sequence]
    )
