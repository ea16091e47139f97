"""The ``/_emulator/`` control API: JSON endpoints for tests, the demo and people.

* ``GET /_emulator/state`` → ``{"conversations": [...], "objects": [...]}``.
* ``POST /_emulator/conversations/{id}/accept`` — accept as the agent → ``{"id", "state"}``.
* ``POST /_emulator/conversations/{id}/agent-file?caption=...[&file_type=PDF]`` — raw file bytes
  as the body (or a multipart form with ``file`` and ``caption``): JPG, PNG, GIF, PDF, DOCX,
  XLSX or PPTX, found from the content unless ``file_type`` declares one →
  ``{"sequence", "relativePath", "fileType"}``. Sending into a closed conversation resumes it.
* ``POST /_emulator/conversations/{id}/agent-message`` — ``{"text": ...}`` or a text/plain
  body (or a form field ``text``) → ``{"sequence"}``.
* ``POST /_emulator/conversations/{id}/close`` — close as the agent → ``{"id", "state"}``.
* ``GET``/``PUT``/``DELETE /_emulator/faults`` — read, merge or reset the fault knobs.
* ``POST /_emulator/tokens?ttl_seconds=N[&consumer_id=ID]`` → ``{"jwt", "consumerId"}``:
  a consumer token of any lifetime (negative: already expired), for 4401 tests.
* ``POST /_emulator/sockets/close?code=N`` → ``{"closed": n}``: close every consumer socket
  with that code (1006 drops them without a close frame).
* ``GET /_emulator/object?path=/v1/...`` — download a stored object (the console's links).
* ``GET /_emulator/`` — the agent console page; ``GET /_emulator/console.json`` what it shows.

Errors are JSON ``{"error": "<reason>"}``: 400 bad input, 404 unknown conversation, 409 closed
conversation. Requests sent by the console's HTML forms are answered with a redirect back to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from syncd.emulator import agent, console
from syncd.emulator.keys import CORE
from syncd.emulator.rejection import Rejection

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_Handler = Callable[[web.Request], Awaitable[Any]]


def _json_endpoint(handler: _Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap ``handler`` so its result becomes JSON and a Rejection an error answer."""

    async def endpoint(request: web.Request) -> web.Response:
        try:
            result = await handler(request)
        except Rejection as rejection:
            return web.json_response({"error": rejection.reason}, status=rejection.code)
        if request.content_type in _FORM_TYPES:
            raise web.HTTPSeeOther(location="/_emulator/")
        return web.json_response(result)

    return endpoint


def _integer_query(request: web.Request, name: str, default: int | None = None) -> int:
    value = request.query.get(name)
    if value is None:
        if default is None:
            raise Rejection(400, f"query parameter {name!r} is required")
        return default
    try:
        return int(value)
    except ValueError as error:
        raise Rejection(400, f"{name!r} must be an integer") from error


async def state(request: web.Request) -> dict[str, Any]:
    """Return the emulator's conversations and stored objects."""
    return request.app[CORE].snapshot()


async def agent_file(request: web.Request) -> dict[str, Any]:
    """Send the request's image as the agent."""
    caption = request.query.get("caption", "")
    declared_type = request.query.get("file_type") or None
    if request.content_type == "multipart/form-data":
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise Rejection(400, "the form needs a 'file'")
        data = upload.file.read()
        caption = str(form.get("caption", caption))
    else:
        data = await request.read()
    return agent.send_file(
        request.app[CORE], request.match_info["conversation_id"], data, caption, declared_type
    )


async def agent_message(request: web.Request) -> dict[str, Any]:
    """Send text as the agent."""
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as error:
            raise Rejection(400, "the body must be JSON") from error
        text = body.get("text") if isinstance(body, dict) else None
    elif request.content_type in _FORM_TYPES:
        text = (await request.post()).get("text")
    else:
        text = await request.text()
    if not isinstance(text, str):
        raise Rejection(400, "'text' must be a string")
    return agent.send_text(request.app[CORE], request.match_info["conversation_id"], text)


