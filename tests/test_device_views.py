"""Device reads come from a cache of ready JSON; it never shows a device older than the API's own view."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from hub.broker.process import Broker
from hub.models import Device
from tests.conftest import HubHarness, SimArea, make_area, statements


def read(h: HubHarness, area: str, device: str) -> dict[str, Any]:
    r = h.http.get(f"/api/v1/areas/{area}/devices/{device}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_confirmed_command_shows_in_the_very_next_read(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=0, cameras=0)
    light = next(s.device_id for s in area.specs if s.kind == "light")
    read(area.hub, area.code, light)  # cached until the light reports (heartbeats included)
    for level in (10, 70, 35):
        r = area.hub.http.post(
            f"/api/v1/areas/{area.code}/commands",
            json={
                "target": {"device_id": light},
                "action": {"type": "light.set", "on": True, "level": level},
            },
        )
        assert r.json()["summary"] == {"confirmed": 1}, r.text
        assert read(area.hub, area.code, light)["state"]["level"] == level


def test_changes_through_the_api_show_at_once(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    r = hub.http.post(f"/api/v1/areas/{area_code}/devices", json={"device_id": "light-x", "kind": "light"})
    assert r.status_code == 201, r.text
    assert read(hub, area_code, "light-x")["name"] == "light-x"
    with statements(hub) as seen:  # nothing reports for this device: the read is cached
        assert read(hub, area_code, "light-x")["name"] == "light-x"
    assert not [s for s in seen if "FROM devices" in s], "a repeated read went to the database"
    device = f"/api/v1/areas/{area_code}/devices/light-x"
    assert hub.http.patch(device, json={"name": "Đèn cổng"}).status_code == 200
    assert read(hub, area_code, "light-x")["name"] == "Đèn cổng"
    assert hub.http.post(f"{device}/retire").status_code == 200
    assert read(hub, area_code, "light-x")["status"] == "retired"


def test_a_change_from_another_process_shows_within_the_cache_time(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str
) -> None:
    hub = hub_factory(broker, api_cache_s=0.5)
    make_area(hub, area_code)
    assert hub.http.post(
        f"/api/v1/areas/{area_code}/devices", json={"device_id": "l1", "kind": "light"}
    ).is_success
    assert read(hub, area_code, "l1")["name"] == "l1"
    with Session(hub.runtime.engine) as other, other.begin():
        other.execute(update(Device).where(Device.device_id == "l1").values(name="renamed elsewhere"))
    deadline = time.monotonic() + 1.5
    while read(hub, area_code, "l1")["name"] != "renamed elsewhere":
        assert time.monotonic() < deadline, "the other process's change never showed"
        time.sleep(0.05)
