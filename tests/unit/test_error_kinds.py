"""The kind of a route's last error: decided from the error's class, stored with it (schema 7),
and read by the metrics, which guess from the words only for errors stored without one."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from syncd.errors import (
    AuthenticationError,
    ConnectionLostError,
    FolderChangedError,
    IdentityGoneError,
    IdentityRejectedError,
    ImageTooLargeError,
    LinkDownError,
    PermanentFileError,
    ProtocolError,
    RequestRejectedError,
    RequestTimeoutError,
    StateCorruptError,
    StateError,
    StillWritingError,
    TlsVerificationError,
    TransientTransferError,
    UnsafeFileError,
    UnsafeRemoteError,
    UnsupportedImageError,
    UploadUrlExpiredError,
)
from syncd.liveperson.domains import UnknownAccountError
from syncd.liveperson.error_kinds import kind_of
from syncd.liveperson.http_answers import HttpStatusError, ResponseTooLargeError
from syncd.liveperson.storage import DownloadUrlExpiredError, StoredFileMissingError
from syncd.outbox.uploads import UploadDamagedError
from syncd.rules.error_kinds import ErrorKind, log_kind, parse_error_kind
from syncd.service.metrics import StateCollector
from syncd.service.route_errors import RouteErrorCollector
from syncd.state.schema import MIGRATIONS
from syncd.state.store import StateStore

NOW = 1_700_000_000.0
ROUTE = "front-desk"
# A link failure whose words the old guess filed under "file" ("failed:").
REFUSED = "PUT http://127.0.0.1:9/v1/AUTH_x/1/a failed: connection refused by 127.0.0.1:9"

CASES: list[tuple[BaseException, ErrorKind]] = [
    # LivePerson or the way to it, whatever step it interrupted.
    (TransientTransferError(REFUSED), ErrorKind.LIVEPERSON),
    (ConnectionLostError("the messaging WebSocket closed"), ErrorKind.LIVEPERSON),
    (LinkDownError("the link is down"), ErrorKind.LIVEPERSON),
    (RequestTimeoutError("ms.PublishEvent timed out"), ErrorKind.LIVEPERSON),
    (RequestRejectedError("ms.PublishEvent", 503, "busy"), ErrorKind.LIVEPERSON),
    (RequestRejectedError("ms.PublishEvent", 400, "bad"), ErrorKind.LIVEPERSON),
    (HttpStatusError(403, "forbidden", "http://h/v1/x?temp_url_sig=s"), ErrorKind.LIVEPERSON),
    (UploadUrlExpiredError("Temp URL invalid"), ErrorKind.LIVEPERSON),
    (AuthenticationError("token refused"), ErrorKind.LIVEPERSON),
    (IdentityGoneError("refresh window passed"), ErrorKind.LIVEPERSON),
    (TlsVerificationError("certificate did not verify"), ErrorKind.LIVEPERSON),
    (ProtocolError("malformed answer"), ErrorKind.LIVEPERSON),
    (UnsafeRemoteError("storage URL on another host"), ErrorKind.LIVEPERSON),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), ErrorKind.LIVEPERSON),
    # The account or identity as configured.
    (
        IdentityRejectedError("signup disabled", key="liveperson.identity", step="signup"),
        ErrorKind.ACCOUNT,
    ),
    (UnknownAccountError("12345678", 404), ErrorKind.ACCOUNT),
    # Local storage and permissions.
    (StateError("cannot write the state: disk I/O error"), ErrorKind.STORAGE),
    (StateCorruptError("quick_check found damage"), ErrorKind.STORAGE),
    (FolderChangedError("the outbox was replaced by a symlink"), ErrorKind.STORAGE),
    (OSError(errno.ENOSPC, "No space left on device"), ErrorKind.STORAGE),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), ErrorKind.STORAGE),
    (OSError(errno.EIO, "Input/output error"), ErrorKind.STORAGE),
    (PermissionError(errno.EACCES, "Permission denied"), ErrorKind.PERMISSION),
    (PermissionError(errno.EPERM, "Operation not permitted"), ErrorKind.PERMISSION),
    (OSError(errno.EROFS, "Read-only file system"), ErrorKind.PERMISSION),
    # The file itself.
    (UnsupportedImageError("text file, not an image"), ErrorKind.FILE),
    (ImageTooLargeError("over the pixel limit"), ErrorKind.FILE),
    (UnsafeFileError("a symlink"), ErrorKind.FILE),
    (UploadDamagedError("the prepared upload changed"), ErrorKind.FILE),
    (PermanentFileError("cannot read the file"), ErrorKind.FILE),
    (StillWritingError("truncated JPEG"), ErrorKind.FILE),
    (ResponseTooLargeError("over max_bytes"), ErrorKind.FILE),
    (HttpStatusError(413, "too large"), ErrorKind.FILE),
    # A file an agent sent.
    (StoredFileMissingError("no object at that path"), ErrorKind.INBOUND),
    (DownloadUrlExpiredError("Temp URL invalid"), ErrorKind.INBOUND),
    # Nothing syncd knows.
    (ValueError("a bug"), ErrorKind.OTHER),
    (RuntimeError("a surprise"), ErrorKind.OTHER),
]


@pytest.mark.parametrize(("error", "kind"), CASES, ids=lambda value: type(value).__name__)
def test_kind_of_decides_by_the_error_class_and_errno(error: BaseException, kind: str) -> None:
    assert kind_of(error) == kind


def test_every_kind_is_reachable_from_some_error() -> None:
    assert {kind_of(error) for error, _ in CASES} == set(ErrorKind)


def test_a_stored_kind_parses_back_and_an_unknown_one_is_none() -> None:
    assert [parse_error_kind(str(kind)) for kind in ErrorKind] == list(ErrorKind)
    assert parse_error_kind(None) is None
    assert parse_error_kind("weather") is None


def _logged(
    logger_name: str, emit: Callable[[logging.Logger], None]
) -> dict[str, ErrorKind | None]:
    collector = RouteErrorCollector()
    logger = logging.getLogger(logger_name)
    logger.addHandler(collector)
    try:
        emit(logger)
    finally:
        logger.removeHandler(collector)
    return {route: problem.kind for route, problem in collector.drain().items()}


def test_a_logged_problem_keeps_the_kind_the_logging_code_stated() -> None:
    def emit(logger: logging.Logger) -> None:
        logger.warning(
            "route=a file=x.jpg: failed: %s", REFUSED, extra={"error_kind": "liveperson"}
        )
        logger.error("route=b: cannot write", extra=log_kind(ErrorKind.PERMISSION))
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            logger.exception("route=c: intake step failed")
        logger.warning("route=d: something new")

    kinds = _logged("syncd.outbox.tests", emit)
    # A plain string where the kind belongs is not trusted: the line names none.
    assert kinds == {"a": None, "b": ErrorKind.PERMISSION, "c": ErrorKind.STORAGE, "d": None}


def test_a_line_of_the_liveperson_client_is_about_liveperson_unless_it_says_otherwise() -> None:
    def emit(logger: logging.Logger) -> None:
        logger.warning("route=a: obtain a consumer token failed (attempt 1): %s", REFUSED)
        logger.warning("route=b: reconnect failed", extra=log_kind(ErrorKind.ACCOUNT))

    kinds = _logged("syncd.liveperson.tests", emit)
    assert kinds == {"a": ErrorKind.LIVEPERSON, "b": ErrorKind.ACCOUNT}


def _error_labels(store: StateStore) -> list[dict[str, str]]:
    collector = StateCollector(store, [ROUTE], dict, clock=lambda: NOW + 100)
    return [
        sample.labels
        for family in collector.collect()
        if family.name == "syncd_last_error_info"
        for sample in family.samples
    ]


def test_the_metric_says_the_stored_kind_not_the_guess_from_the_words(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "state" / "syncd.sqlite3") as store:
        assert _error_labels(store) == []
        store.note_error(ROUTE, f"x.jpg: not sent: {REFUSED}", NOW, kind=ErrorKind.LIVEPERSON)
        assert _error_labels(store) == [{"route": ROUTE, "kind": "liveperson"}]
        store.note_error(ROUTE, "LivePerson answered HTTP 500", NOW + 1, kind=ErrorKind.STORAGE)
        assert _error_labels(store) == [{"route": ROUTE, "kind": "storage"}]
        # A line that named no kind: the words decide, as before kinds were stored.
        store.note_error(ROUTE, f"x.jpg: not sent: {REFUSED}", NOW + 2, kind=None)
        assert store.route_summary(ROUTE).last_error_kind is None
        assert _error_labels(store) == [{"route": ROUTE, "kind": "file"}]


def test_migration_7_adds_the_kind_and_an_old_last_error_keeps_its_guessed_kind(
    tmp_path: Path,
) -> None:
    database = tmp_path / "state" / "syncd.sqlite3"
    with StateStore.open(database, migrations=MIGRATIONS[:6]) as old:
        old.note_success(ROUTE, NOW)
    # The last error as a syncd of schema 6 wrote it.
    with sqlite3.connect(database) as plain:
        plain.execute(
            "UPDATE route_status SET last_error = ?, last_error_at = ? WHERE route = ?",
            [
                "route=front-desk: intake step failed: [Errno 28] No space left on device",
                NOW,
                ROUTE,
            ],
        )
        before = [row[1] for row in plain.execute("PRAGMA table_info(route_status)")]
    plain.close()
    assert "last_error_kind" not in before

    with StateStore.open(database) as upgraded:
        summary = upgraded.route_summary(ROUTE)
        assert summary.last_error is not None and "No space left" in summary.last_error
        assert (summary.last_error_at, summary.last_error_kind) == (NOW, None)
        assert _error_labels(upgraded) == [{"route": ROUTE, "kind": "storage"}]
        upgraded.note_error(
            ROUTE, "x.jpg: not sent: failed: refused", NOW + 1, kind=ErrorKind.LIVEPERSON
        )
    with sqlite3.connect(database) as plain:
        columns = [row[1] for row in plain.execute("PRAGMA table_info(route_status)")]
        versions = [row[0] for row in plain.execute("SELECT version FROM schema_version")]
        stored = plain.execute(
            "SELECT last_error_kind FROM route_status WHERE route = ?", [ROUTE]
        ).fetchone()
    plain.close()
    assert columns[-1] == "last_error_kind"
    assert versions[-1] == 7
    assert stored == ("liveperson",)
