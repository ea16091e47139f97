"""What the emulated agent can do to a conversation: join, send text, send a file, close.

The agent does not speak LivePerson's brand protocol; the control API calls these functions.
Sending anything first assigns the agent (an UPSERT with ASSIGNED_AGENT reaches subscribers).
Files are stored under the agent's id and published as ``hosted/file`` without a preview (as
LivePerson's agents send them); the type comes from the content's magic bytes, not a name:
JPG, PNG, GIF, or PDF (agents may share documents; PDF is in the HostedFile schema).

Errors: Rejection(404) for an unknown conversation, 409 for a closed one, 400 for content that
is none of those types or an empty text.
"""

from __future__ import annotations

from typing import Any

from syncd.emulator.core import EmulatorCore
from syncd.emulator.model import ASSIGNED_AGENT, Conversation
from syncd.emulator.rejection import Rejection

AGENT_CLOSE_REASON = "AGENT"


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
    raise Rejection(400, "The content is not a JPEG, PNG, GIF or PDF file")


def _open_conversation(core: EmulatorCore, conversation_id: str) -> Conversation:
    conversation = core.book.get(conversation_id)
    if conversation is None:
        raise Rejection(404, "No such conversation")
    if not conversation.is_open:
        raise Rejection(409, "The conversation is closed")
    return conversation


def join(core: EmulatorCore, conversation_id: str) -> Conversation:
    """Assign the agent to an open conversation unless an agent already is; return it."""
    conversation = _open_conversation(core, conversation_id)
    core.book.assign_agent(conversation, core.agent_id, core.now_ms())
    return conversation


def send_text(core: EmulatorCore, conversation_id: str, text: str) -> dict[str, Any]:
    """Publish ``text`` as the agent; return ``{"sequence"}``."""
    if not text:
        raise Rejection(400, "The text is empty")
    conversation = join(core, conversation_id)
    event = {"type": "ContentEvent", "contentType": "text/plain", "message": text}
    stored = core.book.publish(
        conversation, core.agent_id, ASSIGNED_AGENT, event, True, core.now_ms()
    )
    return {"sequence": stored.sequence}


def send_file(
    core: EmulatorCore, conversation_id: str, data: bytes, caption: str
) -> dict[str, Any]:
    """Store ``data`` and publish it as a hosted file; return ``{"sequence", "relativePath"}``."""
    file_type = sniff_file_type(data)
    conversation = join(core, conversation_id)
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
    return {"sequence": stored.sequence, "relativePath": path}


def close(core: EmulatorCore, conversation_id: str) -> Conversation:
    """Close the conversation as the agent (``closeReason`` AGENT); return it."""
    conversation = _open_conversation(core, conversation_id)
    core.book.close(conversation, AGENT_CLOSE_REASON, core.now_ms())
    return conversation
