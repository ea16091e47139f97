"""The numbered schema migrations of the state database, as frozen SQL text.

``state.py`` applies them in order, each in its own transaction, and records every applied
version in the ``schema_version`` table. A migration is never edited once released: a
database in the field was built by exactly that text. To change the schema, append a new
migration. The text stays literal (state names included) rather than being generated from
``state.model``, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass

# PRAGMA application_id marks the file as ours ("sYnc"), so syncd refuses to write its
# tables into some other program's database after a configuration typo.
APPLICATION_ID = 0x73596E63


@dataclass(frozen=True)
class Migration:
    """One schema step: ``version`` (1, 2, …), a one-line ``summary`` and its statements."""

    version: int
    summary: str
    statements: tuple[str, ...]


_CONVERSATIONS = Migration(
    version=1,
    summary="consumer identities, conversations and per-route status",
    statements=(
        f"PRAGMA application_id = {APPLICATION_ID}",
        """CREATE TABLE identities (
            route TEXT PRIMARY KEY NOT NULL,
            consumer_id TEXT NOT NULL,
            jwt TEXT NOT NULL,
            created_at REAL NOT NULL
        ) STRICT""",
        """CREATE TABLE conversations (
            conversation_id TEXT PRIMARY KEY NOT NULL,
            route TEXT NOT NULL,
            skill_id TEXT,
            state TEXT NOT NULL CHECK (state IN ('OPEN', 'CLOSE')),
            opened_at REAL NOT NULL,
            closed_at REAL,
            last_seen_sequence INTEGER NOT NULL DEFAULT -1
        ) STRICT""",
        "CREATE INDEX conversations_by_route_state ON conversations (route, state)",
        """CREATE TABLE route_status (
            route TEXT PRIMARY KEY NOT NULL,
            last_success_at REAL,
            last_error TEXT,
            last_error_at REAL
        ) STRICT""",
    ),
)

# AUTOINCREMENT because row ids end up in work file names: an id must never be handed out
# again, even after old rows are pruned, or a leftover work file could match a new row.
_OUTBOUND = Migration(
    version=2,
    summary="outbound journal, one row per outbox file",
    statements=(
        """CREATE TABLE outbound (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            route TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_path TEXT NOT NULL,
            work_path TEXT,
            size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('detected', 'claimed', 'prepared', 'uploaded',
                'publishing', 'published', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            caption TEXT,
            file_type TEXT,
            upload_bytes INTEGER,
            preview TEXT CHECK (length(preview) <= 30000),
            width INTEGER,
            height INTEGER,
            relative_path TEXT,
            conversation_id TEXT REFERENCES conversations (conversation_id),
            sequence INTEGER,
            final_path TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            claimed_at REAL,
            published_at REAL,
            done_at REAL
        ) STRICT""",
        # Serves the sender's due queue, the per-route counts and the oldest pending file.
        """CREATE INDEX outbound_by_route_state
            ON outbound (route, state, next_attempt_at)""",
        # Serves the same questions asked across all routes.
        "CREATE INDEX outbound_by_state ON outbound (state)",
        """CREATE INDEX outbound_by_work_path ON outbound (work_path)
            WHERE work_path IS NOT NULL""",
    ),
)

_INBOUND = Migration(
    version=3,
    summary="inbound files, one row per hosted file an agent sent",
    statements=(
        """CREATE TABLE inbound (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            route TEXT NOT NULL,
            conversation_id TEXT NOT NULL REFERENCES conversations (conversation_id),
            sequence INTEGER NOT NULL CHECK (sequence >= 0),
            relative_path TEXT NOT NULL,
            file_type TEXT NOT NULL,
            caption TEXT NOT NULL,
            originator_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
            next_attempt_at REAL NOT NULL,
            last_error TEXT,
            local_path TEXT,
            size_bytes INTEGER,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            done_at REAL,
            -- A replayed event must never become a second download.
            UNIQUE (conversation_id, sequence)
        ) STRICT""",
        """CREATE INDEX inbound_by_route_state
            ON inbound (route, state, next_attempt_at)""",
        # Serves resume_sequence: the first pending file of a conversation.
        """CREATE INDEX inbound_by_conversation_state
            ON inbound (conversation_id, state, sequence)""",
    ),
)

# Written by the daemon when a route's LivePerson connection changes state (connected,
# connecting, …), so `syncd status`, a separate process, can show it. Added columns keep
# every existing row; they stay NULL until the daemon first observes the route.
_CONNECTION_STATE = Migration(
    version=4,
    summary="per-route connection state, recorded by the daemon when it changes",
    statements=(
        "ALTER TABLE route_status ADD COLUMN connection_state TEXT",
        "ALTER TABLE route_status ADD COLUMN connection_changed_at REAL",
    ),
)

# The production identity flows: which flow made the stored identity (a config change to
# another flow makes a new consumer), the anonymous flow's external token and refresh
# deadline, and why the last consumer was replaced (shown by `syncd status`). Existing rows
# were all made by signup.
_IDENTITY_FLOWS = Migration(
    version=5,
    summary="identity flow, external token, refresh deadline, replacement reason",
    statements=(
        "ALTER TABLE identities ADD COLUMN flow TEXT NOT NULL DEFAULT 'signup'",
        "ALTER TABLE identities ADD COLUMN external_token TEXT",
        "ALTER TABLE identities ADD COLUMN refresh_deadline REAL",
        "ALTER TABLE identities ADD COLUMN replaced_reason TEXT",
        "ALTER TABLE identities ADD COLUMN replaced_at REAL",
    ),
)

# A document (a PDF, a multi-page TIFF) is one row for the original plus one row per page.
# A page row has ``document_id`` (the original's row), ``page`` (from 1) and ``pages``; it
# goes prepared → … → done like any file but has no file of its own in the outbox. The
# original's row records ``pages`` and becomes done only when every page row is. The sender
# orders rows by ``coalesce(document_id, id)``, then pages before their document, then page.
_DOCUMENT_PAGES = Migration(
    version=6,
    summary="document pages: page rows of a multi-page original",
    statements=(
        "ALTER TABLE outbound ADD COLUMN document_id INTEGER REFERENCES outbound (id)",
        "ALTER TABLE outbound ADD COLUMN page INTEGER CHECK (page >= 1)",
        "ALTER TABLE outbound ADD COLUMN pages INTEGER CHECK (pages >= 1)",
        """CREATE UNIQUE INDEX outbound_pages_of_document ON outbound (document_id, page)
            WHERE document_id IS NOT NULL""",
    ),
)

# The kind of a route's last error (``rules.error_kinds.ErrorKind``: account, permission,
# storage, file, inbound, liveperson, other), stored by the code that recorded the error so
# the metrics need not guess it from the wording. Rows written before stay NULL: readers
# fall back to the old guess for them.
_LAST_ERROR_KIND = Migration(
    version=7,
    summary="the kind of each route's last error",
    statements=("ALTER TABLE route_status ADD COLUMN last_error_kind TEXT",),
)

MIGRATIONS: tuple[Migration, ...] = (
    _CONVERSATIONS,
    _OUTBOUND,
    _INBOUND,
    _CONNECTION_STATE,
    _IDENTITY_FLOWS,
    _DOCUMENT_PAGES,
    _LAST_ERROR_KIND,
)
