"""The emulator's state and the operations shared by its HTTP and WebSocket faces.

One ``EmulatorCore`` outlives restarts of the listening socket: conversations, stored
objects, site settings, fault knobs and the signing secrets all live here. It is used only
from the event loop thread. No aiohttp here.

Choices where LivePerson is silent (protocol.md §12), made here:

* Upload URL refusals (sharing disabled, size, type) are code 400 with a string body. The size
  limit is 3 MiB (``MAX_UPLOAD_FILE_BYTES``); ``fileSize`` may be an integer or a string of
  digits; ``fileType`` must be upper case JPG, JPEG, PNG or GIF.
* A download URL is only given for an object that exists (else code 404, string body), and for
  any object of the account, not only those of the consumer's conversations.
* Object names follow LivePerson's examples with a UTC timestamp:
  ``{originatorId}_uuid_{uuid4}_{dd-MM-yyyy_HH-mm-ss-SSS}.{TYPE}``.
* Upload and download URLs both live ``upload_url_ttl_seconds`` and are signed HMAC-SHA1 hex.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from syncd.emulator import tempurl
from syncd.emulator.agent_frames import AgentIds
from syncd.emulator.agent_hub import AgentHub, BookListeners
from syncd.emulator.faults import FaultKnobs, Faults
from syncd.emulator.hub import Hub
from syncd.emulator.identities import ConsumerRecord, IdentityService, load_public_key
from syncd.emulator.model import ConversationBook
from syncd.emulator.network import NetworkLog, Uplink
from syncd.emulator.objects import ObjectStore
from syncd.emulator.rejection import Rejection
from syncd.emulator.routing import RingTimes
from syncd.emulator.settings import MAX_UPLOAD_FILE_BYTES, SWIFT_ACCOUNT, EmulatorSettings
from syncd.emulator.site_settings import AdminLogins, SiteSettings
from syncd.emulator.tokens import SIGNUP_TOKEN_LIFETIME_SECONDS, ConsumerClaims, TokenSigner
from syncd.liveperson.protocol import UPLOAD_FILE_TYPES

# LivePerson does not document the lifetime of tokens from the connector flows (its sample
# authenticated token lived two years); the emulator picks an hour unless told otherwise.
CONNECTOR_TOKEN_LIFETIME_SECONDS = 3600


def _parse_file_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise Rejection(400, "'fileSize' must be a number of bytes")


class EmulatorCore:
    """Everything the emulator knows; ``clock`` returns unix seconds (injectable for tests)."""

    def __init__(self, settings: EmulatorSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.account = settings.account
        self._clock = clock
        # The one emulated agent who joins conversations and sends files: the console's, the
        # control API's and the brand WebSocket's (logged in as the emulator's admin).
        self.agent_id = str(uuid.uuid4())
        self.hub = Hub()
        self.agent_hub = AgentHub(
            AgentIds(settings.account, self.agent_id), self.now_ms, self.ring_times
        )
        self.book = ConversationBook(settings.account, BookListeners(self.hub, self.agent_hub))
        self.objects = ObjectStore()
        self.site_settings = SiteSettings(settings.file_sharing_enabled)
        self.admin = AdminLogins(settings.admin_user, settings.admin_password)
        self.faults = Faults(
            FaultKnobs(
                history_delay_ms=settings.history_delay_ms,
                rtt_ms=settings.rtt_ms,
                uplink_kbps=settings.uplink_kbps,
                ring_timeout_seconds=settings.ring_timeout_seconds,
                ring_pause_seconds=settings.ring_pause_seconds,
            )
        )
        self.uplink = Uplink()
        self.network_log = NetworkLog()
        self.tokens = TokenSigner(secrets.token_bytes(32), settings.account)
        public_key = load_public_key(settings.auth_public_key) if settings.auth_public_key else None
        self.identities = IdentityService(settings, public_key)
        # Swift's temp URL key; tests sign their own URLs with it.
        self.temp_url_key = secrets.token_hex(20)
        # "host:port" every Domain API lookup answers and the base URL; the runner sets them
        # once the listening port is known.
        self.host_port = ""
        self.base_url = ""

    def now_seconds(self) -> float:
        """Unix time in seconds."""
        return self._clock()

    def now_ms(self) -> int:
        """Unix time in milliseconds (LivePerson's timestamps)."""
        return int(self._clock() * 1000)

    def ring_times(self) -> RingTimes:
        """How long rings wait and pause now (the ``ring_*`` fault knobs), in milliseconds."""
        knobs = self.faults.knobs
        timeout = knobs.ring_timeout_seconds
        lifetime_ms = None if timeout is None else round(timeout * 1000)
        return RingTimes(lifetime_ms, round(knobs.ring_pause_seconds * 1000))

    # --- identity -------------------------------------------------------------------------

    def participant_id(self, consumer_id: str) -> str:
        """The ``originatorId`` the consumer's events carry: its JWT ``sub``, or with
        ``participant_ids = "distinct"`` a stable hash of it (as authenticated consumers get)."""
        if self.settings.participant_ids != "distinct":
            return consumer_id
        digest = hashlib.sha256(f"{self.account}:{consumer_id}".encode()).hexdigest()
        return digest

    def close_inactive(self) -> int:
        """Close (reason SYSTEM) every open conversation whose consumer was inactive for
        ``auto_close_seconds``; return how many were closed."""
        limit_seconds = self.settings.auto_close_seconds
        if limit_seconds is None:
            return 0
        now_ms = self.now_ms()
        closed = 0
        for conversation in self.book.all():
            idle_ms = now_ms - conversation.last_consumer_activity_ms
            if conversation.is_open and idle_ms >= limit_seconds * 1000:
                self.book.close(conversation, "SYSTEM", now_ms)
                closed += 1
        return closed

    def issue_token(
        self, issuer: str, lifetime_seconds: int | None = None, consumer_id: str | None = None
    ) -> str:
        """Return a consumer JWT; a new consumer id unless ``consumer_id`` is given.

        The lifetime is ``lifetime_seconds``, else the ``signup_token_ttl_seconds`` knob, else
        the ``token_lifetime_seconds`` setting, else LivePerson's ~13 years.
        """
        if lifetime_seconds is None:
            lifetime_seconds = self.faults.knobs.signup_token_ttl_seconds
        if lifetime_seconds is None:
            lifetime_seconds = self.settings.token_lifetime_seconds
        if lifetime_seconds is None:
            lifetime_seconds = SIGNUP_TOKEN_LIFETIME_SECONDS
        return self.tokens.issue(
            consumer_id or str(uuid.uuid4()), self.now_seconds(), lifetime_seconds, issuer
        )

    def issue_connector_token(
        self, record: ConsumerRecord, issuer: str, external_expires_at: float
    ) -> str:
        """A LivePerson token for a consumer of the connector flows: ``token_lifetime_seconds``
        (an hour by default), never past the external token's ``exp``."""
        lifetime = self.settings.token_lifetime_seconds or CONNECTOR_TOKEN_LIFETIME_SECONDS
        now = self.now_seconds()
        lifetime = min(lifetime, int(external_expires_at) - int(now))
        self.identities.counted(record.consumer_id)
        subject = record.token_subject or record.consumer_id
        return self.tokens.issue(subject, now, lifetime, issuer)

    def verify_token(self, token: str) -> ConsumerClaims:
        """Return the claims of a token, ``consumer_id`` being the consumer it stands for (the
        participant and ``originatorId``); raises TokenError/TokenExpiredError."""
        claims = self.tokens.verify(token, self.now_seconds())
        consumer_id = self.identities.consumer_for_token_subject(claims.consumer_id)
        anonymous = self.identities.is_anonymous(consumer_id)
        return dataclasses.replace(claims, consumer_id=consumer_id, anonymous=anonymous)

    # --- storage --------------------------------------------------------------------------

    def container_path(self) -> str:
        """``/v1/AUTH_async-images/{account}``: where every object of the account lives."""
        return f"/v1/{SWIFT_ACCOUNT}/{self.account}"

    def new_object_path(self, originator_id: str, file_type: str) -> str:
        """Return a fresh object path for a file of ``file_type`` from ``originator_id``."""
        moment = datetime.fromtimestamp(self.now_seconds(), tz=UTC)
        stamp = moment.strftime("%d-%m-%Y_%H-%M-%S-") + f"{moment.microsecond // 1000:03d}"
        return f"{self.container_path()}/{originator_id}_uuid_{uuid.uuid4()}_{stamp}.{file_type}"

    def signed_url(self, path: str, method: str) -> dict[str, Any]:
        """Return ``{"relativePath", "queryParams"}`` granting ``method`` on ``path``."""
        ttl_seconds = self.faults.knobs.upload_url_ttl_seconds
        if ttl_seconds is None:
            ttl_seconds = self.settings.upload_url_ttl_seconds
        expires = int(self.now_seconds()) + ttl_seconds
        signature = tempurl.sign(self.temp_url_key.encode(), method, expires, path)
        return {
            "relativePath": path,
            "queryParams": {"temp_url_sig": signature, "temp_url_expires": str(expires)},
        }

    def upload_url(self, originator_id: str, body: Any) -> dict[str, Any]:
        """Answer ``ms.GenerateURLForUploadFile``: a PUT URL for a new object.

        Raises Rejection(400) when file sharing is off or ``fileSize``/``fileType`` is bad.
        """
        if not self.site_settings.file_sharing_enabled:
            raise Rejection(400, "File sharing is disabled for this account")
        if not isinstance(body, Mapping):
            raise Rejection(400, "The body must be an object")
        file_size = _parse_file_size(body.get("fileSize"))
        file_type = body.get("fileType")
        if file_type not in UPLOAD_FILE_TYPES:
            raise Rejection(400, "'fileType' must be one of JPG, JPEG, PNG, GIF")
        if file_size <= 0 or file_size > MAX_UPLOAD_FILE_BYTES:
            raise Rejection(400, "'fileSize' must be between 1 byte and 3MB")
        answer = self.signed_url(self.new_object_path(originator_id, str(file_type)), "PUT")
        origin = self.faults.knobs.upload_url_origin
        if origin is not None:
            # The upload_url_origin knob: an answer that steers the PUT to another host.
            answer["relativePath"] = origin.rstrip("/") + answer["relativePath"]
        return answer

    def download_url(self, body: Any) -> dict[str, Any]:
        """Answer ``ms.GenerateURLForDownloadFile``: a GET URL for a stored object.

        Raises Rejection(400) for a malformed body and Rejection(404) for an unknown path.
        """
        relative_path = body.get("relativePath") if isinstance(body, Mapping) else None
        if not isinstance(relative_path, str) or not relative_path:
            raise Rejection(400, "'relativePath' is required")
        if not relative_path.startswith(self.container_path() + "/"):
            raise Rejection(404, "No such file")
        if not self.objects.exists(relative_path):
            raise Rejection(404, "No such file")
        return self.signed_url(relative_path, "GET")

    # --- inspection -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Return the state as served by ``GET /_emulator/state``."""
        conversations = [
            {
                "id": c.conversation_id,
                "consumerId": c.consumer_id,
                "state": c.state,
                "agentState": c.agent_state,
                "stage": c.stage,
                "skillId": c.skill_id,
                "closeReason": c.close_reason,
                "participants": [{"id": pid, "role": role} for pid, role in c.participants],
                "events": [
                    {
                        "sequence": e.sequence,
                        "originatorId": e.originator_id,
                        "role": e.role,
                        "serverTimestamp": e.server_timestamp_ms,
                        "event": dict(e.event),
                    }
                    for e in c.events
                ],
            }
            for c in self.book.all()
        ]
        return {
            "conversations": conversations,
            "objects": self.objects.snapshot(),
            "consumers": [record.as_dict() for record in self.identities.consumers.values()],
            "identityLog": list(self.identities.log),
        }
