"""The state store's outbound journal: one row per outbox file, one transaction per arrow.

Part of ``StateStore`` (see ``state.store``); its read-only queries are in
``state.outbound_queries``. The arrows are
``detected → claimed → prepared → uploaded → publishing → published → done``, or ``failed``
from any unfinished state (``state.transitions`` holds the table). Each forward arrow starts the
next step with a clean retry budget (``attempts`` 0, no error, due at once);
``schedule_retry`` spends that budget in place.

How ``syncd retry`` brings a failed file back: it calls ``reset_for_retry(row_id,
source_path, now)`` *first*, naming the outbox path the file will get, and *then* renames the
file from ``failed/`` to that path (same filesystem, so inode, size and mtime survive). The
intake then meets a ``detected`` row, finds it again by ``find_outbound_by_source`` and claims
it as usual. Whatever happens in between, the claim's atomic rename decides which row owns
the file, so it is never sent twice; a crash between the two steps leaves a ``detected`` row
whose file is still in ``failed/``, which the intake's reconciliation fails again.
"""

from __future__ import annotations

from pathlib import Path

from syncd.state import transitions
from syncd.state.base import RecordsBase
from syncd.state.model import OutboundState, check_preview, path_text

# The columns a step after detection filled in; a retried row starts without them.
_LEARNT_AFTER_DETECTION = (
    "work_path",
    "caption",
    "file_type",
    "upload_bytes",
    "preview",
    "width",
    "height",
    "relative_path",
    "conversation_id",
    "sequence",
    "final_path",
    "claimed_at",
    "published_at",
    "done_at",
    "pages",
)


class OutboundRecords(RecordsBase):
    """The outbound state machine: every arrow a row may take, one transaction each."""

    def _progress(
        self, row_id: int, transition: transitions.Transition, now: float, **changes: object
    ) -> None:
        changes.update(attempts=0, last_error=None, next_attempt_at=now)
        self._move("outbound", row_id, transition, now, **changes)

    def journal_detected(
        self,
        route: str,
        source_path: Path,
        size_bytes: int,
        mtime_ns: int,
        inode: int,
        sha256: str,
        now: float,
    ) -> int:
        """Journals a settled outbox file as ``detected`` (due at ``now``); returns its row id.

        Called *before* the file is renamed into the work folder, so a crash in between
        leaves a row that tells reconciliation where to look. Raises ``UnsafeFileError``
        when the path is not valid UTF-8 and ``StateError`` when the write fails.
        """
        record = {
            "route": route,
            "source_name": path_text(Path(source_path.name)),
            "source_path": path_text(source_path),
            "size_bytes": size_bytes,
            "mtime_ns": mtime_ns,
            "inode": inode,
            "sha256": sha256,
            "state": OutboundState.DETECTED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        with self._transaction(f"journal {source_path}") as transaction:
            return transaction.insert("outbound", record)

    def mark_claimed(self, row_id: int, work_path: Path, now: float) -> None:
        """detected → claimed, once the file was renamed to ``work_path``."""
        self._progress(
            row_id, transitions.CLAIM, now, work_path=path_text(work_path), claimed_at=now
        )

    def mark_prepared(
        self,
        row_id: int,
        caption: str,
        file_type: str,
        upload_bytes: int,
        preview: str | None,
        width: int,
        height: int,
        now: float,
    ) -> None:
        """claimed → prepared, keeping what the image step made so a restart never redoes it.

        A ``prepared`` row may be prepared again (its prepared upload was lost or damaged).

        Raises ``StateError`` when ``preview`` exceeds ``MAX_PREVIEW_CHARS``.
        """
        check_preview(preview)
        self._progress(
            row_id,
            transitions.PREPARE,
            now,
            caption=caption,
            file_type=file_type,
            upload_bytes=upload_bytes,
            preview=preview,
            width=width,
            height=height,
        )

    def mark_uploaded(self, row_id: int, relative_path: str, now: float) -> None:
        """prepared → uploaded, with the storage ``relativePath`` the upload went to."""
        self._progress(row_id, transitions.UPLOAD, now, relative_path=relative_path)

    def mark_publishing(self, row_id: int, conversation_id: str, now: float) -> None:
        """uploaded → publishing, written *before* the publish frame is sent.

        After a crash, a ``publishing`` row means "replay ``conversation_id`` to learn whether
        the publish happened". Raises ``StateError`` when the conversation was not recorded.
        """
        self._progress(row_id, transitions.BEGIN_PUBLISH, now, conversation_id=conversation_id)

    def mark_published(self, row_id: int, sequence: int, now: float) -> None:
        """publishing → published, with the event's ``sequence`` in the conversation."""
        self._progress(
            row_id, transitions.CONFIRM_PUBLISH, now, sequence=sequence, published_at=now
        )

    def revert_publishing(self, row_id: int, now: float) -> None:
        """publishing → uploaded, when a replay proved the publish never happened.

        The conversation is forgotten, so the next publish goes to the route's current one.
        """
        self._progress(row_id, transitions.REVERT_PUBLISH, now, conversation_id=None)

    def mark_done(
        self, row_id: int, final_path: Path | None, now: float, note: str | None = None
    ) -> None:
        """published → done.

        ``final_path`` is where the original went in ``sent/``, or None when it was deleted
        (or could not be archived: then ``note`` says why, kept as ``last_error``).
        """
        final_text = None if final_path is None else path_text(final_path)
        self._move(
            "outbound",
            row_id,
            transitions.FINISH,
            now,
            final_path=final_text,
            done_at=now,
            attempts=0,
            last_error=note,
            next_attempt_at=now,
        )

    def mark_failed(self, row_id: int, reason: str, now: float) -> None:
        """Any unfinished state → failed, for good; ``reason`` is kept as ``last_error``."""
        self._move("outbound", row_id, transitions.FAIL, now, last_error=reason)

    def schedule_retry(self, row_id: int, error: str, next_attempt_at: float, now: float) -> None:
        """Counts a failed attempt of the current step; the row is due again at ``next_attempt_at``.

        The state stays. ``error`` is kept as ``last_error``.
        """
        self._count_failed_attempt(
            "outbound", row_id, transitions.SCHEDULE_RETRY, error, next_attempt_at, now
        )

    def reset_for_retry(
        self,
        row_id: int,
        source_path: Path,
        now: float,
        *,
        file_version: tuple[int, int, int] | None = None,
    ) -> None:
        """failed → detected at ``source_path`` (back in the outbox), as if just journaled.

        Everything learnt after detection is forgotten, because it may be stale (an expired
        upload, a closed conversation). See the module docstring for the order of steps.
        ``file_version`` (size, mtime_ns, inode) is the file as it now is, when the operator
        replaced it in ``failed/`` before retrying: the intake finds the row by it.
        """
        version = {}
        if file_version is not None:
            version = dict(zip(("size_bytes", "mtime_ns", "inode"), file_version, strict=True))
        self._move(
            "outbound",
            row_id,
            transitions.RESET_FOR_RETRY,
            now,
            source_name=path_text(Path(source_path.name)),
            source_path=path_text(source_path),
            **version,
            attempts=0,
            next_attempt_at=now,
            last_error=None,
            **dict.fromkeys(_LEARNT_AFTER_DETECTION),
        )
