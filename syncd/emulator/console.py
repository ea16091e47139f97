"""The agent console: one HTML page showing every conversation as an agent sees it.

Per conversation, newest first: its state (waiting, active, closed) with Accept and Close,
the consumer's identity, each file as a thumbnail (the consumer's preview, or the agent's
image itself, or a badge for documents) with caption, size, time and a download link, the
text messages, and forms to send a file or text back. The page refreshes itself
(``console_assets``). Every value shown is HTML-escaped; a preview is shown only when it is
a ``data:image/`` URI.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from syncd.emulator.console_assets import SCRIPT, STYLE
from syncd.emulator.core import EmulatorCore
from syncd.emulator.model import CONSUMER, Conversation, StoredEvent

_IMAGE_TYPES = ("JPG", "JPEG", "PNG", "GIF", "IMG")
_PREVIEW_PREFIXES = ("data:image/jpeg;", "data:image/png;", "data:image/gif;")


def view(core: EmulatorCore) -> dict[str, Any]:
    """Return ``{"version", "objects"}``: a digest that changes whenever the page would."""
    snapshot = json.dumps(core.snapshot(), sort_keys=True, default=str)
    return {
        "version": hashlib.sha256(snapshot.encode()).hexdigest()[:16],
        "objects": len(core.objects),
    }


def _time(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return ""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "missing"
    if size_bytes < 1024:
        return f"{size_bytes} B"
    if size_bytes < 1024 * 1024:
        return f"{size_bytes / 1024:.1f} kB"
    return f"{size_bytes / (1024 * 1024):.1f} MB"


def _file(core: EmulatorCore, stored: StoredEvent) -> str:
    message = stored.event.get("message")
    if not isinstance(message, dict):
        return ""
    path = str(message.get("relativePath", ""))
    file_type = str(message.get("fileType", "")).upper()
    caption = str(message.get("caption", ""))
    preview = message.get("preview")
    obj = core.objects.get(path)
    link = f"/_emulator/object?path={quote(path, safe='')}"
    if isinstance(preview, str) and preview.startswith(_PREVIEW_PREFIXES):
        thumbnail = f'<img class="thumbnail" alt="preview" src="{escape(preview)}">'
    elif obj is not None and file_type in _IMAGE_TYPES:
        thumbnail = f'<img class="thumbnail" alt="image" src="{escape(link)}">'
    else:
        thumbnail = f'<div class="doc">{escape(file_type or "FILE")}</div>'
    size = _size(len(obj.data) if obj is not None else None)
    side = "from-consumer" if stored.role == CONSUMER else "from-agent"
    who = "consumer" if stored.role == CONSUMER else "agent"
    return (
        f'<figure class="file {side}" data-sequence="{stored.sequence}">{thumbnail}'
        f'<figcaption><span class="caption">{escape(caption) or "<i>no caption</i>"}</span>'
        f'<br><span class="meta">{escape(file_type)} · {size} · '
        f"{who} · {_time(stored.server_timestamp_ms)}</span>"
        f'<br><a class="download" href="{escape(link)}" download>download</a></figcaption>'
        "</figure>"
    )


def _message(stored: StoredEvent) -> str:
    who = "consumer" if stored.role == CONSUMER else "agent"
    return (
        f'<li><span class="meta">{_time(stored.server_timestamp_ms)} · {who}:</span> '
        f"{escape(str(stored.event.get('message', '')))}</li>"
    )


def _people(core: EmulatorCore, conversation: Conversation) -> str:
    """Who is in the conversation: the consumer as Consumer Info shows it (flow, external
    sub, name, SDEs) and the agent."""
    consumer = next((pid for pid, role in conversation.participants if role == CONSUMER), "")
    agents = [pid for pid, role in conversation.participants if role != CONSUMER]
    identity = f"consumer <code>{escape(conversation.consumer_id)}</code>"
    if consumer and consumer != conversation.consumer_id:
        identity += f" (participant id <code>{escape(consumer[:16])}…</code>)"
    record = core.identities.consumers.get(conversation.consumer_id)
    name = "anonymous (signup consumer)"
    if record is not None:
        identity += f" ({escape(record.flow)}"
        if record.subject and record.flow == "authenticated":
            identity += f", sub <code>{escape(record.subject)}</code>"
        identity += f", {record.tokens_issued} token(s))"
        if record.name:
            name = escape(record.name)
        if record.sdes:
            sdes = escape(json.dumps(record.sdes, ensure_ascii=False))
            identity += f" · SDEs <code>{sdes}</code>"
    agent = f"agent <code>{escape(agents[0][:8])}</code>" if agents else "no agent yet"
    return (
        f'<p class="who">{identity} · name: <span class="name">{name}</span> · {agent} · '
        f"skill {escape(conversation.skill_id)}</p>"
    )


def _live(core: EmulatorCore, conversation: Conversation) -> str:
    state = conversation.agent_state
    files = [e for e in conversation.events if e.event.get("contentType") == "hosted/file"]
    texts = [
        e
        for e in conversation.events
        if e.event.get("type") == "ContentEvent"
        and e.event.get("contentType", "text/plain") == "text/plain"
    ]
    file_list = "".join(_file(core, e) for e in files) or "<p><i>No files yet.</i></p>"
    messages = "".join(_message(e) for e in texts)
    return (
        f'<div class="live"><div class="head"><h2>{escape(conversation.conversation_id)}</h2>'
        f'<span class="badge {state}" data-state="{state}">{state}</span>'
        f"<small>opened {_time(conversation.start_ms)}</small></div>"
        f'{_people(core, conversation)}<div class="files">{file_list}</div>'
        f'<ul class="messages">{messages}</ul></div>'
    )


def _state_actions(conversation: Conversation, base: str) -> str:
    buttons = ""
    if conversation.agent_state == "waiting":
        buttons += (
            f'<form data-live method="post" action="{base}/accept" '
            'enctype="multipart/form-data"><button class="accept">Accept</button></form>'
        )
    if conversation.is_open:
        buttons += (
            f'<form data-live method="post" action="{base}/close" '
            'enctype="multipart/form-data"><button class="close">Close</button></form>'
        )
    return f'<div class="state-actions actions">{buttons}</div>'


def _section(core: EmulatorCore, conversation: Conversation) -> str:
    conversation_id = escape(conversation.conversation_id)
    base = f"/_emulator/conversations/{quote(conversation.conversation_id, safe='')}"
    send_forms = (
        f'<div class="actions"><form data-live data-reset method="post" '
        f'action="{base}/agent-file" enctype="multipart/form-data" class="send-file">'
        '<input type="file" name="file" '
        'accept=".jpg,.jpeg,.png,.gif,.pdf,.docx,.xlsx,.pptx"> '
        '<input name="caption" placeholder="caption"> <button>Send file</button>'
        '<span class="status"></span></form>'
        f'<form data-live data-reset method="post" action="{base}/agent-message" '
        'enctype="multipart/form-data" class="send-text">'
        '<input name="text" placeholder="message" size="30"> <button>Send text</button>'
        '<span class="status"></span></form></div>'
    )
    return (
        f'<section class="conversation" id="conversation-{conversation_id}">'
        f"{_live(core, conversation)}{_state_actions(conversation, base)}{send_forms}</section>"
    )


def render(core: EmulatorCore) -> str:
    """Return the console page for the current state, newest conversation first."""
    sections = "".join(_section(core, c) for c in reversed(core.book.all()))
    sections = sections or '<p id="empty">No conversations yet.</p>'
    version = view(core)["version"]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>LivePerson emulator — agent console</title>"
        f"<style>{STYLE}</style></head>"
        f'<body data-version="{version}"><header><h1>Agent console</h1>'
        f"<small>account {escape(core.account)} · "
        f'<span id="objects">{len(core.objects)}</span> stored files · '
        f"accept: {escape(core.settings.agent_accept)}</small></header>"
        f"<main>{sections}</main>"
        f"<script>{SCRIPT}</script></body></html>"
    )
