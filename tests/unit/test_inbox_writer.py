"""The inbox writer never replaces a file: a taken name with other bytes gets ``-2``."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.folders.handles import Folder
from syncd.inbox import writer
from syncd.inbox.writer import remove_stale_temp_files, write_into_inbox

NAME = "2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form.jpg"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Folder]:
    folder = Folder.open(tmp_path / "inbox", create_mode=0o700)
    try:
        yield folder
    finally:
        folder.close()


def _names(inbox: Folder) -> list[str]:
    return sorted(os.listdir(inbox.path))


def test_a_taken_name_with_other_bytes_is_written_as_2_and_the_first_file_is_untouched(
    inbox: Folder,
) -> None:
    first = inbox.path / NAME
    first.write_bytes(b"the file that was there first")
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    before = os.stat(first)

    written = write_into_inbox(inbox, NAME, b"a different file, same name", "row-7")

    assert written == "2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form-2.jpg"
    assert (inbox.path / written).read_bytes() == b"a different file, same name"
    after = os.stat(first)
    assert first.read_bytes() == b"the file that was there first"
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert _names(inbox) == sorted([NAME, written])


def test_the_third_file_wanting_a_name_gets_3_and_neither_earlier_one_changes(
    inbox: Folder,
) -> None:
    names = [
        write_into_inbox(inbox, "form.png", data, tag)
        for data, tag in ((b"one", "1"), (b"two", "2"), (b"three", "3"))
    ]
    assert names == ["form.png", "form-2.png", "form-3.png"]
    assert [(inbox.path / name).read_bytes() for name in names] == [b"one", b"two", b"three"]


def test_the_same_bytes_under_a_taken_name_are_not_written_twice(inbox: Folder) -> None:
    # After a crash between the rename and the state commit the file is already there.
    first = write_into_inbox(inbox, "form.png", b"same bytes", "1")
    write_into_inbox(inbox, "form.png", b"other bytes", "2")
    again = write_into_inbox(inbox, "form.png", b"other bytes", "3")
    assert again == "form-2.png"
    assert (inbox.path / first).read_bytes() == b"same bytes"
    assert _names(inbox) == ["form-2.png", "form.png"]


def test_a_symlink_holding_the_name_is_neither_followed_nor_replaced(
    inbox: Folder, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not in the inbox")
    (inbox.path / "form.png").symlink_to(outside)

    written = write_into_inbox(inbox, "form.png", b"not in the inbox", "1")

    assert written == "form-2.png"
    assert (inbox.path / "form.png").is_symlink()
    assert outside.read_bytes() == b"not in the inbox"


@pytest.mark.parametrize("name", ["", ".", "..", ".hidden.png", "a/b.png", "../up.png"])
def test_an_unsafe_name_is_refused_and_nothing_is_written(
    inbox: Folder, tmp_path: Path, name: str
) -> None:
    with pytest.raises(ValueError, match="unsafe inbox file name"):
        write_into_inbox(inbox, name, b"bytes", "1")
    assert _names(inbox) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["inbox"]


def test_a_written_file_is_readable_by_the_group_only(inbox: Folder) -> None:
    old_umask = os.umask(0o022)
    try:
        written = write_into_inbox(inbox, "form.png", b"bytes", "1")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(inbox.path / written).st_mode) == 0o640


def test_links_planted_at_temp_like_names_are_never_written_through(
    inbox: Folder, tmp_path: Path
) -> None:
    # Temp names are random and made with O_EXCL: a planted link is never opened.
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"must stay as it is")
    for tag in ("7", "row-7"):
        (inbox.path / f".syncd-{tag}.part").symlink_to(outside)
        (inbox.path / f".syncd-{tag}.tmp").symlink_to(outside)
    written = write_into_inbox(inbox, "form.png", b"ours", "7")
    assert (inbox.path / written).read_bytes() == b"ours"
    assert outside.read_bytes() == b"must stay as it is"
    assert remove_stale_temp_files(inbox) == 0  # links are not syncd's temp files
    assert all((inbox.path / name).is_symlink() for name in _names(inbox) if name != written)


def test_a_name_taken_between_the_check_and_the_rename_moves_on_to_the_next_name(
    inbox: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another program creates the file just after the writer looked: the no-replace rename
    # refuses it and the writer takes the next name.
    real_rename = writer.rename_noreplace
    raced: list[str] = []

    def someone_writes_first(source_fd: int, source: str, target_fd: int, target: str) -> None:
        if not raced and target == "form.png":
            (inbox.path / target).write_bytes(b"the other program's file")
            raced.append(target)
        real_rename(source_fd, source, target_fd, target)

    monkeypatch.setattr(writer, "rename_noreplace", someone_writes_first)
    written = write_into_inbox(inbox, "form.png", b"ours", "1")
    assert raced == ["form.png"]
    assert written == "form-2.png"
    assert (inbox.path / written).read_bytes() == b"ours"
    assert (inbox.path / "form.png").read_bytes() == b"the other program's file"


def test_when_every_name_is_taken_it_says_so_and_leaves_no_temp_file(
    inbox: Folder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "candidate_names", lambda name: iter([name, "form-2.png"]))
    (inbox.path / "form.png").write_bytes(b"one")
    (inbox.path / "form-2.png").write_bytes(b"two")
    with pytest.raises(OSError, match=r"no free name for 'form\.png'") as raised:
        write_into_inbox(inbox, "form.png", b"three", "1")
    assert raised.value.errno == errno.EEXIST
    assert _names(inbox) == ["form-2.png", "form.png"]


def test_a_folder_holding_the_name_is_not_taken_for_the_same_file(inbox: Folder) -> None:
    (inbox.path / "form.png").mkdir()
    assert write_into_inbox(inbox, "form.png", b"content", "1") == "form-2.png"
    assert (inbox.path / "form-2.png").read_bytes() == b"content"
    assert os.listdir(inbox.path / "form.png") == []


def test_a_named_pipe_holding_the_name_is_skipped_without_waiting_for_a_writer(
    inbox: Folder,
) -> None:
    # Opened without O_NONBLOCK, a FIFO with no writer would block the receiver for ever.
    os.mkfifo(inbox.path / "form.png")
    assert write_into_inbox(inbox, "form.png", b"content", "1") == "form-2.png"
    assert stat.S_ISFIFO(os.stat(inbox.path / "form.png").st_mode)


def test_stale_temp_files_are_removed_and_counted_and_nothing_else(inbox: Folder) -> None:
    for name in (".syncd-1.part", ".syncd-9-0a1b.tmp", "form.png", ".syncd-1.txt", "a.part"):
        (inbox.path / name).write_bytes(b"x")
    (inbox.path / ".syncd-x.part").mkdir()
    assert remove_stale_temp_files(inbox) == 2
    assert _names(inbox) == [".syncd-1.txt", ".syncd-x.part", "a.part", "form.png"]
    assert remove_stale_temp_files(inbox) == 0


def test_every_stale_temp_file_is_removed_whatever_else_the_folder_holds(inbox: Folder) -> None:
    # Many other entries, so that the listing mixes them with the temp files in any order.
    others = [f"scan-{number:02d}.pdf" for number in range(30)]
    stale = [f".syncd-{number}.part" for number in range(5)]
    for name in others + stale:
        (inbox.path / name).write_bytes(b"x")
    assert remove_stale_temp_files(inbox) == len(stale)
    assert _names(inbox) == sorted(others)
