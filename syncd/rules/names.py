"""Local file names: which outbox entries are never scans, and safe names for received files.

Remote text (an agent's caption) only ever reaches a file name through ``sanitize_name_part``;
everything else in an inbox name is a local fact (time, conversation, sequence, detected type).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime

# Folders syncd creates inside each outbox. The watcher only looks at the top level of an
# outbox, and these names are ignored there too, so a claimed or archived file is never
# mistaken for a new scan.
WORK_DIR_NAME = ".syncd-work"
SENT_DIR_NAME = "sent"
FAILED_DIR_NAME = "failed"
OWN_FOLDER_NAMES = frozenset({WORK_DIR_NAME, SENT_DIR_NAME, FAILED_DIR_NAME})

# Names that Windows, macOS and NAS boxes compare without regard to case.
_IGNORED_EXACT_NAMES_FOLDED = frozenset({"thumbs.db", "desktop.ini", "@eadir"})
_IGNORED_SUFFIXES_FOLDED = (".tmp", ".part", ".partial", ".crdownload")


def is_ignored_name(name: str) -> bool:
    """Tell whether a directory entry in an outbox is never a scan.

    Takes a bare entry name (no folder). Returns True for hidden names (``.*``), Office owner
    files (``~$*``), partial downloads and temporary files (``*.tmp``, ``*.part``,
    ``*.partial``, ``*.crdownload``), ``Thumbs.db``, ``desktop.ini``, Synology's ``@eaDir``
    and syncd's own folders; False for everything else. Raises nothing.
    """
    if name in ("", ".", "..") or name in OWN_FOLDER_NAMES:
        return True
    if name.startswith((".", "~$")):
        return True
    folded = name.casefold()
    return folded in _IGNORED_EXACT_NAMES_FOLDED or folded.endswith(_IGNORED_SUFFIXES_FOLDED)


# ext4 allows 255 bytes per name; staying well below leaves room for numbered variants and
# for the ".name.part" temp names the receiver writes first.
MAX_CAPTION_NAME_CHARS = 80
MAX_FILE_NAME_BYTES = 200
# LivePerson sequences are small counters; a wild value must not make the name overlong
# nor stop the receiver with an exception.
MAX_SEQUENCE = 10**15
_EXTENSION_PATTERN = re.compile(r"[a-z0-9]{1,10}")
_KEPT_PUNCTUATION = frozenset("-_ .")


def sanitize_name_part(text: str, max_chars: int = MAX_CAPTION_NAME_CHARS) -> str:
    """Turn untrusted text (an agent's caption) into a safe piece of a file name.

    Keeps letters and digits of any script (with their combining marks), ``-``, ``_``, space
    and ``.``; every other run of characters (separators, controls, bidi overrides, emoji)
    becomes one ``_``. Runs of dots shrink to one dot, so ``..`` never survives; leading dots,
    dashes, spaces and underscores and trailing dots and spaces are removed, and the result has
    at most ``max_chars`` characters. May return ``""``. Raises nothing.
    """
    kept: list[str] = []
    inside_word = False  # combining marks are kept only on the letter they decorate
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if char.isalnum() or (inside_word and category in ("Mn", "Mc")):
            kept.append(char)
            inside_word = True
            continue
        inside_word = False
        if char in _KEPT_PUNCTUATION:
            kept.append(char)
        elif char.isspace() and category != "Cc":
            kept.append(" ")
        elif not kept or kept[-1] != "_":
            kept.append("_")
    name = re.sub(r"\.{2,}", ".", re.sub(r" {2,}", " ", "".join(kept)))
    name = name.lstrip(".-_ ").rstrip(". ")
    return name[:max_chars].rstrip(". ")


def inbox_file_name(
    received_at: datetime,
    conversation_id: str,
    sequence: int,
    caption: str | None,
    extension: str,
) -> str:
    """Build the local name of a received file from local facts only.

    Example: ``2026-11-25T10-15-03Z_conv-7507be78_seq-12_signed-form.jpg``. ``received_at`` is
    shown in UTC (a naive time is taken as UTC), the conversation by the first 8 letters and
    digits of its id, the caption (if any) through ``sanitize_name_part``; ``extension`` is
    the detected type (``"jpg"`` or ``".jpg"``). The name is one path component of at most
    ``MAX_FILE_NAME_BYTES`` UTF-8 bytes and never starts with ``.`` or ``-``. A sequence
    outside 0..``MAX_SEQUENCE`` (which only a misbehaving server sends) shows as ``seq-x``.
    Raises ValueError for an extension that is not 1-10 letters or digits.
    """
    suffix = extension.lower().removeprefix(".")
    if not _EXTENSION_PATTERN.fullmatch(suffix):
        raise ValueError(f"extension must be 1-10 letters or digits, got {extension!r}")
    moment = received_at if received_at.tzinfo is None else received_at.astimezone(UTC)
    conversation_part = "".join(
        char for char in conversation_id if char.isascii() and char.isalnum()
    )
    prefix = (
        f"{moment:%Y-%m-%dT%H-%M-%S}Z_conv-{conversation_part[:8].lower() or 'unknown'}"
        f"_seq-{sequence if 0 <= sequence <= MAX_SEQUENCE else 'x'}"
    )
    caption_part = sanitize_name_part(caption) if caption else ""
    ending = f".{suffix}"
    room_bytes = MAX_FILE_NAME_BYTES - len(prefix.encode()) - len(ending.encode()) - 1
    caption_part = _cut_to_bytes(caption_part, room_bytes).rstrip(". ")
    return f"{prefix}_{caption_part}{ending}" if caption_part else f"{prefix}{ending}"


def numbered_variant(name: str, number: int) -> str:
    """Return ``name`` with ``-number`` before its extension: ``a.jpg`` → ``a-2.jpg``.

    Used when a name is already taken (received files never overwrite). The result stays
    within ``MAX_FILE_NAME_BYTES`` by shortening the stem. Raises ValueError when ``number``
    is below 2.
    """
    if number < 2:
        raise ValueError(f"variants are numbered from 2, got {number}")
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix = name, ""
    ending = f"-{number}" + (f".{suffix}" if suffix else "")
    room_bytes = MAX_FILE_NAME_BYTES - len(ending.encode())
    return _cut_to_bytes(stem, room_bytes) + ending


# How many names ``candidate_names`` offers before a folder counts as full for that name.
MAX_NAME_CANDIDATES = 9_999


def candidate_names(name: str) -> Iterator[str]:
    """``name``, then ``name-2``, ``name-3``… (``numbered_variant``): the names to try, in
    order, for a file that must not replace another; ``MAX_NAME_CANDIDATES`` in all."""
    yield name
    for number in range(2, MAX_NAME_CANDIDATES + 1):
        yield numbered_variant(name, number)


def _cut_to_bytes(text: str, max_bytes: int) -> str:
    # Cut on a character boundary: "ignore" drops a multi-byte character split by the cut.
    return text.encode()[: max(max_bytes, 0)].decode(errors="ignore")


def fitting_name(name: str, max_bytes: int = MAX_FILE_NAME_BYTES) -> str:
    """``name`` shortened (stem cut, extension kept) to at most ``max_bytes`` UTF-8 bytes.

    A scanner may write a name of up to 255 bytes; syncd adds a row prefix or an
    ``.error.txt`` suffix to it, which must still fit the file system's 255. Undecodable
    bytes (surrogate escapes) count as the one byte they stand for. Raises nothing.
    """
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) <= max_bytes:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or len(suffix.encode("utf-8", "surrogateescape")) > 16:
        stem, suffix = name, ""
    ending = f".{suffix}" if suffix else ""
    room = max_bytes - len(ending.encode("utf-8", "surrogateescape"))
    cut = stem.encode("utf-8", "surrogateescape")[: max(room, 1)]
    # A valid name stays valid (a character split by the cut is dropped); an undecodable
    # one keeps its raw bytes.
    errors = "ignore" if is_decodable_name(name) else "surrogateescape"
    return cut.decode("utf-8", errors) + ending


def printable_name(name: str) -> str:
    """``name`` with undecodable bytes written as ``\\xNN`` text: safe to store and show.

    File names are bytes; one that is not UTF-8 reaches Python with surrogate escapes,
    which SQLite and the journal refuse. Returns ``name`` itself when it is valid UTF-8.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name


def is_decodable_name(name: str) -> bool:
    """True when ``name`` (as ``os.listdir`` returns it) is valid UTF-8."""
    return printable_name(name) == name
