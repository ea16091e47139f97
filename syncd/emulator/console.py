"""The agent console: one small HTML page listing conversations, with forms to act as agent.

Every value shown is HTML-escaped. The forms post to the control API, which redirects back.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from syncd.emulator.core import EmulatorCore
from syncd.emulator.model import Conversation

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>LivePerson emulator — agent console</title>
<style>body{{font-family:sans-serif;margin:2em}}section{{border:1px solid #ccc;padding:1em;
margin:1em 0}}td,th{{padding:0 .6em;text-align:left}}</style></head>
<body><h1>Agent console</h1><p>Account {account}. Files: {objects} stored.</p>
{conversations}</body></html>"""


def _describe(event: dict[str, Any]) -> str:
    message = event.get("message")
    if event.get("contentType") == "hosted/file" and isinstance(message, dict):
        return f"file {message.get('relativePath')} “{message.get('caption', '')}”"
    if event.get("type") == "AcceptStatusEvent":
        return f"{event.get('status')} {event.get('sequenceList')}"
    return str(message)


def _consumer(core: EmulatorCore, consumer_id: str) -> str:
    """Who the consumer is, as Consumer Info shows it: flow, external sub, name, SDEs."""
    record = core.identities.consumers.get(consumer_id)
    if record is None:
        return f"consumer {escape(consumer_id)}"
    parts = [f"consumer {escape(consumer_id)} ({escape(record.flow)})"]
    if record.name:
        parts.append(f"<b>{escape(record.name)}</b>")
    if record.subject and record.flow == "authenticated":
        parts.append(f"sub {escape(record.subject)}")
    if record.sdes:
        parts.append(f"SDEs <code>{escape(json.dumps(record.sdes, ensure_ascii=False))}</code>")
    parts.append(f"{record.tokens_issued} token(s)")
    return " · ".join(parts)


def _section(core: EmulatorCore, conversation: Conversation) -> str:
    conversation_id = escape(conversation.conversation_id)
    rows = "".join(
        f"<tr><td>{e.sequence}</td><td>{escape(e.role)}</td>"
        f"<td>{escape(_describe(dict(e.event)))}</td></tr>"
        for e in conversation.events
    )
    actions = ""
    if conversation.is_open:
        base = f"/_emulator/conversations/{conversation_id}"
        actions = (
            f'<form method="post" action="{base}/agent-file" enctype="multipart/form-data">'
            '<input type="file" name="file" accept="image/*"> '
            '<input name="caption" placeholder="caption"> <button>Send file</button></form>'
            f'<form method="post" action="{base}/agent-message">'
            '<input name="text" placeholder="message"> <button>Send text</button></form>'
            f'<form method="post" action="{base}/close"><button>Close</button></form>'
        )
    return (
        f"<section><h2>{conversation_id}</h2>"
        f"<p>{escape(conversation.state)} · {_consumer(core, conversation.consumer_id)} · "
        f"skill {escape(conversation.skill_id)}</p>"
        f"<table><tr><th>seq</th><th>role</th><th>event</th></tr>{rows}</table>{actions}"
        "</section>"
    )


def render(core: EmulatorCore) -> str:
    """Return the console page for the current state, newest conversation first."""
    sections = "".join(_section(core, c) for c in reversed(core.book.all()))
    return _PAGE.format(
        account=escape(core.account),
        objects=len(core.objects),
        conversations=sections or "<p>No conversations yet.</p>",
    )
