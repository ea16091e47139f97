"""Validation of the ``event`` of an ``ms.PublishEvent`` request (pure).

Accepted, per LivePerson's schemas (protocol.md §5.4):

* ContentEvent ``text/plain`` (``contentType`` may be omitted): ``message`` is a string;
* ContentEvent ``hosted/file``: ``message`` has ``relativePath`` (an object that exists in the
  store), ``fileType`` and ``caption`` (a string, empty allowed), optional ``preview`` (a string
  under 30,000 characters). ``fileType`` may be any value of the HostedFile schema
  (IMG, JPG, PNG, GIF, TXT, PDF) or JPEG, which LivePerson's upload request accepts;
* AcceptStatusEvent with a documented ``status`` and integer ``sequenceList`` (a single
  integer counts as a one-element list);
* ChatStateEvent with a documented ``chatState``: distributed, not numbered.

Anything else — other content types, RichContentEvent — is refused with 400: the emulator
does not model them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from syncd.emulator.rejection import Rejection
from syncd.emulator.settings import MAX_PREVIEW_CHARACTERS
from syncd.liveperson.protocol import as_list

HOSTED_FILE_TYPES = frozenset({"IMG", "JPG", "JPEG", "PNG", "GIF", "TXT", "PDF"})
ACCEPT_STATUSES = frozenset({"ACCEPT", "READ", "ACCESS", "NACK", "ACTION"})
CHAT_STATES = frozenset({"ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE"})


@dataclass(frozen=True)
class CheckedEvent:
    """An event that may be published; ``numbered`` events consume a sequence."""

    event: Mapping[str, Any]
    numbered: bool


def _check_hosted_file(message: Any, object_exists: Callable[[str], bool]) -> None:
    if not isinstance(message, Mapping):
        raise Rejection(400, "A hosted file message must be an object")
    relative_path = message.get("relativePath")
    if not isinstance(relative_path, str) or not relative_path:
        raise Rejection(400, "A hosted file needs 'relativePath'")
    if message.get("fileType") not in HOSTED_FILE_TYPES:
        raise Rejection(400, "A hosted file needs a valid 'fileType'")
    if not isinstance(message.get("caption"), str):
        raise Rejection(400, "A hosted file needs a 'caption' string")
    preview = message.get("preview")
    if preview is not None:
        if not isinstance(preview, str):
            raise Rejection(400, "The preview must be a string")
        if len(preview) >= MAX_PREVIEW_CHARACTERS:
            raise Rejection(400, "The preview must be under 30KB")
    if not object_exists(relative_path):
        raise Rejection(400, "The file at 'relativePath' was not uploaded")


def check_event(event: Any, object_exists: Callable[[str], bool]) -> CheckedEvent:
    """Validate a published ``event``; ``object_exists`` says whether a storage path exists.

    Returns the event (copied) and whether it is numbered. Raises Rejection(400) with a
    reason for anything the emulator does not accept.
    """
    if not isinstance(event, Mapping):
        raise Rejection(400, "'event' must be an object")
    event_type = event.get("type")
    if event_type == "ContentEvent":
        content_type = event.get("contentType", "text/plain")
        if content_type == "text/plain":
            if not isinstance(event.get("message"), str):
                raise Rejection(400, "A text/plain message must be a string")
        elif content_type == "hosted/file":
            _check_hosted_file(event.get("message"), object_exists)
        else:
            raise Rejection(400, "Unsupported contentType")
        return CheckedEvent(dict(event), numbered=True)
    if event_type == "AcceptStatusEvent":
        if event.get("status") not in ACCEPT_STATUSES:
            raise Rejection(400, "Unknown AcceptStatusEvent status")
        sequences = as_list(event.get("sequenceList"))
        if not sequences or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in sequences
        ):
            raise Rejection(400, "'sequenceList' must list integer sequences")
        return CheckedEvent(dict(event), numbered=True)
    if event_type == "ChatStateEvent":
        if event.get("chatState") not in CHAT_STATES:
            raise Rejection(400, "Unknown chatState")
        return CheckedEvent(dict(event), numbered=False)
    raise Rejection(400, "Unsupported event type")
