"""Descriptor-relative file operations on real folders: no clobbering, no following links."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from syncd.errors import FolderChangedError, UnsafeFileError
from syncd.folders import handles
from syncd.folders.handles import Folder, rename_noreplace
from syncd.folders.operations import (
    create_temp_file,
    move_without_clobber,
    read_entry,
    write_file,
)
from syncd.outbox.uploads import (
    UploadDamagedError,
    page_upload_name,
    read_named_upload,
    read_upload,
    upload_name,
    write_named_upload,
    write_upload,
)
from syncd.rules import fitting_name, is_decodable_name, printable_name


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    opened = Folder.open(tmp_path / "f", create_mode=0o700)
    yield opened  # type: ignore[misc]
    opened.close()


@pytest.fixture(params=["renameat2", "fallback"])
def rename_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of a no-clobber rename: the kernel's, and the one for file systems that
    answer RENAME_NOREPLACE with EINVAL (some network file systems)."""
    if request.param == "fallback":

        def refuse(*_arguments: object) -> None:
            raise OSError(errno.EINVAL, "RENAME_NOREPLACE not supported here")

        monkeypatch.setattr(handles, "renameat2_noreplace", refuse)
    return str(request.param)


def test_a_no_clobber_rename_never_replaces_a_file_or_a_link(
    folder: Folder, rename_path: str
) -> None:
    (folder.path / "a").write_text("a")
    (folder.path / "b").write_text("b")
    (folder.path / "link").symlink_to(folder.path / "b")
    with pytest.raises(FileExistsError):
        rename_noreplace(folder.fd, "a", folder.fd, "b")
    with pytest.raises(FileExistsError):
        rename_noreplace(folder.fd, "a", folder.fd, "link")
    assert (folder.path / "b").read_text() == "b" and (folder.path / "a").read_text() == "a"
    rename_noreplace(folder.fd, "a", folder.fd, "c")
    assert not (folder.path / "a").exists() and (folder.path / "c").read_text() == "a"


def test_a_no_clobber_rename_moves_a_link_itself(folder: Folder, rename_path: str) -> None:
    (folder.path / "link").symlink_to("/etc/passwd")
    rename_noreplace(folder.fd, "link", folder.fd, "moved")
    assert os.readlink(folder.path / "moved") == "/etc/passwd"


def test_moves_number_taken_names_and_shorten_long_ones(folder: Folder, tmp_path: Path) -> None:
    with Folder.open(tmp_path / "target", create_mode=0o700) as target:
        (target.path / "scan.jpg").write_text("earlier")
        (folder.path / "scan.jpg").write_text("later")
        assert move_without_clobber(folder, "scan.jpg", target, "scan.jpg") == "scan-2.jpg"
        assert (target.path / "scan.jpg").read_text() == "earlier"
        long_name = "x" * 250 + ".jpg"
        (folder.path / long_name).write_text("long")
        moved = move_without_clobber(folder, long_name, target, long_name)
        assert moved.endswith(".jpg") and len(moved.encode()) <= 200


def test_writes_replace_a_planted_link_instead_of_following_it(
    folder: Folder, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    (folder.path / "report.txt").symlink_to(victim)
    write_file(folder, "report.txt", b"the report")
    assert victim.read_text() == "untouched"
    assert not (folder.path / "report.txt").is_symlink()
    assert (folder.path / "report.txt").read_bytes() == b"the report"
    assert stat.S_IMODE((folder.path / "report.txt").stat().st_mode) == 0o600


def test_temp_files_are_new_files_under_fresh_names(folder: Folder) -> None:
    first, first_name = create_temp_file(folder, "t")
    second, second_name = create_temp_file(folder, "t")
    os.close(first)
    os.close(second)
    assert first_name != second_name and first_name.startswith(".syncd-t-")


def test_reading_refuses_links_and_fifos(folder: Folder) -> None:
    (folder.path / "link.jpg").symlink_to("/etc/passwd")
    os.mkfifo(folder.path / "pipe.jpg")
    with pytest.raises(UnsafeFileError, match="symbolic link"):
        read_entry(folder, "link.jpg", 1000)
    with pytest.raises(UnsafeFileError, match="pipe"):
        read_entry(folder, "pipe.jpg", 1000)


def test_a_folder_swapped_for_a_link_is_noticed_and_not_followed(tmp_path: Path) -> None:
    with Folder.open(tmp_path / "sent", create_mode=0o700) as sent:
        sent.verify()
        (tmp_path / "sent").rename(tmp_path / "sent.old")
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "sent").symlink_to(tmp_path / "elsewhere")
        with pytest.raises(FolderChangedError, match="symbolic link"):
            sent.verify()
        write_file(sent, "x", b"x")
    assert (tmp_path / "sent.old" / "x").exists()
    assert os.listdir(tmp_path / "elsewhere") == []
    with pytest.raises(FolderChangedError):
        Folder.open(tmp_path / "sent")


def test_a_prepared_upload_is_private_and_checked_against_its_hash(folder: Folder) -> None:
    write_upload(folder, 7, b"prepared bytes")
    path = folder.path / upload_name(7)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_upload(folder, 7) == b"prepared bytes"
    content = bytearray(path.read_bytes())
    content[0] ^= 1
    path.write_bytes(bytes(content))
    with pytest.raises(UploadDamagedError, match="changed"):
        read_upload(folder, 7)


def test_a_document_page_upload_is_written_durably_private_and_hash_checked(
    folder: Folder,
) -> None:
    name = page_upload_name(7, 2)
    write_named_upload(folder, name, b"page two", durable=True)
    path = folder.path / name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_named_upload(folder, name) == b"page two"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UploadDamagedError):
        read_named_upload(folder, name)
    (folder.path / "elsewhere").write_bytes(b"not ours")
    path.unlink()
    path.symlink_to(folder.path / "elsewhere")
    with pytest.raises(UnsafeFileError):
        read_named_upload(folder, name)


def test_names_are_fitted_and_made_printable() -> None:
    odd = b"scan-\xff.jpg".decode("utf-8", "surrogateescape")
    assert not is_decodable_name(odd) and is_decodable_name("scan-é.jpg")
    assert printable_name(odd) == "scan-\\xff.jpg"
    assert fitting_name("é" * 150 + ".jpg", 200).encode() == ("é" * 98 + ".jpg").encode()
    assert fitting_name("short.jpg") == "short.jpg"
