"""The state store's document pages: one row per page of a multi-page original.

Part of ``StateStore``. A document's original row (a PDF, a multi-page TIFF) is prepared
into page rows in one transaction: every page row is inserted ``prepared`` together with the
original's move to ``prepared`` (with ``pages`` set), so a crash leaves either no page at all
(the original is prepared again) or every page. Each page row then takes the sender's usual
arrows to ``done``, exactly once each; the original follows with ``finish_document`` once
its last page is done, which is when its file moves to ``sent/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from syncd.state import decode, transitions
from syncd.state.base import RecordsBase
from syncd.state.model import OutboundRow, OutboundState, check_preview, path_text

# Rows of one route in send order: a document's pages take the original's place in the
# queue (its id), in page order, and the original itself comes right after its last page.
_SEND_ORDER = "coalesce(document_id, id), document_id IS NULL, page, id"


@dataclass(frozen=True)
class PreparedPage:
    """What the page step made of one page, as the page's row keeps it."""

    page: int  # from 1
    caption: str
    file_type: str
    upload_bytes: int
    preview: str
    width: int
    height: int


class PageRecords(RecordsBase):
    """Page rows: creating them with their document, listing them, finishing the original."""

    def mark_document_prepared(
        self, document_id: int, pages: Sequence[PreparedPage], now: float
    ) -> list[int]:
        """claimed → prepared for a document's original, inserting one prepared row per page.

        One transaction for all of it. Page rows left from an earlier attempt (the document
        failed and ``syncd retry`` brought it back) are deleted first: they ended, and the
        document is sent again as a whole. Returns the page rows' ids in page order. Raises
        ``IllegalTransitionError`` unless the original is ``claimed`` and ``StateError`` when
        a preview is too long or the write fails.
        """
        for page in pages:
            check_preview(page.preview)
        with self._transaction(f"prepare the pages of outbound row {document_id}") as transaction:
            original = transaction.get("outbound", document_id)
            transitions.PREPARE.check("outbound", document_id, original["state"])
            transaction.run(
                "DELETE FROM outbound WHERE document_id = ? AND state IN (?, ?)",
                [document_id, OutboundState.DONE, OutboundState.FAILED],
            )
            page_ids = []
            for page in pages:
                record = {
                    "route": original["route"],
                    "source_name": original["source_name"],
                    "source_path": original["source_path"],
                    "size_bytes": original["size_bytes"],
                    "mtime_ns": original["mtime_ns"],
                    "inode": original["inode"],
                    "sha256": original["sha256"],
                    "state": OutboundState.PREPARED,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "caption": page.caption,
                    "file_type": page.file_type,
                    "upload_bytes": page.upload_bytes,
                    "preview": page.preview,
                    "width": page.width,
                    "height": page.height,
                    "created_at": now,
                    "updated_at": now,
                    "claimed_at": original["claimed_at"],
                    "document_id": document_id,
                    "page": page.page,
                    "pages": len(pages),
                }
                page_ids.append(transaction.insert("outbound", record))
            self._move(
                "outbound",
                document_id,
                transitions.PREPARE,
                now,
                pages=len(pages),
                attempts=0,
                last_error=None,
                next_attempt_at=now,
            )
        return page_ids

    def page_rows(self, document_id: int) -> list[OutboundRow]:
        """The page rows of the original ``document_id``, in page order."""
        with self._reading(f"list the pages of outbound row {document_id}") as transaction:
            records = transaction.rows(
                "SELECT * FROM outbound WHERE document_id = ? ORDER BY page", [document_id]
            )
        return [decode.outbound_from_record(record) for record in records]

    def find_page_row(self, document_id: int, page: int) -> OutboundRow | None:
        """The row of page ``page`` of the original ``document_id``, or None."""
        with self._reading(f"look up page {page} of outbound row {document_id}") as transaction:
            records = transaction.rows(
                "SELECT * FROM outbound WHERE document_id = ? AND page = ?", [document_id, page]
            )
        return decode.outbound_from_record(records[0]) if records else None

    def finish_document(
        self, document_id: int, final_path: Path | None, now: float, note: str | None = None
    ) -> None:
        """prepared → done for an original whose pages are all done.

        ``final_path`` is where the original went in ``sent/``, or None when it was deleted
        (or could not be archived: then ``note`` says why, kept as ``last_error``). Raises
        ``IllegalTransitionError`` unless the original is ``prepared``.
        """
        final_text = None if final_path is None else path_text(final_path)
        self._move(
            "outbound",
            document_id,
            transitions.FINISH_DOCUMENT,
            now,
            final_path=final_text,
            done_at=now,
            attempts=0,
            last_error=note,
            next_attempt_at=now,
        )

    def send_queue(
        self, route: str, states: Iterable[OutboundState], limit: int
    ) -> list[OutboundRow]:
        """The first ``limit`` rows of ``route`` in ``states``, in send order.

        Send order is FIFO by journal order, with a document's pages in page order in the
        place of their original, and the original right after its pages.
        """
        wanted = sorted(set(states))
        marks = ", ".join("?" * len(wanted))
        sql = (
            f"SELECT * FROM outbound WHERE route = ? AND state IN ({marks})"  # noqa: S608
            f" ORDER BY {_SEND_ORDER} LIMIT ?"
        )
        with self._reading(f"list the send queue of route {route}") as transaction:
            records = transaction.rows(sql, [route, *wanted, limit])
        return [decode.outbound_from_record(record) for record in records]
