"""The bodies of the requests the consumer sends (protocol.md §5), as plain dicts.

Each function takes the request's facts and returns the ``body`` to hand to
``protocol.build_request``; nothing here touches a socket or parses anything.
"""

from __future__ import annotations

from typing import Any

from syncd.liveperson.protocol import UPLOAD_FILE_TYPES


def request_conversation_body(skill_id: str | None = None) -> dict[str, Any]:
    """Body of ``cm.ConsumerRequestConversation``; targets ``skill_id`` when given."""
    body: dict[str, Any] = {"channelType": "MESSAGING"}
    if skill_id is not None:
        body["skillId"] = skill_id
    return body


def subscribe_ex_conversations_body(states: tuple[str, ...] = ("OPEN",)) -> dict[str, Any]:
    """Body of ``cqm.SubscribeExConversations`` for conversations in ``states``."""
    return {"minLastUpdatedTime": 0, "convState": list(states)}


def subscribe_messaging_events_body(dialog_id: str, from_sequence: int) -> dict[str, Any]:
    """Body of ``ms.SubscribeMessagingEvents``: events with sequence ≥ ``from_sequence``."""
    return {"dialogId": dialog_id, "fromSeq": from_sequence}


def generate_upload_url_body(file_size_bytes: int, file_type: str) -> dict[str, Any]:
    """Body of ``ms.GenerateURLForUploadFile``. ``fileSize`` is a string in the schema."""
    if file_type not in UPLOAD_FILE_TYPES:
        raise ValueError(f"file type {file_type!r} is not one of {UPLOAD_FILE_TYPES}")
    return {"fileSize": str(file_size_bytes), "fileType": file_type}


def generate_download_url_body(relative_path: str) -> dict[str, Any]:
    """Body of ``ms.GenerateURLForDownloadFile``."""
    return {"relativePath": relative_path}


def publish_hosted_file_body(
    dialog_id: str, caption: str, relative_path: str, file_type: str, preview: str | None
) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying a ``hosted/file`` ContentEvent."""
    message: dict[str, Any] = {
        "caption": caption,
        "relativePath": relative_path,
        "fileType": file_type,
    }
    if preview is not None:
        message["preview"] = preview
    return {
        "dialogId": dialog_id,
        "event": {"type": "ContentEvent", "contentType": "hosted/file", "message": message},
    }


def publish_text_body(dialog_id: str, text: str) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying a ``text/plain`` ContentEvent."""
    return {
        "dialogId": dialog_id,
        "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
    }


def publish_accept_status_body(
    dialog_id: str, sequences: list[int], status: str = "ACCEPT"
) -> dict[str, Any]:
    """Body of ``ms.PublishEvent`` carrying an AcceptStatusEvent (receipt) for ``sequences``."""
    return {
        "dialogId": dialog_id,
        "event": {"type": "AcceptStatusEvent", "status": status, "sequenceList": sequences},
    }


def close_conversation_body(conversation_id: str) -> dict[str, Any]:
    """Body of ``cm.UpdateConversationField`` that closes ``conversation_id``."""
    return {
        "conversationId": conversation_id,
        "conversationField": [{"field": "ConversationStateField", "conversationState": "CLOSE"}],
    }


def init_connection_headers(jwt: str) -> list[dict[str, Any]]:
    """``headers`` array of ``InitConnection`` for clients that cannot set HTTP headers."""
    return [
        {
            "type": ".ams.headers.ClientProperties",
            "deviceFamily": "OTHER",
            "os": "LINUX",
            "features": ["PHOTO_SHARING"],
        },
        {"type": ".ams.headers.ConsumerAuthentication", "jwt": jwt},
    ]


def unsubscribe_ex_conversations_body(subscription_id: str) -> dict[str, Any]:
    """Body of ``cqm.UnsubscribeExConversations`` ending ``subscription_id``."""
    return {"subscriptionId": subscription_id}
