"""The live event stream: a real HTTP server, a real broker and simulated devices."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.commands.sweeper import Outcome
from hub.live import LiveEvent, LiveHub, Subscription
from hub.models import CommandStatus, Role
from hub.registry.areas import create_area
from hub.registry.changes import Change
from tests.conftest import HubHarness, SimArea, make_area, serve


@dataclass
class Sse:
    id: int | None
    event: str
    data: dict[str, Any]


class SseReader:
    """Parses a text/event-stream response line by line."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()
        self.pings = 0
        self.seen: list[Sse] = []

    def read(self) -> Sse | None:
        """The next event, or None for a keep-alive comment."""
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "":
                if not fields:
                    continue
                sse = Sse(
                    int(fields["id"]) if "id" in fields else None,
                    fields.get("event", "message"),
                    json.loads(fields.get("data", "null")),
                )
                self.seen.append(sse)
                return sse
            if line.startswith(":"):
                self.pings += 1
                return None
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("stream ended")

    def next(self) -> Sse:
        while (sse := self.read()) is None:
            pass
        return sse

    def find(self, match: Callable[[Sse], bool], timeout: float = 10) -> Sse:
        """The first event received so far, or still to come, that matches."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for sse in self.seen[seen:]:
                if match(sse):
                    return sse
            seen = len(self.seen)
            self.read()  # pings wake this loop up while the stream is idle
        raise AssertionError(f"no matching event within {timeout}s; saw {[s.event for s in self.seen]}")


@contextmanager
def open_stream(base: str, code: str, **kwargs: Any) -> Iterator[SseReader]:
    with httpx.stream("GET", f"{base}/api/v1/areas/{code}/stream", timeout=10, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        yield SseReader(r)


def bearer(hub: HubHarness) -> dict[str, str]:
    return {"Authorization": hub.http.headers["Authorization"]}


def test_stream_delivers_command_state_and_availability(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory()
    hub = area.hub
    hub.runtime.live.ping_s = 0.2
    light, other = [s.device_id for s in area.specs if s.kind == "light"][:2]
    with serve(hub.http.app) as base, open_stream(base, area.code, headers=bearer(hub)) as stream:
        hello = stream.next()
        assert hello.event == "hello"
        assert hello.data["area"] == area.code
        assert "command" in hello.data["events"]
        assert hub.runtime.live.subscribers(area.code) == 1

        r = hub.http.post(
            f"/api/v1/areas/{area.code}/commands",
            json={"target": {"device_id": light}, "action": {"type": "light.set", "on": True, "level": 64}},
        )
        assert r.status_code == 200, r.text
        cmd_id = r.json()["results"][0]["command_id"]
        state = stream.find(lambda e: e.event == "state" and e.data["device_id"] == light)
        assert state.data["kind"] == "light"
        assert state.data["state"]["level"] == 64
        assert state.data["state"]["cmd"] == cmd_id
        done = stream.find(lambda e: e.event == "command")
        assert done.data["command_id"] == cmd_id
        assert done.data["status"] == "confirmed"
        assert done.data["state"]["level"] == 64
        assert state.id is not None
        assert done.id is not None
        assert state.id < done.id  # the new state first, then the confirmation

        area.fleet.device(other).go_offline()
        gone = stream.find(lambda e: e.event == "availability" and e.data["device_id"] == other)
        assert gone.data["online"] is False
        ids = [e.id for e in stream.seen if e.id is not None]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert not any(e.event == "event" and e.data["event"]["type"] == "heartbeat" for e in stream.seen)
    # The client left: the server notices and drops the subscription.
    hub.wait(lambda: hub.runtime.live.subscribers(area.code) == 0, what="subscription dropped")


def test_stream_tells_every_phone_when_emergency_mode_starts_and_ends(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, speakers=1, cameras=0)
    hub = area.hub
    hub.runtime.live.ping_s = 0.2
    url = f"/api/v1/areas/{area.code}/emergency"
    alert = {"title": "Cháy", "text": "Cháy tại số 12 ngõ 5."}
    with serve(hub.http.app) as base, open_stream(base, area.code, headers=bearer(hub)) as stream:
        assert "emergency" in stream.next().data["events"]
        first = hub.http.post(url, json=alert).json()
        r = hub.http.post(url, json=alert | {"confirm_token": first["confirm_token"]})
        assert r.status_code == 200, r.text
        on = stream.find(lambda e: e.event == "emergency")
        assert on.data == r.json()
        assert on.data["active"] is True
        assert on.data["reason"] == "Cháy"
        assert hub.http.post(f"{url}/end").status_code == 200
        off = stream.find(lambda e: e.event == "emergency" and e.data["active"] is False)
        assert off.data == {"active": False, "announcement_id": None, "started_at": None, "reason": None}


def test_stream_with_cookie_session_and_resident_filter(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(cameras=1)
    hub = area.hub
    hub.runtime.live.ping_s = 0.2
    password = hub.add_user("cu-dan", Role.RESIDENT, area.code)
    camera = next(s.device_id for s in area.specs if s.kind == "camera")
    with serve(hub.http.app) as base:
        login = httpx.post(f"{base}/api/v1/auth/login", json={"username": "cu-dan", "password": password})
        assert login.status_code == 200, login.text
        # The cookie is Secure (HTTPS only), which httpx honours; the phone's browser would
        # send it over HTTPS, so hand it over explicitly here.
        cookie = {"Cookie": f"khu_session={login.cookies['khu_session']}"}
        with open_stream(base, area.code, headers=cookie) as stream:
            hello = stream.next()
            assert hello.data["role"] == "resident"
            assert hello.data["events"] == ["availability", "state"]
            area.fleet.camera(camera).set_tampering(True)
            seen = stream.find(lambda e: e.event == "state" and e.data["device_id"] == camera)
            assert seen.data["state"]["tampering"] is True
            assert all(e.event in ("hello", "availability", "state") for e in stream.seen)


def test_stream_is_only_for_users_of_the_area(
    sim_area_factory: Callable[..., SimArea], hub: HubHarness
) -> None:
    area = sim_area_factory(lights=1, speakers=0, cameras=0)
    with hub.runtime.sessions.begin() as session:
        create_area(session, f"{area.code}x", "Khu khác", 21.0, 105.8, "Asia/Ho_Chi_Minh")
    stranger = hub.client_for("head-x", hub.add_user("head-x", Role.HEAD, f"{area.code}x"))
    url = f"/api/v1/areas/{area.code}/stream"
    assert stranger.get(url).status_code == 404
    r = TestClient(hub.http.app).get(url)
    assert r.status_code == 401
    assert hub.runtime.live.subscribers(area.code) == 0


# --- the fan-out on its own ---------------------------------------------------------------


def light_online(area: str, n: int) -> Change:
    return Change(area, f"l{n}", "light", {"online": True})


async def drain(sub: Subscription) -> list[LiveEvent]:
    got: list[LiveEvent] = []
    while True:
        try:
            async with asyncio.timeout(0.05):
                batch = await sub.get()
        except TimeoutError:
            return got
        assert batch is not None
        got += batch


def test_slow_subscriber_gets_resync_and_never_holds_up_the_others() -> None:
    async def scenario() -> None:
        live = LiveHub(queue_max=4)
        slow, _ = live.subscribe("a")
        fast, _ = live.subscribe("a")
        elsewhere, _ = live.subscribe("b")
        loop = asyncio.get_running_loop()
        received: list[LiveEvent] = []
        progress = threading.Semaphore(0)

        async def read_fast() -> None:
            while len(received) < 20:
                batch = await fast.get()
                assert batch is not None
                received.extend(batch)
                for _ in batch:
                    progress.release()

        def writer() -> None:
            # Plays the ingest writer thread; waits for the fast reader only, never the slow one.
            for n in range(20):
                live.on_changes(
                    [light_online("a", n), Change("a", f"l{n}", "light", {"event": {"type": "heartbeat"}})]
                )
                assert progress.acquire(timeout=5)

        reader = asyncio.create_task(read_fast())
        await loop.run_in_executor(None, writer)
        await reader

        assert [e.data["device_id"] for e in received] == [f"l{n}" for n in range(20)]
        assert [e.id for e in received] == sorted({e.id for e in received})
        assert fast.dropped == 0

        backlog = await drain(slow)
        assert backlog[0].name == "resync"
        assert len(backlog) <= 4
        assert backlog[0].data["dropped"] + len(backlog) - 1 == 20  # every event accounted for
        assert slow.dropped == backlog[0].data["dropped"]
        assert [e.id for e in backlog] == sorted(e.id for e in backlog)
        assert backlog[-1].id == received[-1].id
        assert await drain(elsewhere) == []

    asyncio.run(scenario())


def test_events_for_each_kind_of_change_and_outcome() -> None:
    async def scenario() -> None:
        live = LiveHub()
        sub, last = live.subscribe("a")
        resident, _ = live.subscribe("a", frozenset({"availability", "state"}))
        assert last == 0
        live.on_changes(
            [
                Change("a", "cam-1", "camera", {"event": {"type": "tampering", "ts": 1, "active": True}}),
                Change("a", "cam-1", "camera", {"event": {"type": "heartbeat", "ts": 2, "uptime_s": 1}}),
                Change("a", "l1", "light", {"state": {"on": True, "level": 10}}),
                Change("a", "l9", "light", {"status": "pending", "model": "X"}),
                Change("b", "l1", "light", {"online": False}),
            ]
        )
        live.on_outcome(Outcome("l1", "c1", CommandStatus.CONFIRMED, {"level": 10}), "a")
        events = await drain(sub)
        assert [(e.name, e.data["device_id"]) for e in events] == [
            ("event", "cam-1"),
            ("state", "l1"),
            ("device", "l9"),
            ("command", "l1"),
        ]
        assert events[2].data == {"device_id": "l9", "kind": "light", "status": "pending", "model": "X"}
        assert events[3].data["status"] == "confirmed"
        assert [e.name for e in await drain(resident)] == ["state"]

        live.stop()
        assert await sub.get() is None
        late, _ = live.subscribe("a")
        assert await late.get() is None

    asyncio.run(scenario())


def test_idle_stream_sends_pings_and_ends_after_its_lifetime(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    hub.runtime.live.ping_s = 0.1
    hub.runtime.live.max_stream_s = 1.0
    with serve(hub.http.app) as base, open_stream(base, area_code, headers=bearer(hub)) as stream:
        assert stream.next().event == "hello"
        with pytest.raises(AssertionError, match="stream ended"):
            stream.next()  # only pings, then the server ends the stream after max_stream_s
        assert stream.pings >= 3


def test_a_page_that_asks_gets_pings_as_events_and_the_interval_in_the_hello(
    hub: HubHarness, area_code: str
) -> None:
    # The phone gives a stream ping_s and a few seconds before calling the network silent.
    assert LiveHub().ping_s <= 5
    make_area(hub, area_code)
    hub.runtime.live.ping_s = 0.1
    ask = {"ping": "event"}
    with serve(hub.http.app) as base, open_stream(base, area_code, headers=bearer(hub), params=ask) as stream:
        hello = stream.next()
        assert hello.event == "hello"
        assert hello.data["ping_s"] == 0.1
        # An EventSource never sees a comment: the phone watches for these to notice a silent network.
        assert [stream.next().event for _ in range(3)] == ["ping", "ping", "ping"]
        assert stream.pings == 0
