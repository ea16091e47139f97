"""The inbox writer never replaces a file: a taken name with other bytes gets ``-2``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from syncd.inbox import writer
from syncd.inbox.writer import remove_stale_temp_files, write_into_inbox

NAME = "2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form.jpg"


def test_a_taken_name_with_other_bytes_is_written_as_2_and_the_first_file_is_untouched(
    tmp_path: Path,
) -> None:
    first = tmp_path / NAME
    first.write_bytes(b"the file that was there first")
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(first)

    written = write_into_inbox(tmp_path, NAME, b"a different file, same name", "row-7")

    assert written == tmp_path / "2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form-2.jpg"
    assert written.read_bytes() == b"a different file, same name"
    after = os.stat(first)
    assert first.read_bytes() == b"the file that was there first"
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([NAME, written.name])


def test_the_third_file_wanting_a_name_gets_3_and_neither_earlier_one_changes(
    tmp_path: Path,
) -> None:
    first = write_into_inbox(tmp_path, "form.png", b"one", "1")
    second = write_into_inbox(tmp_path, "form.png", b"two", "2")
    third = write_into_inbox(tmp_path, "form.png", b"three", "3")
    assert [first.name, second.name, third.name] == ["form.png", "form-2.png", "form-3.png"]
    assert [path.read_bytes() for path in (first, second, third)] == [b"one", b"two", b"three"]


def test_the_same_bytes_under_a_taken_name_are_not_written_twice(tmp_path: Path) -> None:
    # After a crash between the link and the state commit the file is already there.
    first = write_into_inbox(tmp_path, "form.png", b"same bytes", "1")
    write_into_inbox(tmp_path, "form.png", b"other bytes", "2")
    again = write_into_inbox(tmp_path, "form.png", b"other bytes", "3")
    assert again == tmp_path / "form-2.png"
    assert first.read_bytes() == b"same bytes"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["form-2.png", "form.png"]


def test_a_symlink_holding_the_name_is_neither_followed_nor_replaced(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not in the inbox")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "form.png").symlink_to(outside)

    written = write_into_inbox(inbox, "form.png", b"not in the inbox", "1")

    assert written == inbox / "form-2.png"
    assert (inbox / "form.png").is_symlink()
    assert outside.read_bytes() == b"not in the inbox"


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden.png", "a/b.png", "../up.png"])
def test_an_unsafe_name_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    with pytest.raises(ValueError, match="unsafe inbox file name"):
        write_into_inbox(inbox, name, b"bytes", "1")
    assert list(inbox.iterdir()) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inbox"]


def test_a_written_file_is_readable_by_the_group_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        written = write_into_inbox(tmp_path, "form.png", b"bytes", "1")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(written).st_mode) == 0o640


def test_a_symlink_planted_at_the_temp_name_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"must stay as it is")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / ".syncd-7.part").symlink_to(outside)
    with pytest.raises(OSError):
        write_into_inbox(inbox, "form.png", b"attacker wants this outside", "7")
    assert outside.read_bytes() == b"must stay as it is"
    assert not (inbox / "form.png").exists()


def test_a_stale_longer_temp_file_is_truncated_before_writing(tmp_path: Path) -> None:
    # A crash can leave the temp file of the same row behind, longer than the new bytes.
    (tmp_path / ".syncd-7.part").write_bytes(b"left over by a crash, much longer than the file")
    written = write_into_inbox(tmp_path, "form.png", b"short", "7")
    assert written.read_bytes() == b"short"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["form.png"]


def test_a_name_taken_between_the_check_and_the_link_moves_on_to_the_next_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another program creates the file just after the writer looked: link() refuses it.
    real_lexists = os.path.lexists
    raced: list[str] = []

    def lexists_then_someone_writes(path: os.PathLike[str] | str) -> bool:
        if not raced and Path(path).name == "form.png":
            Path(path).write_bytes(b"the other program's file")
            raced.append(Path(path).name)
            return False
        return real_lexists(path)

    monkeypatch.setattr(writer.os.path, "lexists", lexists_then_someone_writes)
    written = write_into_inbox(tmp_path, "form.png", b"ours", "1")
    assert raced == ["form.png"]
    assert written == tmp_path / "form-2.png"
    assert written.read_bytes() == b"ours"
    assert (tmp_path / "form.png").read_bytes() == b"the other program's file"


def test_when_every_name_is_taken_it_says_so_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "candidate_names", lambda name: iter([name, "form-2.png"]))
    (tmp_path / "form.png").write_bytes(b"one")
    (tmp_path / "form-2.png").write_bytes(b"two")
    with pytest.raises(OSError, match=r"no free name for 'form\.png'"):
        write_into_inbox(tmp_path, "form.png", b"three", "1")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["form-2.png", "form.png"]


def test_stale_temp_files_are_removed_and_counted_and_nothing_else(tmp_path: Path) -> None:
    for name in (".syncd-1.part", ".syncd-inbound-9.part", "form.png", ".syncd-1.tmp", "a.part"):
        (tmp_path / name).write_bytes(b"x")
    assert remove_stale_temp_files(tmp_path) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        ".syncd-1.tmp",
        "a.part",
        "form.png",
    ]
    assert remove_stale_temp_files(tmp_path) == 0
    assert remove_stale_temp_files(tmp_path / "missing") == 0
