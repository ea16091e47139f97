"""Settings of the LivePerson emulator and the limits it enforces.

``EmulatorSettings`` is what tests, the demo and ``syncd emulator`` pass to
``syncd.emulator.server.start_emulator``. The constants are the emulator's reading of
LivePerson's documented limits; where LivePerson is vague the choice is written next to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# LivePerson says "Each file can be up to 3MB". We read MB as MiB (3 * 1024 * 1024 bytes), the
# more lenient reading, so the daemon's own 3,000,000-byte limit is always accepted.
MAX_UPLOAD_FILE_BYTES = 3 * 1024 * 1024

# "the preview must be under 30KB": a preview string of 30,000 characters or more is refused.
MAX_PREVIEW_CHARACTERS = 30_000

# The largest object the Swift store accepts in one PUT (LivePerson documents 5 MB for agent
# files); a bigger body gets 413 like Swift's own size limit.
MAX_OBJECT_BYTES = 5 * 1024 * 1024

AGENT_ACCEPT_CHOICES = ("auto", "manual")
PARTICIPANT_ID_CHOICES = ("same", "distinct")

# Every service name the emulator's Domain API knows; each resolves to the emulator itself.
SERVICE_NAMES = (
    "idp",
    "asyncMessagingEnt",
    "swift",
    "agentVep",
    "accountConfigReadWrite",
    "accountConfigReadOnly",
)

# Swift account and container layout of LivePerson's file storage:
# /v1/AUTH_async-images/{LivePerson account}/{object}
SWIFT_ACCOUNT = "AUTH_async-images"


@dataclass(frozen=True)
class EmulatorSettings:
    """How to run one emulator.

    ``port`` 0 picks a free port. ``tls_cert``/``tls_key`` (PEM files) switch every service to
    HTTPS/WSS on the same port. ``upload_url_ttl_seconds`` is the lifetime of upload and download
    temp URLs. ``file_sharing_enabled`` is the initial value of the site setting
    ``messaging.file.sharing.enabled``. A consumer socket that sends nothing (no frame, no ping)
    for ``idle_timeout_seconds`` is dropped; one that connected without a token and sends no
    ``InitConnection`` within ``init_connection_timeout_seconds`` is closed with 4401.
    ``control_token``, when set, is required by the control API and the console
    (``guard.py``); without it they answer only to a loopback ``Host``.

    Identity: ``auth_public_key`` (PEM) enables the authenticated flow, verifying external
    JWTs (and their ``iss`` when ``auth_issuer`` is set); ``unauth_connector_id`` enables the
    unauthenticated flow, whose external tokens live ``external_token_lifetime_seconds`` and
    can be refreshed for ``unauth_refresh_window_seconds`` after they expire. LivePerson
    tokens live ``token_lifetime_seconds`` (None: about 13 years for signup tokens, an hour
    for the connector flows), never longer than the external token they came from.
    ``signup_disabled`` refuses ``/signup`` as production accounts do.
    ``unauth_refresh_only_expired`` (the default) refuses to refresh an anonymous token that
    has not expired yet: LivePerson documents refreshing "once the external token is expired"
    and promises nothing earlier, so the emulator is no kinder; False allows early refreshes.
    ``agent_accept`` is ``auto`` (the agent accepts each conversation as it is requested) or
    ``manual`` (it waits for Accept on the console or the control API). ``auto_close_seconds``
    closes conversations whose consumer was inactive that long (None: never).
    ``participant_ids`` ``distinct`` makes the consumer's ``originatorId`` differ from its
    JWT ``sub`` (as for authenticated consumers); ``same`` keeps them equal.
    ``history_delay_ms``, ``rtt_ms`` and ``uplink_kbps`` are the start-up values of those
    fault knobs, as are ``ring_timeout_seconds`` (a ring of the agent API not answered that
    long turns EXPIRED; None: never; 72 s as in LivePerson's example rings) and
    ``ring_pause_seconds`` (how long a conversation whose ring expired or was rejected
    waits before it rings again; LivePerson does not say).
    """

    host: str = "127.0.0.1"
    port: int = 0
    account: str = "12345678"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    upload_url_ttl_seconds: int = 60
    admin_user: str = "admin"
    admin_password: str = field(default="admin-password", repr=False)
    file_sharing_enabled: bool = True
    idle_timeout_seconds: float = 60.0
    init_connection_timeout_seconds: float = 5.0
    control_token: str | None = field(default=None, repr=False)
    auth_public_key: Path | None = None
    auth_issuer: str | None = None
    unauth_connector_id: str | None = None
    unauth_refresh_window_seconds: float = 730 * 3600.0
    token_lifetime_seconds: int | None = None
    external_token_lifetime_seconds: int = 600
    signup_disabled: bool = False
    unauth_refresh_only_expired: bool = True
    agent_accept: str = "auto"
    auto_close_seconds: float | None = None
    participant_ids: str = "same"
    history_delay_ms: float = 0.0
    rtt_ms: float = 0.0
    uplink_kbps: float | None = None
    ring_timeout_seconds: float | None = 72.0
    ring_pause_seconds: float = 10.0

    @property
    def uses_tls(self) -> bool:
        """True when both a certificate and a key are configured."""
        return self.tls_cert is not None and self.tls_key is not None
