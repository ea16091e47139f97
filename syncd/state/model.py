"""The pure half of the state store: state names, legal transitions and row types.

Nothing here touches a database; ``state.py`` is the adapter that stores these values in
SQLite. Keeping the transition table here lets the rules be read (and tested) in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from syncd.errors import StateError, UnsafeFileError

# LivePerson's limit on the base64 preview of a hosted file (protocol.md §5.5). The store
# refuses longer ones so that a restart can publish the persisted preview as it is.
MAX_PREVIEW_CHARS = 30_000


class OutboundState(StrEnum):
    """Where one outbox file stands on its way into a conversation."""

    DETECTED = "detected"
    CLAIMED = "claimed"
    PREPARED = "prepared"
    UPLOADED = "uploaded"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    DONE = "done"
    FAILED = "failed"


# Not a stored state: how commands show a failed row whose file an operator removed from
# failed/ (dealt with by a person, so neither failed forever nor retried by --all-failed).
DISMISSED = "dismissed"


class InboundState(StrEnum):
    """Where one file an agent sent stands on its way into the inbox."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class ConversationState(StrEnum):
    """LivePerson's conversation states, spelled as LivePerson spells them."""

    OPEN = "OPEN"
    CLOSE = "CLOSE"


# The end of a failed row's reason when its file could not be moved to failed/ and stayed in
# the outbox (``taken_sources`` looks for it: that file must not be journaled again).
LEFT_IN_OUTBOX = "was left in the outbox"

TERMINAL_OUTBOUND_STATES = frozenset({OutboundState.DONE, OutboundState.FAILED})
PENDING_OUTBOUND_STATES = frozenset(OutboundState) - TERMINAL_OUTBOUND_STATES


class IllegalTransitionError(StateError):
    """A row was asked to move from a state that does not allow that move.

    It means a bug or a race (for example ``syncd retry`` on a row the daemon already moved),
    never a broken database, so callers may treat it apart from other ``StateError``\\ s.
    """


class UnknownRowError(StateError):
    """No row has the id or key the caller named."""


class DatabaseMissingError(StateError):
    """A read-only open found no database: syncd has never run with this configuration."""


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


def check_preview(preview: str | None) -> None:
    """Raises ``StateError`` when ``preview`` is longer than LivePerson accepts."""
    if preview is not None and len(preview) > MAX_PREVIEW_CHARS:
        raise StateError(
            f"preview has {len(preview)} characters; at most {MAX_PREVIEW_CHARS} can be stored"
        )


def path_text(path: Path) -> str:
    """The text SQLite stores for ``path``.

    Raises ``UnsafeFileError`` when the name is not valid UTF-8 (a name a scanner wrote in a
    legacy encoding): SQLite text must be UTF-8, and guessing an encoding could later point
    the row at a different file.
    """
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise UnsafeFileError(f"file name {text!r} is not valid UTF-8") from error
    return text


@dataclass(frozen=True)
class Identity:
    """The LivePerson consumer a route speaks as. Tokens are secrets and stay out of reprs.

    ``flow`` made it (signup, authenticated, unauthenticated); ``external_token`` and
    ``refresh_deadline`` belong to the unauthenticated flow; ``replaced_reason`` and
    ``replaced_at`` say why and when the route last had to take a new consumer.
    """

    route: str
    consumer_id: str
    jwt: str = field(repr=False)
    created_at: float
    flow: str = "signup"
    external_token: str | None = field(default=None, repr=False)
    refresh_deadline: float | None = None
    replaced_reason: str | None = None
    replaced_at: float | None = None


@dataclass(frozen=True)
class ConversationRow:
    """A conversation a route's consumer opened, and how far its events were read.

    ``last_seen_sequence`` is -1 until an event was seen.
    """

    conversation_id: str
    route: str
    skill_id: str | None
    state: ConversationState
    opened_at: float
    closed_at: float | None
    last_seen_sequence: int


@dataclass(frozen=True)
class OutboundRow:
    """One outbox file and everything the pipeline learnt about it so far."""

    id: int
    route: str
    source_name: str
    source_path: Path
    work_path: Path | None
    size_bytes: int
    mtime_ns: int
    inode: int
    sha256: str
    state: OutboundState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    caption: str | None
    file_type: str | None
    upload_bytes: int | None
    # Up to 30,000 characters of base64: useless in a log line.
    preview: str | None = field(repr=False)
    width: int | None
    height: int | None
    relative_path: str | None
    conversation_id: str | None
    sequence: int | None
    final_path: Path | None
    created_at: float
    updated_at: float
    claimed_at: float | None
    published_at: float | None
    done_at: float | None
    # A page row: the original's row id and its page number (from 1). An original whose
    # pages are out has ``pages`` set and no ``document_id``; a single image has neither.
    document_id: int | None = None
    page: int | None = None
    pages: int | None = None

    @property
    def is_page(self) -> bool:
        """True for the row of one page of a document (it has no file of its own)."""
        return self.document_id is not None

    @property
    def has_pages(self) -> bool:
        """True for a document's original whose page rows carry its pages."""
        return self.document_id is None and self.pages is not None


@dataclass(frozen=True)
class InboundRow:
    """One file an agent sent, from the moment its event was seen until it is in the inbox."""

    id: int
    route: str
    conversation_id: str
    sequence: int
    relative_path: str
    file_type: str
    caption: str
    originator_id: str
    state: InboundState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    local_path: Path | None
    size_bytes: int | None
    created_at: float
    updated_at: float
    done_at: float | None


@dataclass(frozen=True)
class RouteSummary:
    """Everything ``syncd status`` prints for one route.

    The count mappings hold every state name, zero included, so a report has stable columns.
    """

    route: str
    conversation_id: str | None
    outbound_counts: Mapping[str, int]
    inbound_counts: Mapping[str, int]
    oldest_pending_created_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None

    def oldest_pending_age_seconds(self, now: float) -> float | None:
        """How long the oldest unfinished outbound file has waited at ``now``, if any."""
        if self.oldest_pending_created_at is None:
            return None
        return max(0.0, now - self.oldest_pending_created_at)


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def identity_from_record(record: Mapping[str, Any]) -> Identity:
    """Builds an ``Identity`` from a database record (a column → value mapping)."""
    return Identity(**{name: record[name] for name in Identity.__dataclass_fields__})


def conversation_from_record(record: Mapping[str, Any]) -> ConversationRow:
    """Builds a ``ConversationRow`` from a database record."""
    values = {name: record[name] for name in ConversationRow.__dataclass_fields__}
    values["state"] = ConversationState(values["state"])
    return ConversationRow(**values)


def outbound_from_record(record: Mapping[str, Any]) -> OutboundRow:
    """Builds an ``OutboundRow`` from a database record; paths become ``Path`` objects."""
    values = {name: record[name] for name in OutboundRow.__dataclass_fields__}
    values["state"] = OutboundState(values["state"])
    values["source_path"] = Path(values["source_path"])
    for name in ("work_path", "final_path"):
        values[name] = _optional_path(values[name])
    return OutboundRow(**values)


def inbound_from_record(record: Mapping[str, Any]) -> InboundRow:
    """Builds an ``InboundRow`` from a database record."""
    values = {name: record[name] for name in InboundRow.__dataclass_fields__}
    values["state"] = InboundState(values["state"])
    values["local_path"] = _optional_path(values["local_path"])
    return InboundRow(**values)
