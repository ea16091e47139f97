"""The pure half of the state store: state names, row types and the checks on stored values.

Nothing here touches a database; ``state.store`` and its parts store these values in SQLite.
The legal moves between the states are ``state.transitions``, and how a database record
becomes one of these rows is ``state.decode``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from syncd.errors import StateError, UnsafeFileError
from syncd.rules.error_kinds import ErrorKind

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
    # What the last error was about; None when it was recorded before kinds were stored
    # (schema 7) or by a caller that could not tell.
    last_error_kind: ErrorKind | None = None

    def oldest_pending_age_seconds(self, now: float) -> float | None:
        """How long the oldest unfinished outbound file has waited at ``now``, if any."""
        if self.oldest_pending_created_at is None:
            return None
        return max(0.0, now - self.oldest_pending_created_at)
