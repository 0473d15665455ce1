"""Alert storms: outages that begin together are one incident, one alert and one recovery notice.

Real broker, hub and simulated devices; the gateway's power is cut with the simulator's controls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devices.sim import SimTimings
from tests.conftest import SimArea
from tests.test_camera_alerts import alerts, incidents

DEBOUNCE_S = 1.0
QUIET = SimTimings(action_delay_s=0.02, play_duration_s=0.5, heartbeat_s=30.0, motion_per_hour=0.0)


def start(factory: Callable[..., SimArea], **kwargs: Any) -> SimArea:
    layout: dict[str, Any] = {"lights": 0, "streets": 0, "speakers": 0, "speaker_zones": 0} | kwargs
    area = factory(timings=QUIET, **layout)
    area.hub.runtime.camera_alerts.debounce_s = DEBOUNCE_S
    return area


def detail(area: SimArea, incident_id: int, **paging: int) -> dict[str, Any]:
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/incidents/{incident_id}", params=paging)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def opened(area: SimArea) -> float:
    metric = area.hub.runtime.notifications.metrics.incidents_opened
    return sum(s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total"))


def test_a_power_cut_is_one_alert_and_one_recovery(sim_area_factory: Callable[..., SimArea]) -> None:
    area = start(sim_area_factory, cameras=40, lights=12, streets=2)
    hub = area.hub
    area.fleet.abort_gateway(0)  # the power of everything behind gateway 1 fails at once
    hub.wait(lambda: len(alerts(area, "camera_offline")) == 1, timeout=DEBOUNCE_S + 10, what="the alert")
    time.sleep(DEBOUNCE_S + 0.5)  # every camera's debounce is over: still one
    [alert] = alerts(area)
    assert alert["title"] == "Mất kết nối: cổng gw 1, 40 camera, 12 đèn"
    assert "Đường 1" in alert["body"]
    assert "Cổng và ngõ" in alert["body"]
    [incident] = incidents(area)
    assert alert["ref"] == f"incident:{incident['id']}"
    assert incident["ongoing"]
    assert incident["alerted"]
    assert incident["cameras"] == 40
    assert incident["kinds"] == {"camera": 40, "light": 12}
    assert incident["gateways"] == ["gw 1"]
    devices = detail(area, incident["id"])["devices"]
    assert devices["total"] == 40
    assert [d["device_id"] for d in devices["items"]] == [f"cam-{n:02d}" for n in range(1, 41)]
    assert all(d["ongoing"] and d["outages"] == 1 for d in devices["items"])
    # A page at a time: a power cut's incident has thousands of cameras.
    page = detail(area, incident["id"], limit=15, offset=30)
    assert page["cameras"] == 40
    assert page["devices"]["total"] == 40
    assert (page["devices"]["limit"], page["devices"]["offset"]) == (15, 30)
    assert [d["device_id"] for d in page["devices"]["items"]] == [f"cam-{n:02d}" for n in range(31, 41)]

    area.fleet.restart_gateway(0)
    hub.wait(lambda: len(alerts(area, "camera_online")) == 1, what="the recovery notice")
    time.sleep(0.5)
    assert len(alerts(area)) == 2
    back = alerts(area, "camera_online")[0]
    assert back["title"] == "Đã kết nối lại: cổng gw 1, 40 camera, 12 đèn"
    assert "giây" in back["body"]  # how long it lasted
    assert back["ref"] == alert["ref"]
    [done] = incidents(area)
    assert not done["ongoing"]
    assert done["duration_s"] >= DEBOUNCE_S
    assert opened(area) == 1


def test_two_areas_cut_at_once_give_one_alert_each(
    sim_area_factory: Callable[..., SimArea], area_code: str
) -> None:
    one = start(sim_area_factory, cameras=6, lights=4, streets=1)
    two = start(sim_area_factory, cameras=5, code=f"{area_code}b")
    one.fleet.abort_gateway(0)
    two.fleet.abort_gateway(0)
    for area in (one, two):
        area.hub.wait(lambda a=area: len(alerts(a)) == 1, timeout=DEBOUNCE_S + 10, what="one alert each")
    time.sleep(DEBOUNCE_S + 0.5)
    assert [a["title"] for a in alerts(one)] == ["Mất kết nối: cổng gw 1, 6 camera, 4 đèn"]
    assert [a["title"] for a in alerts(two)] == ["Mất kết nối: cổng gw 1, 5 camera"]
    assert len(incidents(one)) == len(incidents(two)) == 1


def test_a_flapping_camera_inside_an_incident_adds_nothing(sim_area_factory: Callable[..., SimArea]) -> None:
    area = start(sim_area_factory, cameras=3, dedicated=True)
    hub, fleet = area.hub, area.fleet
    # Long enough that both Wills are in before the alert names what is dark, on a busy machine.
    debounce_s = hub.runtime.camera_alerts.debounce_s = 3.0
    fleet.device("cam-01").go_offline()
    fleet.device("cam-02").go_offline()
    hub.wait(lambda: len(alerts(area)) == 1, timeout=debounce_s + 10, what="the alert")
    assert alerts(area)[0]["title"] == "Mất kết nối: 2 camera"
    [incident] = incidents(area)

    # Another camera that flaps within the window joins; a member that flaps later stays in.
    for _ in range(3):
        fleet.device("cam-03").go_offline()
        hub.wait(lambda: _outages(area, incident["id"], "cam-03") >= 1, what="cam-03 in the incident")
        fleet.device("cam-03").come_back()
        hub.wait(lambda: _ongoing(area, incident["id"], "cam-03") is False, what="cam-03 back")
    hub.runtime.camera_alerts.incidents.window_s = 0.0
    fleet.device("cam-01").come_back()
    hub.wait(lambda: _ongoing(area, incident["id"], "cam-01") is False, what="cam-01 back")
    fleet.device("cam-01").go_offline()
    hub.wait(lambda: _outages(area, incident["id"], "cam-01") == 2, what="cam-01's second outage")
    time.sleep(debounce_s + 0.5)
    assert len(alerts(area)) == 1
    assert len(incidents(area)) == 1
    assert _outages(area, incident["id"], "cam-03") == 3

    fleet.device("cam-01").come_back()
    fleet.device("cam-02").come_back()
    hub.wait(lambda: len(alerts(area, "camera_online")) == 1, what="the recovery notice")
    time.sleep(0.3)
    assert len(alerts(area)) == 2


def _device(area: SimArea, incident_id: int, device_id: str) -> dict[str, Any] | None:
    items = detail(area, incident_id)["devices"]["items"]
    return next((d for d in items if d["device_id"] == device_id), None)


def _outages(area: SimArea, incident_id: int, device_id: str) -> int:
    d = _device(area, incident_id, device_id)
    return int(d["outages"]) if d else 0


def _ongoing(area: SimArea, incident_id: int, device_id: str) -> bool | None:
    d = _device(area, incident_id, device_id)
    return bool(d["ongoing"]) if d else None
