"""What the emulated agent can do to a conversation: accept, send text or a file, close.

The control API, the console and the brand WebSocket (``agent_requests.py``, where
LivePerson's own agent SDK connects) call these functions, so all three act on the
conversations the same way.

* Accepting assigns the agent (an UPSERT with ASSIGNED_AGENT reaches subscribers); the
  conversation goes from *waiting* to *active*. With ``agent_accept = "auto"`` the emulator
  accepts each conversation as it is requested; with ``manual`` it waits for Accept, and
  sending into a waiting conversation is refused (409).
* Sending into a closed conversation resumes it (OPEN again, as LivePerson lets an agent
  reopen a conversation), then sends.
* Files are stored under the agent's id and published as ``hosted/file`` without a preview
  (as LivePerson's agents send them). The type agents may send — JPG, PNG, GIF, PDF, DOCX,
  XLSX, PPTX, up to 5 MB — comes from the content (``sniff_file_type``), unless the caller
  declares one (``declared_type``, to imitate a misbehaving agent client; the content is
  then not checked).

Errors: Rejection(404) for an unknown conversation, 409 for a waiting conversation (manual
accept) or accepting a closed one, 400 for content that is none of those types, too large,
or an empty text.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import Any

from syncd.emulator.core import EmulatorCore
from syncd.emulator.model import ASSIGNED_AGENT, Conversation, StoredEvent
from syncd.emulator.rejection import Rejection
from syncd.emulator.settings import MAX_OBJECT_BYTES
from syncd.emulator.site_settings import AGENT_FILE_SHARING_PROPERTY

AGENT_CLOSE_REASON = "AGENT"
AGENT_FILE_TYPES = ("JPG", "PNG", "GIF", "PDF", "DOCX", "XLSX", "PPTX")
_OOXML_PARTS = {
    "word/document.xml": "DOCX",
    "xl/workbook.xml": "XLSX",
    "ppt/presentation.xml": "PPTX",
}


def _office_type(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, EOFError, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for part, file_type in _OOXML_PARTS.items():
        if part in names:
            return file_type
    return None


def sniff_file_type(data: bytes) -> str:
    """Return LivePerson's ``fileType`` for file bytes; raises Rejection(400) otherwise."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if data.startswith(b"%PDF-"):
        return "PDF"
    if data.startswith(b"PK\x03\x04"):
        office = _office_type(data)
        if office is not None:
            return office
    raise Rejection(400, "The content is not a JPG, PNG, GIF, PDF, DOCX, XLSX or PPTX file")


def _conversation(core: EmulatorCore, conversation_id: str) -> Conversation:
    conversation = core.book.get(conversation_id)
    if conversation is None:
        raise Rejection(404, "No such conversation")
    return conversation


def accept(core: EmulatorCore, conversation_id: str) -> Conversation:
    """Accept (join) an open conversation unless an agent already has; return it."""
    conversation = _conversation(core, conversation_id)
    if not conversation.is_open:
        raise Rejection(409, "The conversation is closed")
    core.book.assign_agent(conversation, core.agent_id, core.now_ms())
    return conversation


def _ready_to_send(core: EmulatorCore, conversation_id: str) -> Conversation:
    """Resume a closed conversation, or check an open one was accepted; return it."""
    conversation = _conversation(core, conversation_id)
    if not conversation.is_open:
        core.book.reopen(conversation, core.now_ms())
        core.book.assign_agent(conversation, core.agent_id, core.now_ms())
    elif not conversation.has_role(ASSIGNED_AGENT):
        if core.settings.agent_accept == "manual":
            raise Rejection(409, "Accept the conversation first")
        core.book.assign_agent(conversation, core.agent_id, core.now_ms())
    return conversation


def publish(
    core: EmulatorCore, conversation_id: str, event: Mapping[str, Any], numbered: bool
) -> StoredEvent:
    """Publish a checked ``event`` as the agent (the brand WebSocket's ``PublishEvent``);
    a numbered event resumes a closed conversation, as sending from the console does."""
    if numbered:
        conversation = _ready_to_send(core, conversation_id)
    else:
        conversation = _conversation(core, conversation_id)
    return core.book.publish(
        conversation, core.agent_id, ASSIGNED_AGENT, event, numbered, core.now_ms()
    )


def upload_url(core: EmulatorCore, body: Any) -> dict[str, Any]:
    """Answer the agent's ``GenerateURLForUploadFile``: a PUT URL for a new object of the
    agent. Raises Rejection(400) when agents may not share files, or for a bad
    ``fileType`` (JPEG counts as JPG) or ``fileSize`` (up to the agent file limit)."""
    if not core.site_settings.enabled(AGENT_FILE_SHARING_PROPERTY):
        raise Rejection(400, "File sharing is disabled for agents")
    if not isinstance(body, Mapping):
        raise Rejection(400, "The body must be an object")
    file_type = str(body.get("fileType", "")).upper().replace("JPEG", "JPG")
    if file_type not in AGENT_FILE_TYPES:
        raise Rejection(400, f"'fileType' must be one of {', '.join(AGENT_FILE_TYPES)}")
    size = body.get("fileSize")
    limit_bytes = core.faults.knobs.agent_file_max_bytes or MAX_OBJECT_BYTES
    if not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= limit_bytes:
        raise Rejection(400, f"'fileSize' must be between 1 and {limit_bytes} bytes")
    return core.signed_url(core.new_object_path(core.agent_id, file_type), "PUT")


def send_text(core: EmulatorCore, conversation_id: str, text: str) -> dict[str, Any]:
    """Publish ``text`` as the agent; return ``{"sequence"}``."""
    if not text:
        raise Rejection(400, "The text is empty")
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
    stored = publish(core, conversation_id, event, True)
    return {"sequence": stored.sequence}


def send_file(
    core: EmulatorCore,
    conversation_id: str,
    data: bytes,
    caption: str,
    declared_type: str | None = None,
) -> dict[str, Any]:
    """Store ``data`` and publish it as a hosted file; return ``{"sequence", "relativePath",
    "fileType"}``. ``declared_type`` overrides the type found in the content."""
    if declared_type is None:
        file_type = sniff_file_type(data)
    elif declared_type.upper() in AGENT_FILE_TYPES:
        file_type = declared_type.upper()
    else:
        raise Rejection(400, f"'fileType' must be one of {', '.join(AGENT_FILE_TYPES)}")
    limit_bytes = core.faults.knobs.agent_file_max_bytes or MAX_OBJECT_BYTES
    if len(data) > limit_bytes:
        raise Rejection(400, f"Agents may send files up to {limit_bytes} bytes")
    conversation = _ready_to_send(core, conversation_id)
    path = core.new_object_path(core.agent_id, file_type)
    core.objects.put(path, data, None, core.now_seconds())
    event = {
        "type": "ContentEvent",
        "contentType": "hosted/file",
        "message": {"caption": caption, "relativePath": path, "fileType": file_type},
    }
    stored = core.book.publish(
        conversation, core.agent_id, ASSIGNED_AGENT, event, True, core.now_ms()
    )
    return {"sequence": stored.sequence, "relativePath": path, "fileType": file_type}


def close(core: EmulatorCore, conversation_id: str) -> Conversation:
    """Close the conversation as the agent (``closeReason`` AGENT); return it."""
    conversation = _conversation(core, conversation_id)
    if not conversation.is_open:
        raise Rejection(409, "The conversation is closed")
    core.book.close(conversation, AGENT_CLOSE_REASON, core.now_ms())
    return conversation
