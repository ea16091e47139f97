"""The legal moves of the outbound and inbound rows: one ``Transition`` per arrow.

Keeping the whole table in one place lets the rules be read (and tested) together; the
record-keeping parts (``state.outbound``, ``state.pages``, ``state.inbound``) name an arrow
from here for every move, and ``RecordsBase._move`` checks it inside the move's transaction.
Nothing here touches a database.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd.state.model import (
    PENDING_OUTBOUND_STATES,
    IllegalTransitionError,
    InboundState,
    OutboundState,
)


@dataclass(frozen=True)
class Transition:
    """One arrow of a row state machine.

    ``sources`` are the states a row may be in; ``target`` is the new state, or None when the
    transition keeps the state (a retry scheduled in place).
    """

    name: str
    sources: frozenset[str]
    target: str | None

    def check(self, table: str, row_id: int, current: str) -> None:
        """Raises ``IllegalTransitionError`` unless a row in ``current`` may take this arrow."""
        if current not in self.sources:
            allowed = ", ".join(sorted(self.sources))
            raise IllegalTransitionError(
                f"cannot {self.name} {table} row {row_id}: it is {current}, "
                f"and only rows in {allowed} can"
            )


_S = OutboundState
CLAIM = Transition("claim", frozenset({_S.DETECTED}), _S.CLAIMED)
# A prepared row is prepared again when its prepared upload was lost or damaged before its
# upload (the sender makes it again from the claimed original in the work folder).
PREPARE = Transition("prepare", frozenset({_S.CLAIMED, _S.PREPARED}), _S.PREPARED)
UPLOAD = Transition("record the upload of", frozenset({_S.PREPARED}), _S.UPLOADED)
BEGIN_PUBLISH = Transition("begin publishing", frozenset({_S.UPLOADED}), _S.PUBLISHING)
CONFIRM_PUBLISH = Transition("confirm", frozenset({_S.PUBLISHING}), _S.PUBLISHED)
REVERT_PUBLISH = Transition("revert publishing", frozenset({_S.PUBLISHING}), _S.UPLOADED)
FINISH = Transition("finish", frozenset({_S.PUBLISHED}), _S.DONE)
# A document's original is done when its last page is: it is never uploaded itself.
FINISH_DOCUMENT = Transition("finish the document of", frozenset({_S.PREPARED}), _S.DONE)
FAIL = Transition("fail", frozenset(PENDING_OUTBOUND_STATES), _S.FAILED)
SCHEDULE_RETRY = Transition("schedule a retry of", frozenset(PENDING_OUTBOUND_STATES), None)
RESET_FOR_RETRY = Transition("reset", frozenset({_S.FAILED}), _S.DETECTED)

_PENDING_DOWNLOAD = frozenset({InboundState.PENDING})
COMPLETE_DOWNLOAD = Transition("complete", _PENDING_DOWNLOAD, InboundState.DONE)
FAIL_DOWNLOAD = Transition("fail", _PENDING_DOWNLOAD, InboundState.FAILED)
SCHEDULE_DOWNLOAD_RETRY = Transition("schedule a retry of", _PENDING_DOWNLOAD, None)
