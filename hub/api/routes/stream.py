"""Server-sent events: live availability, state, events, command outcomes and emergency mode of one area."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from hub.api.deps import AreaDep, CurrentUser, RuntimeDep, SessionDep
from hub.live import LiveEvent, LiveHub, events_for

router = APIRouter(prefix="/api/v1/areas/{code}/stream", tags=["stream"])

# How soon the browser's EventSource reconnects after the stream ends.
RETRY_MS = 2000
_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx and similar proxies buffer responses unless told not to; events must flow now.
    "X-Accel-Buffering": "no",
}


def sse(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One event in the text/event-stream format (JSON never contains a raw newline)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {name}\ndata: {body}\n\n"


def _frame(events: list[LiveEvent]) -> str:
    return "".join(sse(e.name, e.data, e.id) for e in events)


async def _stream(
    live: LiveHub, request: Request, area: str, names: frozenset[str], hello: dict[str, Any]
) -> AsyncIterator[str]:
    # Subscribing inside the generator ties the subscription to the body's lifetime: the
    # ``finally`` runs whether the client leaves, the hub stops or the stream times out.
    sub, last_id = live.subscribe(area, names)
    # A comment is invisible to the browser's EventSource: a page that asks (``?ping=event``)
    # gets a ``ping`` event instead, so it can tell a silent network (no ping for too long)
    # from an idle area; ``ping_s`` in the hello tells it how long is too long.
    ping = sse("ping", {}) if request.query_params.get("ping") == "event" else ": ping\n\n"
    try:
        yield f"retry: {RETRY_MS}\n" + sse("hello", {**hello, "ping_s": live.ping_s}, last_id)
        loop = sub.loop
        ends = loop.time() + live.max_stream_s
        while not await request.is_disconnected():
            left = ends - loop.time()
            if left <= 0:
                break
            try:
                # Cancelling a queue get loses nothing: the event stays queued for next time.
                async with asyncio.timeout(min(live.ping_s, left)):
                    events = await sub.get()
            except TimeoutError:
                yield ping  # also keeps proxies and phones from closing an idle stream
                continue
            if events is None:
                break
            yield _frame(events)
    finally:
        live.unsubscribe(sub)


@router.get(
    "",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
)
async def stream_area(
    area: AreaDep, user: CurrentUser, session: SessionDep, runtime: RuntimeDep, request: Request
) -> StreamingResponse:
    """Live updates for the phone page, as server-sent events.

    First ``hello`` (reload the area's state on it: it also follows every reconnect), then
    ``availability``, ``state``, ``event``, ``device``, ``command`` and ``emergency`` events with increasing
    ids, and ``resync`` when this client fell behind and events were lost (reload). Residents
    receive availability and state only. A ``: ping`` comment keeps an idle stream open
    (a ``ping`` event with ``?ping=event``, every ``ping_s`` seconds of the hello).
    """
    names = events_for(user.role)
    hello = {"area": area.code, "user": user.username, "role": user.role, "events": sorted(names)}
    # A stream lasts minutes; hand the database connection back to the pool now.
    session.close()
    live = runtime.live
    return StreamingResponse(
        _stream(live, request, area.code, names, hello), media_type="text/event-stream", headers=_HEADERS
    )
