"""Issue 15, the local half: what a member of ``scanners`` can do to syncd, tried for real.

The daemon runs as ``syncd`` with the unit's umask, the attacker (or an ordinary scanner)
as ``scanner``, in folders laid out as the unit's comments say (``conftest.py``). Each test
checks that nothing outside syncd's own files was written (a canary file of syncd's and
the state database stay intact), that the route goes on (a file dropped afterwards is
published exactly once), and that the odd entry's reason is visible in the state or in
``syncd status``.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

import pytest

from syncd.state.model import OutboundState
from tests.helpers.images import jpeg_bytes
from tests.helpers.waiting import wait_until
from tests.office.world import Office

TIMEOUT_SECONDS = 90


def _published_once(office: Office, *names: str) -> None:
    office.wait_published(*names, timeout_seconds=TIMEOUT_SECONDS)
    counts = Counter(office.published_captions())
    assert all(counts[name] == 1 for name in names), counts


def _row_state(office: Office, name: str) -> str | None:
    rows = office.rows_named(name)
    return rows[-1]["state"] if rows else None


def _wait_row(office: Office, name: str, state: OutboundState) -> dict[str, object]:
    wait_until(lambda: _row_state(office, name) == state, TIMEOUT_SECONDS, f"{name} {state}")
    row: dict[str, object] = office.rows_named(name)[-1]
    return row


def _assert_untouched(office: Office) -> None:
    assert office.canary_intact(), "a planted link made syncd write into its own canary file"
    assert office.database_sound(), "the state database was damaged"
    assert office.daemon is not None and office.daemon.poll() is None, office.log_text()


# --- writes through planted links --------------------------------------------------------


def test_a_link_planted_at_the_error_report_temp_name_is_not_written_through(
    office: Office,
) -> None:
    office.start_daemon()
    # The old report temp name was failed/.NAME.error.txt.tmp: predictable, in a folder the
    # scanners group may write.
    office.as_scanner(
        'mkdir -p outbox/failed && ln -s "$1" outbox/failed/.bad.jpg.error.txt.tmp',
        str(office.canary),
    )
    office.drop_scan("bad.jpg", b"this is not an image, it goes to failed/\n" * 4)
    row = _wait_row(office, "bad.jpg", OutboundState.FAILED)
    assert "JPEG, PNG or GIF" in str(row["error"]) or "not" in str(row["error"]), row
    office.drop_scan("good.jpg", jpeg_bytes(seed=1))
    _published_once(office, "good.jpg")
    _assert_untouched(office)
    report = office.outbox / "failed" / "bad.jpg.error.txt"
    assert stat.S_ISREG(report.lstat().st_mode) and "reason:" in report.read_text()
    assert (office.outbox / "failed" / ".bad.jpg.error.txt.tmp").is_symlink()


def test_links_planted_at_the_upload_temp_names_are_not_written_through(office: Office) -> None:
    office.start_daemon()
    # The old upload temp name was .syncd-work/.NNNNNNNN.upload.tmp, row ids counting from 1,
    # in a work folder the scanners group could write.
    office.as_scanner(
        'for n in 1 2 3 4; do ln -s "$1" "outbox/.syncd-work/.0000000$n.upload.tmp"; done',
        str(office.canary),
        check=False,
    )
    for index in range(3):
        office.drop_scan(f"page-{index}.jpg", jpeg_bytes(seed=10 + index))
    _published_once(office, "page-0.jpg", "page-1.jpg", "page-2.jpg")
    _assert_untouched(office)
    work = office.outbox / ".syncd-work"
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    assert work.stat().st_uid == office.users.daemon_uid


def test_a_work_folder_made_by_someone_else_before_the_first_start_is_set_aside(
    office: Office,
) -> None:
    office.as_scanner(
        "mkdir outbox/.syncd-work && chmod 2777 outbox/.syncd-work && "
        'for n in 1 2 3; do ln -s "$1" "outbox/.syncd-work/.0000000$n.upload.tmp"; done',
        str(office.canary),
    )
    office.start_daemon()
    office.drop_scan("first.jpg", jpeg_bytes(seed=2))
    _published_once(office, "first.jpg")
    _assert_untouched(office)
    work = office.outbox / ".syncd-work"
    assert work.stat().st_uid == office.users.daemon_uid
    assert [name for name in os.listdir(office.outbox) if ".untrusted-" in name]


# --- one entry must not stop a route -----------------------------------------------------


def test_a_scan_syncd_may_read_but_not_write_is_published_and_archived(
    office: Office, protected_hardlinks: bool
) -> None:
    office.start_daemon()
    # 0640: group scanners may read it; syncd cannot write it, so with protected_hardlinks
    # the kernel refuses syncd a hard link to it (the old archive step's link + unlink).
    office.drop_scan("a-readonly.jpg", jpeg_bytes(seed=3), mode=0o640)
    office.drop_scan("b-after.jpg", jpeg_bytes(seed=4), mode=0o640)
    office.drop_scan("c-writable.jpg", jpeg_bytes(seed=5), mode=0o660)
    _published_once(office, "a-readonly.jpg", "b-after.jpg", "c-writable.jpg")
    for name in ("a-readonly.jpg", "b-after.jpg", "c-writable.jpg"):
        _wait_row(office, name, OutboundState.DONE)
        assert (office.outbox / "sent" / name).is_file(), name
    _assert_untouched(office)
    assert office.status()["routes"][0]["last_error"] is None
    if not protected_hardlinks:
        print("note: fs.protected_hardlinks is 0 here; the link refusal was not exercised")


def test_a_link_and_a_fifo_of_the_scanner_go_to_failed_and_the_route_goes_on(
    office: Office,
) -> None:
    office.start_daemon()
    office.as_scanner("ln -s /etc/passwd outbox/a-link.jpg && mkfifo outbox/b-pipe.jpg")
    office.drop_scan("c-good.jpg", jpeg_bytes(seed=6))
    _published_once(office, "c-good.jpg")
    link_row = _wait_row(office, "a-link.jpg", OutboundState.FAILED)
    pipe_row = _wait_row(office, "b-pipe.jpg", OutboundState.FAILED)
    assert "symbolic link" in str(link_row["error"])
    assert "pipe" in str(pipe_row["error"])
    assert (office.outbox / "failed" / "a-link.jpg").is_symlink()
    assert stat.S_ISFIFO((office.outbox / "failed" / "b-pipe.jpg").lstat().st_mode)
    _assert_untouched(office)


def test_a_250_byte_name_is_sent_and_does_not_hold_the_route(office: Office) -> None:
    office.start_daemon()
    long_name = "x" * 246 + ".jpg"
    office.drop_scan(long_name, jpeg_bytes(seed=7))
    office.drop_scan("after.jpg", jpeg_bytes(seed=8))
    _published_once(office, "after.jpg")
    row = _wait_row(office, long_name, OutboundState.DONE)
    archived = Path(str(row["final_path"]))
    assert archived.parent == office.outbox / "sent" and archived.is_file()
    assert len(hosted_captions := office.published_captions()) == 2, hosted_captions
    _assert_untouched(office)


def test_a_name_that_is_not_utf8_goes_to_failed_and_the_route_goes_on(office: Office) -> None:
    office.start_daemon()
    odd = office.incoming / "odd"
    odd.write_bytes(jpeg_bytes(seed=9))
    odd.chmod(0o644)
    office.as_scanner('cp "$1" "outbox/scan-$(printf \'\\377\\376\').jpg"', str(odd))
    office.drop_scan("after.jpg", jpeg_bytes(seed=10))
    _published_once(office, "after.jpg")
    printable = "scan-\\xff\\xfe.jpg"
    row = _wait_row(office, printable, OutboundState.FAILED)
    assert "UTF-8" in str(row["error"])
    assert (office.outbox / "failed" / printable).is_file()
    _assert_untouched(office)


def test_storage_refusing_an_upload_fails_that_file_only(office: Office) -> None:
    office.start_daemon()
    office.emulator.set_faults(swift_error_rate=1.0, swift_error_code=403)
    office.drop_scan("refused.jpg", jpeg_bytes(seed=11))
    row = _wait_row(office, "refused.jpg", OutboundState.FAILED)
    assert "403" in str(row["error"])
    assert (office.outbox / "failed" / "refused.jpg").is_file()
    status = office.status()["routes"][0]
    assert "refused.jpg" in str(status["last_error"])
    assert [p["file"] for p in status["problems"]] == ["refused.jpg"]
    office.emulator.reset_faults()
    office.drop_scan("after.jpg", jpeg_bytes(seed=12))
    _published_once(office, "after.jpg")
    assert "refused.jpg" not in office.published_captions()
    _assert_untouched(office)


# --- folders swapped under syncd ----------------------------------------------------------


def test_a_sent_folder_swapped_for_a_link_stops_that_route_without_writing_through_it(
    office: Office,
) -> None:
    office.start_daemon()
    office.drop_scan("before.jpg", jpeg_bytes(seed=13))
    _published_once(office, "before.jpg")
    state_before = sorted(os.listdir(office.state_dir))
    office.as_scanner(
        'mv outbox/sent outbox/sent.old && ln -s "$1" outbox/sent', str(office.state_dir)
    )
    office.drop_scan("after.jpg", jpeg_bytes(seed=14))
    wait_until(
        lambda: "replaced" in str(office.status()["routes"][0]["last_error"] or ""),
        TIMEOUT_SECONDS,
        "the swap in status",
    )
    error = str(office.status()["routes"][0]["last_error"])
    assert "sent" in error and "symbolic link" in error, error
    assert sorted(os.listdir(office.state_dir)) == state_before
    assert "after.jpg" not in os.listdir(office.state_dir)
    _assert_untouched(office)


# --- the service must come back ---------------------------------------------------------


def test_a_folder_planted_in_an_old_group_writable_work_folder_does_not_stop_the_start(
    office: Office,
) -> None:
    # What older versions left: .syncd-work owned by syncd, 2770, group scanners.
    work = office.outbox / ".syncd-work"
    work.mkdir()
    os.chown(work, office.users.daemon_uid, office.users.scanners_gid)
    work.chmod(0o2770)
    office.as_scanner("mkdir outbox/.syncd-work/.x outbox/.syncd-work/00000001__planted")
    office.start_daemon()
    office.drop_scan("page.jpg", jpeg_bytes(seed=15))
    _published_once(office, "page.jpg")
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    _assert_untouched(office)


def test_a_folder_at_an_inbox_temp_name_does_not_stop_receiving(office: Office) -> None:
    office.as_scanner(
        'mkdir inbox/.syncd-x.part && ln -s "$1" inbox/.syncd-inbound-1.part', str(office.canary)
    )
    office.start_daemon()
    data = jpeg_bytes(seed=16)
    office.emulator.send_agent_file(office.open_conversation(), data, "form")
    wait_until(
        lambda: any(
            entry.read_bytes() == data
            for entry in office.inbox.iterdir()
            if entry.is_file() and not entry.is_symlink() and not entry.name.startswith(".")
        ),
        TIMEOUT_SECONDS,
        "the agent's file in the inbox",
    )
    assert (office.inbox / ".syncd-x.part").is_dir()
    assert (office.inbox / ".syncd-inbound-1.part").is_symlink()
    _assert_untouched(office)


def test_a_damaged_state_database_is_named_by_check_and_is_not_a_configuration_error(
    office: Office,
) -> None:
    office.start_daemon()
    office.drop_scan("page.jpg", jpeg_bytes(seed=17))
    _published_once(office, "page.jpg")
    assert office.stop_daemon() == 0
    assert office.syncd("check").returncode == 0
    # Garbage over a b-tree page, as a failing disk would leave it; the header stays.
    with open(office.database, "r+b") as database:
        size = database.seek(0, os.SEEK_END)
        assert size >= 4 * 4096, size
        database.seek(2 * 4096)
        database.write(b"\xa5" * 4096)
    check = office.syncd("check")
    assert check.returncode == 78 and "damaged" in check.stderr, check
    run = office.syncd("run")
    assert run.returncode not in (0, 78), run
    assert "damaged" in run.stderr, run.stderr


# --- the checks and the fallback, as the users -------------------------------------------


def test_check_refuses_an_outbox_whose_parent_the_scanners_may_write(office: Office) -> None:
    os.chown(office.scans, 0, office.users.scanners_gid)
    office.scans.chmod(0o2775)
    result = office.syncd("check")
    assert result.returncode == 78, result
    assert f"the parent folder {office.scans} is writable" in result.stderr
    assert f"Fix: chown root:root {office.scans}" in result.stderr
    office.scans.chmod(0o755)
    os.chown(office.scans, 0, 0)
    assert office.syncd("check").returncode == 0


_FALLBACK_MOVE = """
import sys
from pathlib import Path

