"""The camera status list against simulated cameras on a real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from devices.payloads import Storage
from hub.models import Role
from tests.conftest import SimArea


def cameras(area: SimArea, **params: Any) -> dict[str, Any]:
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/cameras", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def camera_ids(area: SimArea) -> list[str]:
    return sorted(s.device_id for s in area.specs if s.kind == "camera")


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs meanwhile (from any thread)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_cameras_are_listed_online_with_their_state(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, speakers=0, cameras=3)
    page = cameras(area)
    assert page["total"] == 3
    assert [c["device_id"] for c in page["items"]] == camera_ids(area)
    for cam in page["items"]:
        assert cam["online"] is True
        assert cam["last_seen"] is not None
        assert cam["state"] == {
            "recording": True,
            "motion": False,
            "tampering": False,
            "storage": "ok",
            "ts": cam["state"]["ts"],
        }
        assert cam["events"] == []


def test_tampering_shows_in_state_and_as_the_newest_event(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, speakers=0, cameras=3)
    hub = area.hub
    first, second, _ = camera_ids(area)
    area.fleet.camera(second).set_storage(Storage.DEGRADED)
    area.fleet.camera(second).trigger_motion()
    area.fleet.camera(second).set_tampering(True)

    def listed() -> dict[str, Any]:
        return {c["device_id"]: c for c in cameras(area)["items"]}

    hub.wait(
        lambda: (
            (listed()[second]["state"] or {}).get("tampering") is True
            and len(listed()[second]["events"]) == 3
        ),
        what="tampering reported",
    )
    cam = listed()[second]
    assert cam["state"]["storage"] == "degraded"
    assert cam["state"]["motion"] is True
    assert [e["type"] for e in cam["events"]] == ["tampering", "motion", "storage"]
    assert cam["events"][0]["data"]["active"] is True
    assert listed()[first]["events"] == []
    assert listed()[first]["state"]["tampering"] is False

    one = cameras(area, events=1)["items"]
    assert [e["type"] for c in one for e in c["events"]] == ["tampering"]
    assert all(c["events"] == [] for c in cameras(area, events=0)["items"])
    assert cameras(area, online="true")["total"] == 3
    assert cameras(area, online="false")["total"] == 0


def test_events_of_a_whole_page_come_from_one_query(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=0, streets=0, speakers=0, cameras=4)
    for cam in camera_ids(area):
        area.fleet.camera(cam).set_tampering(True)
    area.hub.wait(lambda: all(c["events"] for c in cameras(area)["items"]), what="every camera has an event")
    with statements(area.hub.runtime.engine) as seen:
        page = cameras(area, events=20)
    assert all(len(c["events"]) == 1 for c in page["items"])
    assert sum("FROM device_events" in sql for sql in seen) == 1


def test_paging_and_limits(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, speakers=0, cameras=5)
    ids = camera_ids(area)
    page = cameras(area, limit=2, offset=2)
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 2)
    assert [c["device_id"] for c in page["items"]] == ids[2:4]
    assert cameras(area, limit=2, offset=4)["items"][0]["device_id"] == ids[4]
    assert cameras(area, offset=10)["items"] == []
    url = f"/api/v1/areas/{area.code}/cameras"
    assert area.hub.http.get(url, params={"events": 21}).status_code == 422
    assert area.hub.http.get(url, params={"limit": 0}).status_code == 422


def test_residents_may_not_list_cameras(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=1, speakers=0, cameras=1)
    hub = area.hub
    resident = hub.client_for("resident-c", hub.add_user("resident-c", Role.RESIDENT, area.code))
    r = resident.get(f"/api/v1/areas/{area.code}/cameras")
    assert r.status_code == 403
    deputy = hub.client_for("deputy-c", hub.add_user("deputy-c", Role.DEPUTY, area.code))
    assert deputy.get(f"/api/v1/areas/{area.code}/cameras").status_code == 200
