"""Reading what reached the emulator: hosted-file events and the stored objects' bytes."""

from __future__ import annotations

from typing import Any

import requests
from swiftclient.utils import generate_temp_url

from syncd.emulator.server import RunningEmulator


def hosted_file_events(
    emulator: RunningEmulator, consumer_only: bool = True
) -> list[dict[str, Any]]:
    """Every ``hosted/file`` event in every conversation, with its conversation id added."""
    events = []
    for conversation in emulator.state()["conversations"]:
        for event in conversation["events"]:
            body = event["event"]
            if body.get("type") != "ContentEvent" or body.get("contentType") != "hosted/file":
                continue
            if consumer_only and event.get("role") != "CONSUMER":
                continue
            events.append({**event, "conversationId": conversation["id"]})
    return events


def captions_in_order(
    emulator: RunningEmulator, conversation_ids: set[str] | None = None
) -> list[str]:
    """Captions of consumer hosted files, in publish order (by conversation then sequence)."""
    events = hosted_file_events(emulator)
    if conversation_ids is not None:
        events = [event for event in events if event["conversationId"] in conversation_ids]
    return [event["event"]["message"]["caption"] for event in events]


def object_bytes(emulator: RunningEmulator, relative_path: str) -> bytes:
    """Download an object from the emulator's Swift store with a URL the test signs itself."""
    signed = generate_temp_url(relative_path, 60, emulator.temp_url_key, "GET", digest="sha1")
    response = requests.get(f"{emulator.base_url}{signed}", timeout=10)
    assert response.status_code == 200, response.status_code
    return response.content
