"""The parsed configuration: frozen dataclasses, their defaults and the schema of known keys.

Every other module receives these objects, never the raw TOML, so a value is checked once, at
load time, and carries its unit in its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from syncd.rules import FAILED_DIR_NAME, SENT_DIR_NAME, WORK_DIR_NAME

AfterSend = Literal["archive", "delete"]
WatchMode = Literal["auto", "events", "poll"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]
IdentityMode = Literal["authenticated", "unauthenticated", "signup"]

AFTER_SEND_CHOICES: tuple[AfterSend, ...] = ("archive", "delete")
WATCH_CHOICES: tuple[WatchMode, ...] = ("auto", "events", "poll")
LOG_LEVEL_CHOICES: tuple[LogLevel, ...] = ("debug", "info", "warning", "error", "critical")
IDENTITY_CHOICES: tuple[IdentityMode, ...] = ("authenticated", "unauthenticated", "signup")

DEFAULT_DOMAIN_API = "https://api.liveperson.net"
DEFAULT_CAPTION = "{filename}"
# The caption of each page of a document of more than one page (PDF, multi-page TIFF).
DEFAULT_DOCUMENT_CAPTION = "{filename} ({page}/{pages})"
DEFAULT_MAX_PAGES = 100
# Files of a route whose upload may run ahead of its ordered publishes (1: one at a time).
DEFAULT_UPLOAD_WINDOW_FILES = 4
MAX_UPLOAD_WINDOW_FILES = 16


@dataclass(frozen=True)
class LivePersonConfig:
    """``[liveperson]``: which account, where its Domain API (CSDS) is, network timings, and
    the consumer identity flow (``identity``) with its keys (see ``config/identity.py``)."""

    account: str
    domain_api: str = DEFAULT_DOMAIN_API
    ca_file: Path | None = None
    request_timeout_seconds: float = 30.0
    keepalive_seconds: float = 30.0
    identity: IdentityMode = "signup"
    private_key_file: Path | None = None
    issuer: str | None = None
    connector_id: str | None = None


@dataclass(frozen=True)
class StateConfig:
    """``[state]``: the SQLite file that records every step (an absolute path)."""

    database: Path


@dataclass(frozen=True)
class DaemonConfig:
    """``[daemon]``: process-wide settings."""

    prepare_workers: int = 2
    log_level: LogLevel = "info"


@dataclass(frozen=True)
class AdminConfig:
    """``[admin]``: the account admin for ``syncd enable-file-sharing`` (never a password)."""

    username: str | None = None


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: where to serve Prometheus metrics (``host``, ``port``); off when None."""

    host: str | None = None
    port: int | None = None

    @property
    def enabled(self) -> bool:
        """True when ``listen`` was set."""
        return self.host is not None and self.port is not None


@dataclass(frozen=True)
class RouteConfig:
    """One ``[[route]]``: an outbox folder shared into one conversation, and its inbox.

    ``outbox`` and ``inbox`` are absolute; they must exist unless ``create_folders`` is set
    (a typo'd path must not silently become a new, unwatched-by-anyone folder). The folders
    syncd keeps inside the outbox (``work_dir``, ``sent_dir``, ``failed_dir``) are derived,
    not configured, and always made by syncd. ``upload_window_files`` is how many of the
    route's next files may be uploaded or uploading at once, the one being published
    included (1: each file is uploaded only when it is the next to publish).
    """

    name: str
    outbox: Path
    inbox: Path
    skill_id: str | None = None
    caption: str = DEFAULT_CAPTION
    after_send: AfterSend = "archive"
    watch: WatchMode = "auto"
    settle_seconds: float = 2.0
    poll_seconds: float = 5.0
    rescan_seconds: float = 300.0
    max_download_bytes: int = 5_242_880
    send_accept_receipts: bool = True
    consumer_id: str | None = None
    display_name: str | None = None
    create_folders: bool = False
    save_agent_text: bool = True
    close_after_idle_minutes: float | None = None
    document_caption: str = DEFAULT_DOCUMENT_CAPTION
    max_pages: int = DEFAULT_MAX_PAGES
    upload_window_files: int = DEFAULT_UPLOAD_WINDOW_FILES

    @property
    def work_dir(self) -> Path:
        """Where claimed files wait while they are prepared and sent (same filesystem)."""
        return self.outbox / WORK_DIR_NAME

    @property
    def sent_dir(self) -> Path:
        """Where originals are archived after a successful send (``after_send = "archive"``)."""
        return self.outbox / SENT_DIR_NAME

    @property
    def failed_dir(self) -> Path:
        """Where files that can never be sent go, each with a ``NAME.error.txt``."""
        return self.outbox / FAILED_DIR_NAME


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``source_path`` is the file it came from, if any."""

    liveperson: LivePersonConfig
    state: StateConfig
    daemon: DaemonConfig
    admin: AdminConfig
    routes: tuple[RouteConfig, ...]
    source_path: Path | None = None
    metrics: MetricsConfig = MetricsConfig()

    def route(self, name: str) -> RouteConfig:
        """Return the route called ``name``; raise KeyError when there is none."""
        for route in self.routes:
            if route.name == name:
                return route
        raise KeyError(name)


# The keys each table accepts, in the order the example file documents them. The parser
# refuses every other key, and a test checks that config.example.toml shows all of these.
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "liveperson": (
        "account",
        "domain_api",
        "ca_file",
        "request_timeout_seconds",
        "keepalive_seconds",
        "identity",
        "private_key_file",
        "issuer",
        "connector_id",
    ),
    "state": ("database",),
    "daemon": ("prepare_workers", "log_level"),
    "admin": ("username",),
    "metrics": ("listen",),
    "route": (
        "name",
        "outbox",
        "inbox",
        "skill_id",
        "caption",
        "after_send",
        "watch",
        "settle_seconds",
        "poll_seconds",
        "rescan_seconds",
        "max_download_bytes",
        "send_accept_receipts",
        "consumer_id",
        "display_name",
        "create_folders",
        "save_agent_text",
        "close_after_idle_minutes",
        "document_caption",
        "max_pages",
        "upload_window_files",
    ),
}

KNOWN_KEYS: frozenset[str] = frozenset(
    f"{section}.{key}" for section, keys in SECTION_KEYS.items() for key in keys
)
