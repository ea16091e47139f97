"""The exception hierarchy of syncd.

Every adapter translates the exceptions of the library it wraps into these types at its
boundary, so retry and failure decisions elsewhere depend only on this module. It imports
nothing from syncd.
"""

from __future__ import annotations


class SyncdError(Exception):
    """Base class of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """The configuration is unusable.

    ``problems`` holds one line per problem, each starting with its key path, so an operator
    sees every mistake at once instead of fixing them one run at a time.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TlsVerificationError(SyncdError):
    """The server's TLS certificate did not verify against the trusted CAs."""


class PermanentFileError(SyncdError):
    """A file that will never be sendable: it goes to the route's ``failed/`` folder.

    ``reason`` is the human sentence written into ``NAME.error.txt``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UnsupportedImageError(PermanentFileError):
    """The content is not a JPEG, PNG or GIF (whatever the file's name says)."""


class ImageTooLargeError(PermanentFileError):
    """The image's pixel count is over the decompression-bomb limit."""


class UnsafeFileError(PermanentFileError):
    """A symlink, FIFO, device, hard-linked or otherwise unsafe directory entry."""


class FolderChangedError(SyncdError):
    """A route folder is not (or no longer) the folder syncd opened: swapped for a symlink,
    removed or replaced. The route stops until a person looks; the message says what."""


class StillWritingError(SyncdError):
    """The file looks incomplete (for example a truncated JPEG); try again later."""


class TransientError(SyncdError):
    """Something outside syncd failed in a way that may succeed later.

    ``retry_after_seconds`` carries a server's hint (HTTP ``Retry-After``) when there is one.
    """

    def __init__(self, message: str, retry_after_seconds: float | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message)


class ConnectionLostError(TransientError):
    """The messaging WebSocket closed or could not be opened."""


class LinkDownError(ConnectionLostError):
    """The route's LivePerson link is down and reconnecting on its own schedule.

    Raised at once, without touching the network, to a request made while the link waits
    between reconnect attempts: the caller waits for the link to come back instead.
    """


class ClientClosedError(SyncdError):
    """The consumer client was closed; it makes no further requests."""


class RequestTimeoutError(TransientError):
    """A request over the WebSocket got no response in time."""


class TransientTransferError(TransientError):
    """An HTTP transfer (CSDS, IdP, storage) failed with 429, 5xx or a network error."""


class AuthenticationError(SyncdError):
    """The consumer token was refused (HTTP 401 at upgrade, close code 4401 or 4407)."""


class IdentityRejectedError(AuthenticationError):
    """LivePerson refuses the configured identity itself, not just one token.

    A signup on an account where signup is disabled, a brand key the connector does not
    accept, an unknown connector id. Only a configuration change helps: ``key`` names the
    configuration key to fix and ``step`` the identity step that failed.
    """

    def __init__(self, message: str, *, key: str, step: str) -> None:
        self.key = key
        self.step = step
        super().__init__(f"{message} (check {key})")


class IdentityGoneError(AuthenticationError):
    """The stored consumer identity can no longer be renewed: only a new consumer helps.

    For example an anonymous identity whose refresh window has passed, or a signup token
    LivePerson refuses twice. ``str(error)`` is the reason, logged and shown by ``status``.
    """


class UploadUrlExpiredError(SyncdError):
    """Swift answered 401 ``Temp URL invalid``: ask LivePerson for a new URL."""


class RequestRejectedError(SyncdError):
    """LivePerson answered a request with ``code >= 400``.

    ``code`` is the response code and ``body`` its body (often a short string). A 429 or a
    5xx is transient; any other 4xx is final for that request.
    """

    def __init__(self, request_type: str, code: int, body: object) -> None:
        self.request_type = request_type
        self.code = code
        self.body = body
        super().__init__(f"{request_type} rejected with code {code}: {body!r}")

    @property
    def is_transient(self) -> bool:
        """True when LivePerson's retry policy says the same request may be retried."""
        return self.code == 429 or self.code >= 500


class ProtocolError(SyncdError):
    """A frame or HTTP answer that does not have the documented shape."""


class UnsafeRemoteError(SyncdError):
    """The remote side asked for something syncd refuses on principle.

    For example a storage URL on a host other than the one CSDS gave.
    """


class StateError(SyncdError):
    """The state database cannot be opened or written (locked, full, corrupt)."""


class StateConfigError(StateError):
    """The state file is one a person must deal with: another program's database, or a
    schema newer than this syncd. Restarting cannot help (exit 78)."""


class StateCorruptError(StateError):
    """SQLite's ``quick_check`` finds the state database damaged.

    A runtime fault, not a configuration error: the daemon exits with a code systemd
    restarts, and ``syncd check`` and ``syncd status`` name it.
    """


class AlreadyRunningError(StateError):
    """Another syncd process holds the state database."""
