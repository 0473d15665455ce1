"""Camera alerts to the area head, with simulated cameras on a real broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from devices.sim import SimTimings
from hub.models import Role
from tests.conftest import SimArea, statements

DEBOUNCE_S = 1.0
# Heartbeats and motion off: only what the test does happens.
QUIET = SimTimings(action_delay_s=0.02, play_duration_s=0.5, heartbeat_s=30.0, motion_per_hour=0.0)


def start(factory: Callable[..., SimArea], **kwargs: Any) -> SimArea:
    area = factory(lights=0, streets=0, speakers=0, speaker_zones=0, timings=QUIET, **kwargs)
    area.hub.runtime.camera_alerts.debounce_s = DEBOUNCE_S
    return area


def alerts(area: SimArea, kind: str | None = None) -> list[dict[str, Any]]:
    page = area.hub.http.get(f"/api/v1/areas/{area.code}/notifications", params={"limit": 500}).json()
    return [n for n in page["items"] if kind is None or n["kind"] == kind]


def incidents(area: SimArea) -> list[dict[str, Any]]:
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/incidents")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def outages(area: SimArea, camera: str) -> list[dict[str, Any]]:
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/cameras/{camera}/outages")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


@pytest.mark.parametrize("dedicated", [True, False], ids=["dedicated", "gateway"])
def test_short_flaps_alert_nobody(sim_area_factory: Callable[..., SimArea], dedicated: bool) -> None:
    area = start(sim_area_factory, cameras=1, dedicated=dedicated)
    hub, cam = area.hub, "cam-01"
    # A flap here includes the simulated camera's reconnect: near a second on a slow machine.
    debounce_s = hub.runtime.camera_alerts.debounce_s = 3.0
    for n in range(1, 4):
        area.fleet.device(cam).go_offline()
        hub.wait(lambda n=n: len(outages(area, cam)) == n, what=f"outage {n} recorded")
        area.fleet.device(cam).come_back()
        hub.wait(lambda: not outages(area, cam)[0]["ongoing"], what="outage closed")
    time.sleep(debounce_s + 0.5)  # every timer has fired by now
    history = outages(area, cam)
    assert len(history) == 3
    assert all(not o["alerted"] and o["duration_s"] < debounce_s for o in history)
    assert all(o["ended_at"] is not None for o in history)
    assert alerts(area) == []


def test_long_outage_alerts_once_then_recovery(sim_area_factory: Callable[..., SimArea]) -> None:
    area = start(sim_area_factory, cameras=2, dedicated=True)
    hub, cam = area.hub, "cam-02"
    area.fleet.device(cam).go_offline()
    hub.wait(lambda: len(alerts(area, "camera_offline")) == 1, timeout=DEBOUNCE_S + 5, what="the alert")
    [alert] = alerts(area, "camera_offline")
    assert alert["title"] == "Camera 02 mất kết nối"
    assert "cam-02" in alert["body"]
    assert alert["priority"] == "priority"
    assert alert["audience"] == "staff"
    [ongoing] = outages(area, cam)
    assert ongoing["ongoing"] is True
    assert ongoing["alerted"] is True

    time.sleep(DEBOUNCE_S)  # still offline: no second alert
    assert len(alerts(area, "camera_offline")) == 1
    area.fleet.device(cam).come_back()
    hub.wait(lambda: len(alerts(area, "camera_online")) == 1, what="the recovery notice")
    [back] = alerts(area, "camera_online")
    assert back["title"] == "Camera 02 đã kết nối lại"
    [done] = outages(area, cam)
    assert done["ongoing"] is False
    assert done["duration_s"] >= 2 * DEBOUNCE_S
    assert back["ref"] == alert["ref"] == f"incident:{incidents(area)[0]['id']}"
    assert "giây" in back["body"]  # the outage's duration, in words
    assert outages(area, "cam-01") == []  # the other camera never went dark

    # Residents never see camera alerts.
    phone = hub.client_for("cu-dan", hub.add_user("cu-dan", Role.RESIDENT, area.code))
    assert phone.get(f"/api/v1/areas/{area.code}/notifications").json()["items"] == []
    assert phone.get(f"/api/v1/areas/{area.code}/cameras/{cam}/outages").status_code == 403
    counts = {k: v for k, v in _camera_alert_counts(area).items() if v}
    assert counts == {"offline": 1, "recovered": 1}


def test_gateway_loss_alerts_once_for_its_cameras(sim_area_factory: Callable[..., SimArea]) -> None:
    area = start(sim_area_factory, cameras=2, dedicated=False)
    hub = area.hub
    area.fleet.abort_gateway(0)  # the broker publishes the gateway's Will: every camera behind it is gone
    hub.wait(lambda: len(alerts(area, "camera_offline")) == 1, timeout=DEBOUNCE_S + 5, what="the alert")
    [alert] = alerts(area, "camera_offline")
    assert alert["title"] == "Mất kết nối: cổng gw 1, 2 camera"
    area.fleet.restart_gateway(0)
    hub.wait(lambda: len(alerts(area, "camera_online")) == 1, what="the recovery")
    time.sleep(0.3)
    assert len(alerts(area, "camera_offline")) == 1
    for cam in ("cam-01", "cam-02"):
        [o] = outages(area, cam)
        assert o["alerted"] is True
        assert o["ended_at"] is not None


def test_a_power_cut_opens_every_camera_outage_in_one_statement(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = start(sim_area_factory, cameras=40, dedicated=False)
    hub = area.hub
    hub.runtime.camera_alerts.debounce_s = 60.0  # the outages, not the alerts
    with statements(hub) as seen:
        area.fleet.abort_gateway(0)  # every camera behind it goes dark at once
        hub.wait(lambda: all(outages(area, f"cam-{n:02d}") for n in range(1, 41)), what="40 outages")
    inserts = [sql for sql in seen if sql.lstrip().upper().startswith("INSERT INTO CAMERA_OUTAGES")]
    assert 1 <= len(inserts) <= 2, inserts  # one per ingest batch that carried the news, not one per camera
    assert all(len(outages(area, f"cam-{n:02d}")) == 1 for n in range(1, 41))


def test_tampering_alerts_at_once_and_not_in_a_storm(sim_area_factory: Callable[..., SimArea]) -> None:
    area = start(sim_area_factory, cameras=1, dedicated=True)
    hub, camera = area.hub, area.fleet.camera("cam-01")
    area.hub.runtime.camera_alerts.debounce_s = 30.0  # the storm window, long enough for the test
    camera.set_tampering(True)
    hub.wait(lambda: len(alerts(area, "camera_tampering")) == 1, timeout=3, what="the tampering alert")
    [alert] = alerts(area, "camera_tampering")
    assert alert["title"] == "Camera 01 bị che hoặc bị tác động"
    assert alert["priority"] == "priority"
    for _ in range(3):  # someone keeps covering and uncovering it
        camera.set_tampering(False)
        camera.set_tampering(True)
    hub.wait(
        lambda: sum(e["type"] == "tampering" for e in _events(area, "cam-01")) >= 7,
        what="every tampering event stored",
    )
    time.sleep(0.2)
    assert len(alerts(area, "camera_tampering")) == 1


def _events(area: SimArea, device: str) -> list[dict[str, Any]]:
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/devices/{device}/events", params={"limit": 100})
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _camera_alert_counts(area: SimArea) -> dict[str, float]:
    metric = area.hub.runtime.notifications.metrics.camera_alerts
    return {
        s.labels["kind"]: s.value for m in metric.collect() for s in m.samples if s.name.endswith("_total")
    }
