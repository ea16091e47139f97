"""The last step of a sent file: its original to ``sent/`` (or deleted), its upload removed.

Every failure here is about one file that is already published, so none of them may hold
the route: they become a note on the row (``syncd status`` shows it) instead.
"""

from __future__ import annotations

from pathlib import Path

from syncd.config import RouteConfig
from syncd.folders import move_without_clobber, remove_entry
from syncd.folders.route import RouteFolders
from syncd.outbox.copy_claim import original_left_in_outbox
from syncd.outbox.failing import discard_upload, work_entry_name
from syncd.state.model import OutboundRow


def archive_original(
    route: RouteConfig, folders: RouteFolders, row: OutboundRow
) -> tuple[Path | None, str | None]:
    """Archive (or delete, per ``after_send``) the claimed original of published ``row``.

    Returns where it went in ``sent/`` (None when deleted or not archived) and, when
    something could not be done, the sentence saying what and why. Raises nothing for
    file-system refusals.
    """
    final_path: Path | None = None
    problem: str | None = None
    name = work_entry_name(route, row)
    if name is None and row.work_path is not None:
        problem = f"not archived: {row.work_path} is outside the work folder"
    elif name is not None:
        try:
            if route.after_send == "archive":
                archived = move_without_clobber(folders.work, name, folders.sent, row.source_name)
                final_path = route.sent_dir / archived
            else:
                remove_entry(folders.work, name)
        except FileNotFoundError:
            pass
        except OSError as error:
            problem = (
                f"sent, but could not be {route.after_send}d "
                f"({error.strerror or error}); it is still in {route.work_dir} as {name}"
            )
        if problem is None and original_left_in_outbox(
            folders.outbox, row.source_path.name, row.inode
        ):
            kept = "a copy was archived in sent/" if final_path else "the copy was deleted"
            problem = (
                "sent, but the original could not be moved out of the outbox (not syncd's "
                f"to move); {kept}. Remove the original from the outbox by hand"
            )
    discard_upload(route, folders, row)
    return final_path, problem