async def accept_conversation(request: web.Request) -> dict[str, Any]:
    """Accept a conversation as the agent."""
    conversation = agent.accept(request.app[CORE], request.match_info["conversation_id"])
    return {"id": conversation.conversation_id, "state": conversation.agent_state}


async def download_object(request: web.Request) -> web.Response:
    """Serve a stored object as an attachment (the console's download links)."""
    stored = request.app[CORE].objects.get(request.query.get("path", ""))
    if stored is None:
        return web.json_response({"error": "No such object"}, status=404)
    return web.Response(
        body=stored.data,
        content_type=stored.content_type,
        headers={"Content-Disposition": f'attachment; filename="{stored.name}"'},
    )


async def console_state(request: web.Request) -> dict[str, Any]:
    """What the console page shows, for its refresh."""
    return console.view(request.app[CORE])


async def close_conversation(request: web.Request) -> dict[str, Any]:
    """Close a conversation as the agent."""
    conversation = agent.close(request.app[CORE], request.match_info["conversation_id"])
    return {"id": conversation.conversation_id, "state": conversation.state}


async def get_faults(request: web.Request) -> dict[str, Any]:
    """Return the fault knobs."""
    return request.app[CORE].faults.knobs.as_dict()


async def put_faults(request: web.Request) -> dict[str, Any]:
    """Merge the JSON object of knobs into the fault knobs."""
    try:
        changes = await request.json()
    except ValueError as error:
        raise Rejection(400, "the body must be a JSON object of knobs") from error
    if not isinstance(changes, dict):
        raise Rejection(400, "the body must be a JSON object of knobs")
    return request.app[CORE].faults.update(changes).as_dict()


async def delete_faults(request: web.Request) -> dict[str, Any]:
    """Reset every fault knob."""
    return request.app[CORE].faults.reset().as_dict()


async def issue_token(request: web.Request) -> dict[str, Any]:
    """Issue a consumer token with the requested lifetime."""
    core = request.app[CORE]
    lifetime_seconds = _integer_query(request, "ttl_seconds")
    consumer_id = request.query.get("consumer_id") or str(uuid.uuid4())
    token = core.issue_token(core.base_url, lifetime_seconds, consumer_id)
    return {"jwt": token, "consumerId": consumer_id}


async def close_sockets(request: web.Request) -> dict[str, Any]:
    """Close every consumer socket with the requested code."""
    code = _integer_query(request, "code", default=1011)
    if not 1000 <= code <= 4999:
        raise Rejection(400, "'code' must be a close code (1000-4999)")
    return {"closed": request.app[CORE].hub.close_all(code)}


async def console_page(request: web.Request) -> web.Response:
    """Serve the agent console."""
    return web.Response(text=console.render(request.app[CORE]), content_type="text/html")


def add_routes(app: web.Application) -> None:
    """Register the control API on ``app``."""
    conversation = "/_emulator/conversations/{conversation_id}"
    router = app.router
    router.add_get("/_emulator/", console_page)
    router.add_get("/_emulator/state", _json_endpoint(state))
    router.add_post(conversation + "/agent-file", _json_endpoint(agent_file))
    router.add_post(conversation + "/agent-message", _json_endpoint(agent_message))
    router.add_post(conversation + "/close", _json_endpoint(close_conversation))
    router.add_post(conversation + "/accept", _json_endpoint(accept_conversation))
    router.add_get("/_emulator/object", download_object)
    router.add_get("/_emulator/console.json", _json_endpoint(console_state))
    router.add_get("/_emulator/faults", _json_endpoint(get_faults))
    router.add_put("/_emulator/faults", _json_endpoint(put_faults))
    router.add_delete("/_emulator/faults", _json_endpoint(delete_faults))
    router.add_post("/_emulator/tokens", _json_endpoint(issue_token))
    router.add_post("/_emulator/sockets/close", _json_endpoint(close_sockets))
