"""Sans-IO models and parsers of the notifications the consumer receives.

``ms.MessagingEventNotification`` changes become ``MessagingEvent`` values and
``cqm.ExConversationChangeNotification`` changes become ``ConversationChange`` values.
Bodies go in as parsed JSON; odd changes are skipped rather than failing the whole frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.liveperson.limits import PeerLimitError, checked_sequence
from syncd.liveperson.protocol import CONSUMER_ROLE, as_list, require_mapping


@dataclass(frozen=True)
class HostedFile:
    """The ``message`` of a ``hosted/file`` ContentEvent."""

    relative_path: str
    file_type: str
    caption: str = ""
    preview: str | None = None


@dataclass(frozen=True)
class MessagingEvent:
    """One change of an ``ms.MessagingEventNotification``.

    ``event`` is the raw event object; ``hosted_file`` is set for ``hosted/file`` content and
    ``text`` for ``text/plain`` content. ``sequence`` is None for events that do not consume a
    sequence (chat states).
    """

    dialog_id: str
    sequence: int | None
    originator_id: str
    role: str | None
    server_timestamp_ms: int | None
    event_type: str
    content_type: str | None
    event: Mapping[str, Any]
    hosted_file: HostedFile | None = None
    text: str | None = None

    def is_from_consumer(self, consumer_id: str | None) -> bool:
        """True for an event the route's consumer published.

        ``originatorId`` equals the token's ``sub`` for signup consumers; for authenticated
        ones LivePerson does not document it (its tokens carry a hashed ``sub``), and its
        own samples recognise the consumer by ``originatorMetadata.role == "CONSUMER"``. A
        conversation has one consumer, so either sign is enough.
        """
        return (consumer_id is not None and self.originator_id == consumer_id) or (
            self.role == CONSUMER_ROLE
        )


@dataclass(frozen=True)
class ConversationChange:
    """One change of a ``cqm.ExConversationChangeNotification``.

    ``change_type`` is ``UPSERT`` or ``DELETE``; ``state`` and ``stage`` are ``OPEN``/``CLOSE``
    (None when absent, as in DELETE changes). ``participants`` maps participant id → role.
    """

    change_type: str
    conversation_id: str
    state: str | None
    stage: str | None
    skill_id: str | None
    participants: Mapping[str, str] = field(default_factory=dict)
    # ``conversationDetails.startTs`` (ms), None when absent.
    start_ms: int | None = None
    # ``lastContentEventNotification.sequence``: the sequence of the conversation's last
    # content event when the metadata carries it (LivePerson may leave it out), else None.
    last_content_sequence: int | None = None

    @property
    def is_open(self) -> bool:
        """True when the conversation is present and neither its state nor stage is CLOSE."""
        if self.change_type == "DELETE":
            return False
        return self.state != "CLOSE" and self.stage != "CLOSE"


def _parse_hosted_file(message: Any) -> HostedFile | None:
    if not isinstance(message, Mapping):
        return None
    relative_path = message.get("relativePath")
    if not isinstance(relative_path, str) or not relative_path:
        return None
    caption = message.get("caption")
    preview = message.get("preview")
    return HostedFile(
        relative_path=relative_path,
        file_type=str(message.get("fileType", "")),
        caption=caption if isinstance(caption, str) else "",
        preview=preview if isinstance(preview, str) else None,
    )


def parse_messaging_events(body: Any) -> list[MessagingEvent]:
    """Parse the changes of an ``ms.MessagingEventNotification`` body.

    Changes without the required fields are skipped rather than failing the whole frame,
    because one odd event must not stop the others from being seen. So are changes whose
    ``sequence`` is not a sane one (``true``, ≥ 2^31, negative): they are parsed by
    ``parse_messaging_events_checked``, which also reports them.
    """
    return parse_messaging_events_checked(body)[0]


def parse_messaging_events_checked(body: Any) -> tuple[list[MessagingEvent], list[str]]:
    """Parse like ``parse_messaging_events``; also return why each refused change was refused.

    The refusals are peer violations (a sequence out of range), meant for one log line.
    """
    events: list[MessagingEvent] = []
    refused: list[str] = []
    for change in as_list(require_mapping(body, "notification body").get("changes")):
        if not isinstance(change, Mapping):
            continue
        event = change.get("event")
        dialog_id = change.get("dialogId") or change.get("conversationId")
        if not isinstance(event, Mapping) or not isinstance(dialog_id, str):
            continue
        try:
            sequence = checked_sequence(change.get("sequence"))
        except PeerLimitError as error:
            refused.append(f"conversation {dialog_id[:80]!r}: {error}")
            continue
        metadata = change.get("originatorMetadata")
        role = metadata.get("role") if isinstance(metadata, Mapping) else None
        content_type = event.get("contentType")
        timestamp = change.get("serverTimestamp")
        events.append(
            MessagingEvent(
                dialog_id=dialog_id,
                sequence=sequence,
                originator_id=str(change.get("originatorId", "")),
                role=role if isinstance(role, str) else None,
                server_timestamp_ms=timestamp if isinstance(timestamp, int) else None,
                event_type=str(event.get("type", "")),
                content_type=content_type if isinstance(content_type, str) else None,
                event=event,
                hosted_file=(
                    _parse_hosted_file(event.get("message"))
                    if content_type == "hosted/file"
                    else None
                ),
                text=(
                    event["message"]
                    if content_type == "text/plain" and isinstance(event.get("message"), str)
                    else None
                ),
            )
        )
    return events, refused


def _participants(details: Mapping[str, Any]) -> dict[str, str]:
    participants: dict[str, str] = {}
    for participant in as_list(details.get("participants")):
        if isinstance(participant, Mapping) and isinstance(participant.get("id"), str):
            participants[participant["id"]] = str(participant.get("role", ""))
    # The legacy v2 form maps role → [ids]; accept it too.
    legacy = details.get("participantsPId")
    if isinstance(legacy, Mapping):
        for role, ids in legacy.items():
            for participant_id in as_list(ids):
                if isinstance(participant_id, str):
                    participants.setdefault(participant_id, str(role))
    return participants


def parse_conversation_changes(body: Any) -> list[ConversationChange]:
    """Parse the changes of a ``cqm.ExConversationChangeNotification`` body."""
    changes: list[ConversationChange] = []
    for change in as_list(require_mapping(body, "notification body").get("changes")):
        if not isinstance(change, Mapping):
            continue
        result = change.get("result")
        if not isinstance(result, Mapping) or not isinstance(result.get("convId"), str):
            continue
        details = result.get("conversationDetails")
        details = details if isinstance(details, Mapping) else {}
        state = details.get("state")
        stage = details.get("stage")
        skill_id = details.get("skillId")
        start_ms = details.get("startTs")
        last_content = result.get("lastContentEventNotification")
        last_sequence = last_content.get("sequence") if isinstance(last_content, Mapping) else None
        changes.append(
            ConversationChange(
                change_type=str(change.get("type", "")),
                conversation_id=result["convId"],
                state=state if isinstance(state, str) else None,
                stage=stage if isinstance(stage, str) else None,
                skill_id=str(skill_id) if skill_id is not None else None,
                participants=_participants(details),
                start_ms=start_ms if _is_integer(start_ms) else None,
                last_content_sequence=last_sequence if _is_integer(last_sequence) else None,
            )
        )
    return changes


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
