"""Test helpers that speak to the emulator as a client would, with raw JSON frames.

These helpers deliberately do not use ``syncd.liveperson.protocol``: the emulator is checked
against the documented frames, so that client and emulator cannot agree on a mistake.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
from collections.abc import Callable
from typing import Any

import requests
import websocket
from PIL import Image

from syncd.emulator.server import RunningEmulator

Frame = dict[str, Any]
WAIT_SECONDS = 5.0


def signup(emulator: RunningEmulator) -> str:
    """Sign a new consumer up with the emulated IdP and return its JWT."""
    response = requests.post(
        f"{emulator.base_url}/api/account/{emulator.account}/signup", timeout=WAIT_SECONDS
    )
    assert response.status_code == 200
    return str(response.json()["jwt"])


def jwt_part(token: str, index: int) -> dict[str, Any]:
    """Decode segment ``index`` (0 header, 1 payload) of a JWT without checking it."""
    segment = token.split(".")[index]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def consumer_url(emulator: RunningEmulator, path_token: str | None = None) -> str:
    """The consumer WebSocket URL, optionally with the JWT in the path."""
    suffix = f"/{path_token}" if path_token else ""
    return f"ws://{emulator.host_port}/ws_api/account/{emulator.account}/messaging/consumer{suffix}?v=3"


def open_socket(
    emulator: RunningEmulator, token: str | None = None, path_token: str | None = None
) -> websocket.WebSocket:
    """Open a consumer socket, sending ``Authorization: jwt <token>`` when given."""
    header = [f"Authorization: jwt {token}"] if token else []
    return websocket.create_connection(
        consumer_url(emulator, path_token), header=header, timeout=WAIT_SECONDS
    )


def read_close_code(ws: websocket.WebSocket, timeout_seconds: float = WAIT_SECONDS) -> int | None:
    """Read until the server closes; return its close code, or None when it just dropped us."""
    ws.settimeout(timeout_seconds)
    while True:
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int(struct.unpack("!H", data[:2])[0]) if len(data) >= 2 else None


class Consumer:
    """A consumer socket that reads frames as dicts and keeps the ones nobody asked for yet."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.unclaimed: list[Frame] = []

    @classmethod
    def connect(cls, emulator: RunningEmulator, token: str | None = None) -> Consumer:
        """Sign up (unless ``token`` is given) and connect with the header form."""
        return cls(open_socket(emulator, token or signup(emulator)))

    def send(self, frame: str | Frame) -> None:
        """Send a frame given as raw JSON text or as a dict."""
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def _read(self, deadline: float) -> Frame:
        self.ws.settimeout(max(deadline - time.monotonic(), 0.01))
        text = self.ws.recv()
        if not text:  # websocket-client returns "" for the server's close frame
            raise websocket.WebSocketConnectionClosedException("the server closed the socket")
        frame: Frame = json.loads(text)
        return frame

    def wait_for(
        self, predicate: Callable[[Frame], bool], timeout_seconds: float = WAIT_SECONDS
    ) -> Frame:
        """Return the first frame (kept or new) matching ``predicate``; keep the others."""
        for index, frame in enumerate(self.unclaimed):
            if predicate(frame):
                return self.unclaimed.pop(index)
        deadline = time.monotonic() + timeout_seconds
        while True:
            frame = self._read(deadline)
            if predicate(frame):
                return frame
            self.unclaimed.append(frame)

    def response_to(self, request_id: str) -> Frame:
        """Wait for the response whose ``reqId`` is ``request_id``."""
        return self.wait_for(lambda f: f.get("kind") == "resp" and f.get("reqId") == request_id)

    def request(self, frame: str | Frame) -> Frame:
        """Send a request (raw text or dict) and return its response."""
        request_id = str((json.loads(frame) if isinstance(frame, str) else frame)["id"])
        self.send(frame)
        return self.response_to(request_id)

    def notification(
        self, notification_type: str, predicate: Callable[[Frame], bool] = lambda f: True
    ) -> Frame:
        """Wait for a notification of ``notification_type`` matching ``predicate``."""
        return self.wait_for(
            lambda f: (
                f.get("kind") == "notification"
                and f.get("type") == notification_type
                and predicate(f)
            )
        )

    def frames_until_response(self, request_id: str) -> list[Frame]:
        """Return every frame read before (and including) the response to ``request_id``."""
        frames = list(self.unclaimed)
        self.unclaimed.clear()
        deadline = time.monotonic() + WAIT_SECONDS
        while not (
            frames and frames[-1].get("kind") == "resp" and frames[-1].get("reqId") == request_id
        ):
            frames.append(self._read(deadline))
        return frames

    def close(self) -> None:
        """Close the socket."""
        self.ws.close()