import pytest
from syncd.folders.handles import Folder, rename_noreplace_fallback
with Folder.open(Path(sys.argv[1])) as outbox:
    try:
        rename_noreplace_fallback(outbox.fd, "theirs.jpg", outbox.fd, "taken.jpg")
    except FileExistsError:
        print("taken refused")
    rename_noreplace_fallback(outbox.fd, "theirs.jpg", outbox.fd, "moved.jpg")
    print("moved")
"""


def test_the_fallback_move_works_for_a_file_syncd_may_not_link(
    office: Office, protected_hardlinks: bool
) -> None:
    if not protected_hardlinks:
        pytest.skip("fs.protected_hardlinks is 0: the kernel does not refuse the link here")
    office.drop_scan("theirs.jpg", b"scan", mode=0o640)
    office.drop_scan("taken.jpg", b"another scan", mode=0o640)
    result = office.as_daemon_user("-c", _FALLBACK_MOVE, str(office.outbox))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["taken refused", "moved"]
    assert (office.outbox / "moved.jpg").read_bytes() == b"scan"
    assert (office.outbox / "taken.jpg").read_bytes() == b"another scan"
    assert not (office.outbox / "theirs.jpg").exists()


def test_a_scan_syncd_may_read_but_not_move_is_sent_as_a_copy_once(office: Office) -> None:
    # A sticky outbox (against the unit's advice): syncd may read the scanner's 0640 file
    # but neither rename nor delete it.
    office.outbox.chmod(0o3770)
    office.start_daemon()
    office.drop_scan("kept.jpg", jpeg_bytes(seed=18), mode=0o640)
    office.drop_scan("next.jpg", jpeg_bytes(seed=19), mode=0o640)
    _published_once(office, "kept.jpg", "next.jpg")
    row = _wait_row(office, "kept.jpg", OutboundState.DONE)
    assert "could not be moved out of the outbox" in str(row["error"]), row
    assert (office.outbox / "kept.jpg").is_file()
    assert (office.outbox / "sent" / "kept.jpg").read_bytes() == jpeg_bytes(seed=18)
    problems = office.status()["routes"][0]["problems"]
    assert {problem["file"] for problem in problems} == {"kept.jpg", "next.jpg"}
    _assert_untouched(office)
    # Neither a rescan nor a restart sends the originals left in the outbox again.
    assert office.stop_daemon() == 0
    office.start_daemon()
    office.drop_scan("after-restart.jpg", jpeg_bytes(seed=20), mode=0o640)
    _published_once(office, "after-restart.jpg")
    wait_until(lambda: len(office.state()["outbound"]) == 3, TIMEOUT_SECONDS, "three rows in all")
    assert Counter(office.published_captions()) == Counter(
        {"kept.jpg": 1, "next.jpg": 1, "after-restart.jpg": 1}
    )


def test_a_scan_syncd_may_not_read_goes_to_failed_and_the_route_goes_on(office: Office) -> None:
    office.start_daemon()
    office.drop_scan("a-private.jpg", jpeg_bytes(seed=21), mode=0o600)
    office.drop_scan("b-after.jpg", jpeg_bytes(seed=22))
    _published_once(office, "b-after.jpg")
    row = _wait_row(office, "a-private.jpg", OutboundState.FAILED)
    assert "Permission denied" in str(row["error"]), row
    assert (office.outbox / "failed" / "a-private.jpg").exists()
    _assert_untouched(office)
