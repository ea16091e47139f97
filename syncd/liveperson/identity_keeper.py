"""One route's consumer identity over time: load it, renew it, replace it only when it is gone.

``IdentityKeeper`` sits between ``ConsumerLink`` (which only wants a usable token) and an
``IdentityFlow`` (which talks to LivePerson's IdP). Its rules:

* a stored identity of the configured flow is used as is; one of another flow (the
  configuration changed) is replaced, with a warning;
* a token is renewed before it expires (``renew_due_at``) and whenever LivePerson refused
  it, by the flow's ``renew`` — the same consumer, so the same conversation and cursor;
* a renewal that brought no later expiry (an IdP that refreshes only expired tokens) is due
  again when that token expires (at least a second later), not at once: renewing sooner
  would only repeat it;
* one renewal at a time: the lock is held through the IdP calls, and a caller that names
  the token it saw refused gets the identity another caller already renewed;
* a new consumer is made only when the flow says the old one is gone for good
  (IdentityGoneError). That is logged at WARNING with the reason and reported through
  ``on_replaced`` so ``syncd status`` can show it.

``TokenRefusals`` decides when a token LivePerson closed a socket for is renewed at all (a
signup token first gets one more try).

Every identity obtained is saved before it is used, so a crash right after a renewal
restarts with the renewed token, and a crash before it with the old one (still the same
consumer: the flows renew from what is stored).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from syncd.crashpoints import crash_point
from syncd.errors import IdentityGoneError
from syncd.liveperson.identity import ConsumerIdentity, jwt_expires_at, renew_due_at
from syncd.liveperson.identity_flows import IdentityFlow
from syncd.liveperson.retrying import AttemptStreak, RetryPolicy, retry_transient

logger = logging.getLogger(__name__)

# The least time between two renewals that brought no later expiry: without it a clock
# ahead of LivePerson's would renew (and open a socket) in a loop until LivePerson's end.
UNEXTENDED_RENEWAL_SPACING_SECONDS = 1.0


@dataclass(frozen=True)
class IdentityStore:
    """Where a route keeps its consumer identity (the daemon backs it with SQLite).

    ``replaced`` is told the reason whenever a stored consumer had to be replaced by a new one.
    """

    load: Callable[[], ConsumerIdentity | None]
    save: Callable[[ConsumerIdentity], None]
    replaced: Callable[[str], None] = lambda _reason: None


class IdentityKeeper:
    """Hands out the route's current identity; thread-safe."""

    def __init__(
        self,
        flow: IdentityFlow,
        store: IdentityStore,
        retry_policy: RetryPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._flow = flow
        self._store = store
        self._retry_policy = retry_policy
        self._clock = clock
        self._lock = threading.Lock()
        self._identity: ConsumerIdentity | None = None
        self._due_at: float | None = None
        self.renewals = 0
        # Failed attempts count on across the supervisor's reconnects (an outage's log lines
        # say "attempt 9", not "attempt 1 of 4" again), until one succeeds.
        self._obtain_attempts = AttemptStreak()
        self._renew_attempts = AttemptStreak()

    @property
    def flow(self) -> IdentityFlow:
        """The configured flow."""
        return self._flow

    @property
    def consumer_id(self) -> str | None:
        """The consumer id of the identity in use, None before the first one."""
        identity = self._identity
        return identity.consumer_id if identity else None

    def seconds_until_renewal(self) -> float | None:
        """Seconds until the token in use should be renewed (0 when overdue); None: never."""
        due_at = self._due_at
        return None if due_at is None else max(0.0, due_at - self._clock())

    def current(self) -> ConsumerIdentity:
        """The identity to connect with: the stored one, renewed when due, or a new one.

        Raises IdentityRejectedError (the configuration must change), the transient errors of
        the flow when its retries run out, and ProtocolError for malformed IdP answers.
        """
        with self._lock:
            identity = self._identity or self._store.load()
            if identity is None:
                return self._replace(None, None)
            if identity.flow != self._flow.name:
                reason = (
                    f"the configured identity changed from {identity.flow} to {self._flow.name}"
                )
                return self._replace(identity, reason)
            if identity is not self._identity:
                # Loaded from the store; an identity in use keeps its due time (which
                # ``_postpone_if_not_extended`` may have moved).
                self._adopt(identity)
            if self.seconds_until_renewal() == 0.0:
                return self._renew(identity)
            return identity

    def renew(self, refused: ConsumerIdentity | None = None) -> ConsumerIdentity:
        """Renew the identity in use (LivePerson refused it, or it is due) and return it.

        With ``refused``, an identity another thread already replaced is not renewed again.
        Raises like ``current``.
        """
        with self._lock:
            identity = self._identity or self._store.load()
            if identity is None:
                return self._replace(None, None)
            if refused is not None and identity.jwt != refused.jwt:
                return identity
            return self._renew(identity)

    # --- internals (lock held) --------------------------------------------------------------

    def _renew(self, identity: ConsumerIdentity) -> ConsumerIdentity:
        try:
            renewed = retry_transient(
                self._retry_policy, "renew the consumer token", streak=self._renew_attempts
            )(self._flow.renew, identity)
        except IdentityGoneError as gone:
            return self._replace(identity, str(gone))
        # Crash tests: killed with LivePerson's answer in hand but not yet stored.
        crash_point("token-renewal-answered")
        self._store.save(renewed)
        self._adopt(renewed)
        self._postpone_if_not_extended(identity, renewed)
        self.renewals += 1
        if renewed.consumer_id != identity.consumer_id:
            # LivePerson answered a renewal with someone else: the old identity is gone.
            reason = f"LivePerson renewed consumer {identity.consumer_id} as another consumer"
            self._report_replaced(identity, renewed, reason)
        else:
            logger.info(
                "renewed the token of LivePerson consumer %s (%s)",
                renewed.consumer_id,
                self._flow.name,
            )
        return renewed

    def _replace(self, previous: ConsumerIdentity | None, reason: str | None) -> ConsumerIdentity:
        identity = retry_transient(
            self._retry_policy, "obtain a consumer token", streak=self._obtain_attempts
        )(self._flow.new_identity)
        self._store.save(identity)
        self._adopt(identity)
        if previous is None:
            logger.info("LivePerson consumer %s (%s)", identity.consumer_id, self._flow.name)
        elif reason is not None:
            self._report_replaced(previous, identity, reason)
        return identity

    def _report_replaced(
        self, previous: ConsumerIdentity, identity: ConsumerIdentity, reason: str
    ) -> None:
        if previous.consumer_id == identity.consumer_id:
            logger.info("%s; still LivePerson consumer %s", reason, identity.consumer_id)
            return
        logger.warning(
            "%s; %s NEW consumer %s instead of %s (conversations of the previous consumer are "
            "no longer visible to this route)",
            reason,
            "signed up as" if self._flow.name == "signup" else "LivePerson gave a",
            identity.consumer_id,
            previous.consumer_id,
        )
        self._store.replaced(reason)

    def _postpone_if_not_extended(
        self, previous: ConsumerIdentity, renewed: ConsumerIdentity
    ) -> None:
        """Make a renewal that brought no later expiry due when its token expires, and not
        sooner than ``UNEXTENDED_RENEWAL_SPACING_SECONDS`` from now.

        An IdP that refreshes only expired tokens answers an early renewal with a token that
        ends when the old one did. Its last quarter of life starts at once, so without this
        the link would renew (and open a socket) over and over until the token expires.
        """
        previous_expiry = jwt_expires_at(previous.jwt)
        renewed_expiry = jwt_expires_at(renewed.jwt)
        if previous_expiry is None or renewed_expiry is None or renewed_expiry > previous_expiry:
            return
        # A token LivePerson still took although it expired by syncd's clock (which runs
        # ahead) must not make the next renewal due at once either.
        not_before = max(renewed_expiry, self._clock() + UNEXTENDED_RENEWAL_SPACING_SECONDS)
        if self._due_at is not None and self._due_at < not_before:
            self._due_at = not_before

    def _adopt(self, identity: ConsumerIdentity) -> None:
        self._identity = identity
        self._due_at = renew_due_at(identity.jwt, self._clock())


class TokenRefusals:
    """When a token LivePerson refused (a 4401/4407 close) must be renewed; one per link.

    A token of a renewable flow is renewed at the first refusal. A signup token cannot be
    renewed, only replaced by a new consumer, and LivePerson is known to send these codes
    for other troubles: its first refusal gets one reconnect with the same token, and only
    a second one, before a connection with it was subscribed again, means a new consumer.
    ``refused``: the next connect must renew first.
    """

    def __init__(self) -> None:
        self.refused = False
        # The signup consumer whose token was closed with 4401/4407 once and gets one more try.
        self._suspect: str | None = None

    def closed(self, consumer_id: str | None, renewable: bool) -> bool:
        """Record that a connection of ``consumer_id`` was closed for its token; True when
        this is a signup token's first refusal (reconnect with it once more)."""
        if not renewable and consumer_id is not None and self._suspect != consumer_id:
            self._suspect = consumer_id
            return True
        self.refused = True
        return False

    def subscribed(self) -> None:
        """A connection with the token in use was subscribed: a later refusal gets its one
        retry again."""
        self._suspect = None
