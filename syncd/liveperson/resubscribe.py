"""What a freshly opened consumer socket must ask for before it is used.

Every socket — after a reconnect, or the second socket of a token renewal — subscribes the
tracked conversations' messaging events from the daemon's stored sequence, then the
consumer's OPEN conversations, and waits for that subscription's first (snapshot)
notification, so the OPEN conversations are known before any request is made on them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from syncd.errors import RequestRejectedError, RequestTimeoutError
from syncd.liveperson import protocol, request_bodies
from syncd.liveperson.conversation_tracker import ConversationTracker
from syncd.liveperson.session import MessagingConnection

logger = logging.getLogger(__name__)


def subscribe_all(
    connection: MessagingConnection,
    tracker: ConversationTracker,
    resume_sequence: Callable[[str], int],
    timeout_seconds: float,
) -> None:
    """Subscribe ``connection`` as described above; ``tracker`` learns the OPEN conversations.

    A conversation whose subscription LivePerson refuses for good is no longer followed (a
    warning is logged); conversations found closed are untracked. Raises the transient
    errors of the requests (RequestRejectedError for 429/5xx, RequestTimeoutError,
    ConnectionLostError) for the caller to retry with a new socket.
    """
    # What was OPEN before the drop may have been closed meanwhile: ask afresh.
    tracker.forget_open()
    for conversation_id in tracker.tracked():
        body = request_bodies.subscribe_messaging_events_body(
            conversation_id, resume_sequence(conversation_id)
        )
        try:
            connection.request(protocol.SUBSCRIBE_MESSAGING_EVENTS, body, timeout_seconds)
        except RequestRejectedError as error:
            if error.is_transient:
                raise
            # A final refusal must not keep the whole route offline.
            logger.warning("conversation %s is no longer followed: %s", conversation_id, error)
            tracker.untrack(conversation_id)
    seen = tracker.snapshot_count()
    body = request_bodies.subscribe_ex_conversations_body()
    connection.request(protocol.SUBSCRIBE_EX_CONVERSATIONS, body, timeout_seconds)
    if not tracker.wait_for_snapshot(seen, timeout_seconds):
        raise RequestTimeoutError("no OPEN conversations snapshot after subscribing")
    open_ids = set(tracker.open_conversation_ids())
    for conversation_id in tracker.tracked():
        if conversation_id not in open_ids:
            # Closed while we were away; its missed events were just re-subscribed.
            tracker.untrack(conversation_id)
