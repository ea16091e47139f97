"""An agent's text message as a small UTF-8 file for the inbox (pure).

A person reading the inbox sees what the agent wrote next to the files, e.g. "please rescan
page 3". The file says when, in which conversation and from which agent, then the text:

    time: 2026-11-28T21:15:03Z
    conversation: 7507be78-…
    agent: 3f1c…

    please rescan page 3

Every remote value has its control characters removed (line breaks and tabs of the text
stay), and the text is capped at ``MAX_TEXT_BYTES`` so a flood cannot fill the disk.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

# The inbound row's file type for an agent's text (it has no storage path).
AGENT_TEXT_TYPE = "TEXT"
# The caption part of the file name of a saved text.
AGENT_TEXT_CAPTION = "agent message"
MAX_TEXT_BYTES = 16_384
_TRUNCATION_NOTE = "\n[… cut: the message was longer than 16 kB]"
_KEPT_CONTROLS = frozenset("\n\t")


def strip_controls(text: str, keep_line_breaks: bool) -> str:
    """Return ``text`` without control and format characters (C0, C1, bidi overrides…);
    ``keep_line_breaks`` keeps newlines and tabs. Carriage returns become newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        char
        for char in text
        if (keep_line_breaks and char in _KEPT_CONTROLS)
        or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


def cap_text(text: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """Return ``text`` cut to at most ``max_bytes`` UTF-8 bytes (whole characters), with a
    note saying it was cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    room = max_bytes - len(_TRUNCATION_NOTE.encode("utf-8"))
    return encoded[:room].decode("utf-8", errors="ignore") + _TRUNCATION_NOTE


def render_agent_text(
    received_at_seconds: float, conversation_id: str, agent_id: str, text: str
) -> bytes:
    """Return the UTF-8 file content for one agent message."""
    moment = datetime.fromtimestamp(received_at_seconds, UTC)
    header = (
        f"time: {moment:%Y-%m-%dT%H:%M:%SZ}\n"
        f"conversation: {strip_controls(conversation_id, False)[:200]}\n"
        f"agent: {strip_controls(agent_id, False)[:200] or 'unknown'}\n\n"
    )
    body = cap_text(strip_controls(text, True))
    return (header + body + "\n").encode("utf-8")
