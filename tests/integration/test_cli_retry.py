"""`syncd retry` as a real subprocess beside a running daemon (real folders, real emulator).

Failed files go back into the pipeline under their own state row; a file whose fault was
fixed is then sent, once; row ids that cannot be retried are errors with a non-zero exit.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from syncd.emulator.server import RunningEmulator
from syncd.state.model import OutboundRow, OutboundState
from syncd.state.store import StateStore
from tests.helpers.cli import run_syncd
from tests.helpers.harness import RunningDaemon, running_daemon, write_config
from tests.helpers.images import jpeg_bytes
from tests.helpers.lookups import hosted_file_events
from tests.helpers.waiting import wait_until

BIG_TIMEOUT = 90
EX_OK = 0
EX_DATAERR = 65


def _drop(outbox: Path, name: str, data: bytes) -> Path:
    """Write the file beside the outbox, then rename it in, as scanners do."""
    staging = outbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    (staging / name).write_bytes(data)
    os.rename(staging / name, outbox / name)
    return outbox / name


def _rows(store: StateStore) -> list[OutboundRow]:
    return store.outbound_in_states(tuple(OutboundState))


def _states(running: RunningDaemon) -> Counter[str]:
    return Counter(row.state for row in _rows(running.daemon.store))


def _row_named(running: RunningDaemon, name: str) -> OutboundRow:
    return next(row for row in _rows(running.daemon.store) if row.source_name == name)


def _report(failed_dir: Path, name: str) -> str:
    return (failed_dir / f"{name}.error.txt").read_text(encoding="utf-8")


def test_all_failed_moves_every_failed_file_back_into_the_pipeline_under_its_own_row(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "notes.jpg", b"just some text, not an image\n")
        _drop(route.outbox, "memo.png", b"also text\n" * 50)
        _drop(route.outbox, "good.jpg", jpeg_bytes(seed=1))
        wait_until(
            lambda: _states(running) == Counter(failed=2, done=1), BIG_TIMEOUT, "2 failed, 1 done"
        )
        before = {row.source_name: row for row in _rows(running.daemon.store)}

        result = run_syncd("retry", "--config", str(config), "--all-failed")

        assert result.returncode == EX_OK, result.stderr
        lines = sorted(result.stdout.splitlines())
        assert lines == sorted(
            f"#{before[name].id} {name}: back in {route.outbox} as {name}"
            for name in ("notes.jpg", "memo.png")
        )
        # The daemon takes them up again and, still not images, they fail again: under the
        # same rows (the history stays in one row), with fresh reports. The retry removed
        # the old reports before it returned, so a report there now is a new one (its text
        # may equal the old one's when both failures fell in the same second).
        wait_until(
            lambda: all(
                (route.failed_dir / f"{name}.error.txt").exists()
                for name in ("notes.jpg", "memo.png")
            ),
            BIG_TIMEOUT,
            "both files to be taken up and fail again",
        )
        wait_until(
            lambda: _states(running) == Counter(failed=2, done=1), BIG_TIMEOUT, "settled again"
        )
        after = {row.source_name: row for row in _rows(running.daemon.store)}
        assert {name: row.id for name, row in after.items()} == {
            name: row.id for name, row in before.items()
        }
        for name in ("notes.jpg", "memo.png"):
            assert after[name].updated_at > before[name].updated_at
            assert f"state row: {after[name].id}" in _report(route.failed_dir, name)
            assert "not an image" in (after[name].last_error or "").lower()
    # Nothing was left behind in the outbox and the good file was sent once.
    assert sorted(p.name for p in route.outbox.iterdir() if not p.name.startswith(".")) == [
        "failed",
        "sent",
    ]
    assert [e["event"]["message"]["caption"] for e in hosted_file_events(emulator)] == ["good.jpg"]


def test_retry_id_sends_a_good_image_once_after_its_fault_was_fixed(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    image = jpeg_bytes(1024, 768, seed=7)
    # A valid JPEG that fails for a reason outside the file: it has a second hard link, so
    # it could be changed through the other name while being sent.
    other_name = tmp_path / "scanner-copy.jpg"
    other_name.write_bytes(image)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        os.link(other_name, route.outbox / "page.jpg")
        wait_until(
            lambda: (route.failed_dir / "page.jpg.error.txt").exists(), BIG_TIMEOUT, "a failure"
        )
        failed = _row_named(running, "page.jpg")
        assert failed.state == OutboundState.FAILED
        assert "hard link" in _report(route.failed_dir, "page.jpg")
        assert hosted_file_events(emulator) == []

        other_name.unlink()  # the operator fixes the fault
        result = run_syncd("retry", "--config", str(config), str(failed.id))

        assert result.returncode == EX_OK, result.stderr
        assert result.stdout.strip() == f"#{failed.id} page.jpg: back in {route.outbox} as page.jpg"
        assert not (route.failed_dir / "page.jpg").exists()
        assert not (route.failed_dir / "page.jpg.error.txt").exists()
        wait_until(
            lambda: running.daemon.store.get_outbound(failed.id).state == OutboundState.DONE,
            BIG_TIMEOUT,
            "the retried file to be done",
        )
        assert _states(running) == Counter(done=1)  # the same row, no second one
    events = hosted_file_events(emulator)
    assert [e["event"]["message"]["caption"] for e in events] == ["page.jpg"]
    assert (route.sent_dir / "page.jpg").read_bytes() == image


def test_a_failed_file_replaced_by_a_rescan_is_sent_under_the_same_row(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    rescan = jpeg_bytes(900, 700, seed=11)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "page.jpg", b"the scanner wrote garbage\n")
        wait_until(
            lambda: (route.failed_dir / "page.jpg.error.txt").exists(), BIG_TIMEOUT, "a failure"
        )
        failed = _row_named(running, "page.jpg")
        # The operator puts a good rescan in place of the broken file, then retries it.
        (route.failed_dir / "page.jpg").write_bytes(rescan)
        result = run_syncd("retry", "--config", str(config), str(failed.id))
        assert result.returncode == EX_OK, result.stderr
        wait_until(
            lambda: running.daemon.store.get_outbound(failed.id).state == OutboundState.DONE,
            BIG_TIMEOUT,
            "the rescan to be sent under the failed file's row",
        )
        # No second row, and no row left behind as "detected" (queued for ever).
        assert _states(running) == Counter(done=1)
        assert running.daemon.store.get_outbound(failed.id).size_bytes == len(rescan)
    events = hosted_file_events(emulator)
    assert [e["event"]["message"]["caption"] for e in events] == ["page.jpg"]
    assert (route.sent_dir / "page.jpg").read_bytes() == rescan


def test_unknown_and_unfailed_ids_are_errors_with_a_non_zero_exit(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "good.jpg", jpeg_bytes(seed=2))
        wait_until(lambda: _states(running) == Counter(done=1), BIG_TIMEOUT, "the file done")
        done = _row_named(running, "good.jpg")

        unknown = run_syncd("retry", "--config", str(config), "4242")
        not_failed = run_syncd("retry", "--config", str(config), str(done.id))
        nothing_named = run_syncd("retry", "--config", str(config))

        assert _states(running) == Counter(done=1)  # nothing was touched
    assert unknown.returncode == EX_DATAERR
    assert "syncd: retry #4242: no such row" in unknown.stderr
    assert unknown.stdout == ""
    assert not_failed.returncode == EX_DATAERR
    assert f"#{done.id} good.jpg: not failed (done), left alone" in not_failed.stderr
    # With no ids, retry lists what it could retry (issue 16): here, nothing.
    assert nothing_named.returncode == EX_OK
    assert nothing_named.stdout == "no failed files to retry\n"
    assert "Traceback" not in unknown.stderr + not_failed.stderr + nothing_named.stderr


def test_retry_before_the_daemon_ever_ran_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", "12345678")
    result = run_syncd("retry", "--config", str(config), "--all-failed")
    assert result.returncode != EX_OK
    assert "does not exist; syncd has not run yet" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_ids_retry_lists_the_failed_files_and_a_removed_one_is_dismissed(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "notes.jpg", b"just some text, not an image\n")
        _drop(route.outbox, "memo.png", b"also text\n" * 50)
        wait_until(lambda: _states(running) == Counter(failed=2), BIG_TIMEOUT, "2 failed")
        notes, memo = _row_named(running, "notes.jpg"), _row_named(running, "memo.png")

        listed = run_syncd("retry", "--config", str(config))
        # The operator deals with one file by removing it from failed/.
        (route.failed_dir / "memo.png").unlink()
        named = run_syncd("retry", "--config", str(config), str(memo.id))
        listed_after = run_syncd("retry", "--config", str(config))
        status = run_syncd("status", "--json", "--config", str(config))

    assert listed.returncode == EX_OK, listed.stderr
    assert f"  #{notes.id} scans/notes.jpg: " in listed.stdout
    assert f"  #{memo.id} scans/memo.png: " in listed.stdout
    assert named.returncode == EX_DATAERR
    assert f"#{memo.id} memo.png: dismissed: its file was removed from" in named.stderr
    assert f"#{notes.id} " in listed_after.stdout
    assert f"#{memo.id} " not in listed_after.stdout
    counts = json.loads(status.stdout)["routes"][0]["outbound"]
    assert (counts["failed"], counts["dismissed"]) == (1, 1)


def test_a_failed_file_put_back_by_hand_is_taken_up_again_after_a_restart(
    tmp_path: Path, emulator: RunningEmulator
) -> None:
    # The restarted daemon reads the rows' file versions from the state; the failed file
    # went to failed/, so the same version back in the outbox is new work, not a file that
    # was left in place (those are the only failed versions the intake must leave alone).
    config = write_config(tmp_path, emulator.base_url, emulator.account)
    with running_daemon(config) as running:
        route = running.config.routes[0]
        _drop(route.outbox, "notes.jpg", b"just some text, not an image\n")
        wait_until(lambda: _states(running) == Counter(failed=1), BIG_TIMEOUT, "1 failed")
    os.rename(route.failed_dir / "notes.jpg", route.outbox / "notes.jpg")
    (route.failed_dir / "notes.jpg.error.txt").unlink()
    with running_daemon(config) as running:
        wait_until(
            lambda: (route.failed_dir / "notes.jpg.error.txt").exists(),
            BIG_TIMEOUT,
            "the file put back to be taken up and fail again",
        )
        assert not (route.outbox / "notes.jpg").exists()