def request_conversation(consumer: Consumer, request_id: str = "rc") -> str:
    """Open a conversation and return its id."""
    response = consumer.request(
        {"kind": "req", "id": request_id, "type": "cm.ConsumerRequestConversation"}
    )
    assert response["code"] == 200, response
    return str(response["body"]["conversationId"])


def subscribe_events(
    consumer: Consumer, dialog_id: str, from_sequence: int = 0, request_id: str = "sub"
) -> Frame:
    """Subscribe to a dialog's messaging events and return the response."""
    return consumer.request(
        {
            "kind": "req",
            "id": request_id,
            "type": "ms.SubscribeMessagingEvents",
            "body": {"dialogId": dialog_id, "fromSeq": from_sequence},
        }
    )


def text_publish_frame(dialog_id: str, text: str, request_id: str) -> Frame:
    """The request that publishes a text/plain ContentEvent into ``dialog_id``."""
    return {
        "kind": "req",
        "id": request_id,
        "type": "ms.PublishEvent",
        "body": {
            "dialogId": dialog_id,
            "event": {"type": "ContentEvent", "contentType": "text/plain", "message": text},
        },
    }


def publish_text(consumer: Consumer, dialog_id: str, text: str, request_id: str) -> Frame:
    """Publish a text/plain ContentEvent and return the response."""
    return consumer.request(text_publish_frame(dialog_id, text, request_id))


def make_image(image_format: str = "PNG", size: tuple[int, int] = (32, 24)) -> bytes:
    """Return a real image of ``size`` pixels encoded as ``image_format``, made with Pillow."""
    image = Image.new("RGB", size, (200, 40, 90))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def upload_url(
    consumer: Consumer, file_size: int | str, file_type: str, request_id: str = "up"
) -> Frame:
    """Ask for an upload URL and return the response."""
    return consumer.request(
        {
            "kind": "req",
            "id": request_id,
            "type": "ms.GenerateURLForUploadFile",
            "body": {"fileSize": file_size, "fileType": file_type},
        }
    )


def storage_url(emulator: RunningEmulator, body: Frame) -> str:
    """Return the storage URL (base, relativePath, temp URL query) of a URL response body."""
    query = body["queryParams"]
    return (
        f"{emulator.base_url}{body['relativePath']}"
        f"?temp_url_sig={query['temp_url_sig']}&temp_url_expires={query['temp_url_expires']}"
    )


def upload(
    emulator: RunningEmulator, consumer: Consumer, data: bytes, file_type: str = "PNG"
) -> str:
    """Upload ``data`` through a fresh upload URL and return its relativePath."""
    response = upload_url(consumer, len(data), file_type, request_id=f"up-{time.monotonic_ns()}")
    assert response["code"] == 200, response
    put = requests.put(storage_url(emulator, response["body"]), data=data, timeout=WAIT_SECONDS)
    assert put.status_code == 201
    return str(response["body"]["relativePath"])


def download(
    emulator: RunningEmulator, consumer: Consumer, relative_path: str
) -> requests.Response:
    """Ask for a download URL of ``relative_path`` and GET it; returns the storage's answer."""
    response = consumer.request(
        {
            "kind": "req",
            "id": f"down-{time.monotonic_ns()}",
            "type": "ms.GenerateURLForDownloadFile",
            "body": {"relativePath": relative_path},
        }
    )
    assert response["code"] == 200, response
    return requests.get(storage_url(emulator, response["body"]), timeout=WAIT_SECONDS)
