"""Live updates: device changes and command outcomes fanned out to the streams of an area.

Publishers are threads (the ingest writer, the command service); subscribers are HTTP streams
on an asyncio event loop. Events cross over with ``loop.call_soon_threadsafe`` onto a bounded
queue per subscriber, so a slow phone can hold up neither the writer nor the other phones:
when its queue is full it loses its backlog and gets one ``resync`` event (reload, then
carry on) instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Any

from hub.commands.sweeper import Outcome
from hub.models import Role
from hub.registry.changes import Change

log = logging.getLogger(__name__)

AVAILABILITY = "availability"
STATE = "state"
EVENT = "event"
DEVICE = "device"
COMMAND = "command"
EMERGENCY = "emergency"
RESYNC = "resync"
ALL_EVENTS = frozenset({AVAILABILITY, STATE, EVENT, DEVICE, COMMAND, EMERGENCY})
# Residents may watch the area's devices, not its registrations, faults or orders.
RESIDENT_EVENTS = frozenset({AVAILABILITY, STATE})


def events_for(role: str) -> frozenset[str]:
    """The event names a user of this role may receive."""
    return RESIDENT_EVENTS if role == Role.RESIDENT else ALL_EVENTS


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """One server-sent event; ``data`` is JSON-able and must not be changed once published."""

    id: int
    name: str
    data: dict[str, Any]


class Subscription:
    """One stream's bounded queue; only its own event loop reads or writes the queue."""

    def __init__(self, area: str, names: frozenset[str], loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.area = area
        self.names = names
        self.loop = loop
        self.dropped = 0  # events this subscriber lost to overflow, in total
        self._queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue(maxsize=size)
        self._closed = False

    async def get(self, most: int = 100) -> list[LiveEvent] | None:
        """Wait for events and take what is ready (up to ``most``); None once the hub stopped."""
        first = await self._queue.get()
        if first is None:
            return None
        batch = [first]
        while len(batch) < most and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._queue.put_nowait(None)  # let the next call see the end
                break
            batch.append(item)
        return batch

    def offer(self, events: list[LiveEvent]) -> None:
        """On the loop: enqueue; on overflow swap the backlog for one ``resync``."""
        for i, event in enumerate(events):
            if self._closed:
                return
            try:
                self._queue.put_nowait(event)
            except asyncio.QueueFull:
                # Everything queued is stale once the client reloads, and every event is
                # published after its commit, so a reload after the resync includes them all.
                # The resync takes the newest lost event's id, which keeps ids increasing.
                fresh = len(events) - i  # this and the rest of the batch
                earlier = 0  # lost before, already announced by a resync still queued
                while not self._queue.empty():
                    old = self._queue.get_nowait()
                    if old is not None and old.name == RESYNC:
                        earlier += old.data["dropped"]
                    else:
                        fresh += 1
                self.dropped += fresh
                self._queue.put_nowait(LiveEvent(events[-1].id, RESYNC, {"dropped": earlier + fresh}))
                return

    def close(self) -> None:
        """On the loop: end the stream (pending events are discarded)."""
        self._closed = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)


class LiveHub:
    """Thread-safe fan-out of an area's live events to its subscribers."""

    def __init__(self, queue_max: int = 256, ping_s: float = 5.0, max_stream_s: float = 900.0) -> None:
        # The stream settings live here so tests (and a future setting) can change them.
        self.queue_max = queue_max
        # A phone takes a stream without a ping for a few seconds past this as a silent
        # network and shows "offline": short enough to say so within seconds, and a ping is
        # a few bytes.
        self.ping_s = ping_s
        # Streams end after this long and the browser reconnects, so a logout, a disabled
        # account or an expired token takes effect on a long-open phone page too.
        self.max_stream_s = max_stream_s
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}
        self._ids = itertools.count(1)
        self._last_id = 0
        self._stopped = False

    # --- subscribers, on their event loop -----------------------------------------------

    def subscribe(self, area: str, names: frozenset[str] = ALL_EVENTS) -> tuple[Subscription, int]:
        """Subscribe to one area; returns the subscription and the id of the last event before it."""
        sub = Subscription(area, names, asyncio.get_running_loop(), self.queue_max)
        with self._lock:
            if self._stopped:
                sub.close()
            else:
                self._subs.setdefault(area, set()).add(sub)
            return sub, self._last_id

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.area)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.area]

    def subscribers(self, area: str) -> int:
        with self._lock:
            return len(self._subs.get(area, ()))

    # --- publishers, any thread ---------------------------------------------------------

    def on_changes(self, changes: list[Change]) -> None:
        """Ingest listener: runs on the writer thread after each committed batch."""
        try:
            with self._lock:
                by_area: dict[str, list[tuple[str, dict[str, Any]]]] = {}
                for ch in changes:
                    if ch.area in self._subs:
                        item = _from_change(ch)
                        if item is not None:
                            by_area.setdefault(ch.area, []).append(item)
                for area, items in by_area.items():
                    self._deliver(area, items)
        except Exception:
            log.exception("live update of %d change(s) failed", len(changes))

    def on_outcome(self, outcome: Outcome, area: str) -> None:
        """Command listener: a device's state echoed a command id."""
        try:
            self.publish(
                area,
                COMMAND,
                {
                    "device_id": outcome.device_id,
                    "command_id": outcome.command_id,
                    "status": outcome.status.value,
                    "state": outcome.state,
                    "error": outcome.error,
                },
            )
        except Exception:
            log.exception("live update of command %s failed", outcome.command_id)

    def publish(self, area: str, name: str, data: dict[str, Any]) -> None:
        """Send one event to the subscribers of an area."""
        with self._lock:
            if area in self._subs:
                self._deliver(area, [(name, data)])

    def stop(self) -> None:
        """End every stream; later subscribers end at once."""
        with self._lock:
            self._stopped = True
            subs = [s for group in self._subs.values() for s in group]
            self._subs.clear()
        for sub in subs:
            with contextlib.suppress(RuntimeError):  # its loop is already closed
                sub.loop.call_soon_threadsafe(sub.close)

    def _deliver(self, area: str, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Number the events and hand them to each subscriber's loop (lock held).

        Numbering and handing over under one lock keeps every subscriber's ids increasing;
        ``call_soon_threadsafe`` only appends to the loop's ready list, so it never blocks.
        """
        events = [LiveEvent(next(self._ids), name, data) for name, data in items]
        self._last_id = events[-1].id
        dead: list[Subscription] = []
        for sub in self._subs[area]:
            mine = [e for e in events if e.name in sub.names]
            if not mine:
                continue
            try:
                sub.loop.call_soon_threadsafe(sub.offer, mine)
            except RuntimeError:
                dead.append(sub)  # its loop closed without unsubscribing
        for sub in dead:
            self._subs[area].discard(sub)
        if not self._subs[area]:
            del self._subs[area]


def _from_change(ch: Change) -> tuple[str, dict[str, Any]] | None:
    """The live event for one stored change; None for heartbeats."""
    base: dict[str, Any] = {"device_id": ch.device, "kind": ch.kind}
    fields = ch.fields
    if "answer" in fields:
        return None  # a command's late answer: the outcome goes out as a command event
    if "online" in fields:
        return AVAILABILITY, {**base, "online": fields["online"]}
    if "state" in fields:
        return STATE, {**base, "state": fields["state"]}
    if "event" in fields:
        if fields["event"].get("type") == "heartbeat":
            return None  # every device sends one every few seconds; last_seen is enough
        return EVENT, {**base, "event": fields["event"]}
    return DEVICE, {**base, **fields}
