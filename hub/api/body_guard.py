"""Request bodies are limited before they are read, and JSON with lone surrogates is refused.

A pure ASGI middleware in front of everything: a ``Content-Length`` over the route's limit is
answered 413 at once, without reading a byte; a body that grows past it while streaming
(chunked, or a lying length) is cut off with a 413 as soon as it does, so the hub never holds
or spools more than the limit. JSON bodies are also checked, once complete, for strings with
a lone UTF-16 surrogate (``"\\ud800"``): valid JSON, but no text the database, the password
hasher or the log can encode, so every route answers 422 instead of failing somewhere inside.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import Settings

# What an upload carries besides the file: boundaries, part headers, a few form fields.
MULTIPART_OVERHEAD = 64 * 1024

_UPLOAD = re.compile(r"^/api/v1/areas/[^/]+/audio/?$")
_SCHEDULES = re.compile(r"^/api/v1/areas/[^/]+/timetables(/|$)")
# A JSON escape of a surrogate code unit: the only way one reaches a decoded string.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BodyRefused(HTTPException):
    """Raised from ``receive``: FastAPI and Starlette pass it on, their handler answers it."""


def body_limit(settings: Settings, path: str) -> int:
    """The largest body a route takes."""
    if _UPLOAD.match(path):
        return settings.audio_max_bytes + MULTIPART_OVERHEAD
    if _SCHEDULES.match(path):
        return settings.http_schedule_max_bytes
    return settings.http_json_max_bytes


def _too_large(limit: int) -> str:
    return f"request body too large: this route takes at most {limit} bytes; send less"


def has_lone_surrogate(body: bytes) -> bool:
    """Whether a JSON body decodes to a string (or key) with an unpaired surrogate."""
    if not _SURROGATE_ESCAPE.search(body):
        return False  # the usual case: no need to decode twice
    try:
        value: Any = json.loads(body)
    except ValueError:
        return False  # not JSON: the route's own parsing says what is wrong
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return True  # FastAPI reads a body without a type as JSON
    kind = content_type.split(b";", 1)[0].strip().lower()
    return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))


class BodyGuard:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.settings, scope["path"])
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await JSONResponse(
                {"detail": _too_large(limit), "code": "body_too_large", "params": {"limit": limit}},
                status_code=413,
            )(scope, receive, send)
            return
        parts: list[bytes] | None = [] if _is_json(_header(scope, b"content-type")) else None
        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise BodyRefused(413, _too_large(limit))
            if parts is not None:
                parts.append(chunk)
                if not message.get("more_body", False) and has_lone_surrogate(b"".join(parts)):
                    raise BodyRefused(
                        422,
                        "a string in the JSON body holds a lone surrogate (e.g. \\ud800), which is not "
                        "text; send valid Unicode (pairs such as \\ud83d\\udca1 are fine)",
                    )
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyRefused as exc:
            # Normally the app's handler answers it; this is for a body read outside a route.
            if started:
                raise
            await JSONResponse({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
