"""Prometheus metrics of a working hub: traffic, rejections, command outcomes and latency, devices online."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import SimArea
from tests.test_schedules import clock_in, create, levels


def scrape(area: SimArea) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = area.hub.http.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_cover_traffic_commands_devices_and_schedules(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=3, streets=1, speakers=1, cameras=1)
    hub = area.hub
    light = next(s.device_id for s in area.specs if s.kind == "light")
    r = hub.http.post(
        f"/api/v1/areas/{area.code}/commands",
        json={"target": {"device_id": light}, "action": {"type": "light.set", "level": 9}},
    )
    assert r.json()["summary"] == {"confirmed": 1}
    hub.wait_scheduling()
    create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(2), "on": True, "level": 44}])
    hub.wait(lambda: levels(area) == {(True, 44)}, what="timetable step")
    confirmed = ("khu_command_outcomes_total", (("action", "light.set"), ("status", "confirmed")))
    hub.wait(lambda: scrape(area).get(confirmed, 0) >= 4, what="four confirmations counted")
    m = scrape(area)
    assert m[("khu_command_latency_seconds_count", ())] >= 4
    assert m[("khu_devices_online", (("kind", "light"),))] >= 3
    assert m[("khu_devices_online", (("kind", "camera"),))] >= 1
    assert m[("khu_schedule_runs_total", (("kind", "lighting"), ("outcome", "done")))] == 1
    assert m[("khu_mqtt_messages_out_total", ())] >= 4
    assert m[("khu_mqtt_messages_in_total", (("channel", "state"),))] >= 4
    assert m[("khu_mqtt_connected", ())] == 1
