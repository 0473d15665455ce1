"""A light changed at the light itself (wall switch, its own button): adopted, or undone by the hub."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from devices.messages import Outbound
from devices.payloads import Kind
from devices.sim.control import control_topic
from hub.broker.process import Broker
from hub.registry.changes import Change
from schedules.local_changes import LocalChanges
from tests.conftest import HubHarness, SimArea, raw_link


def _level(hub: HubHarness, code: str, device_id: str) -> Any:
    return ((hub.device(code, device_id) or {}).get("state") or {}).get("level")


def _desired(hub: HubHarness, code: str, device_id: str) -> dict[str, Any]:
    rows = hub.http.get(f"/api/v1/areas/{code}/lights/desired").json()
    return next((r for r in rows if r["device_id"] == device_id), {})


def _order(hub: HubHarness, code: str, device_id: str, level: int) -> None:
    r = hub.http.post(
        f"/api/v1/areas/{code}/commands",
        json={
            "target": {"device_id": device_id},
            "action": {"type": "light.set", "on": True, "level": level},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["status"] == "confirmed", r.text


def _press(broker: Broker, code: str, device_id: str, level: int) -> None:
    """Turn the light's own dimmer, through the simulator's control topic."""
    link = raw_link(broker, "press")
    try:
        body = json.dumps({"action": "press", "on": True, "level": level}).encode()
        assert link.publish(Outbound(control_topic(code, device_id), body, qos=1))
    finally:
        link.stop()


def _reconnect(area: SimArea, device_id: str) -> None:
    hub = area.hub
    area.fleet.device(device_id).go_offline()
    hub.wait(lambda: (hub.device(area.code, device_id) or {}).get("online") is False, what="light offline")
    area.fleet.device(device_id).come_back()
    hub.wait(lambda: (hub.device(area.code, device_id) or {}).get("online") is True, what="light back")


def test_a_local_change_becomes_the_desired_state_and_survives_a_reconnect(
    broker: Broker, sim_area_factory: Callable[..., SimArea]
) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=0, speaker_zones=0, cameras=0)
    hub = area.hub
    hub.wait_scheduling()
    light = next(s.device_id for s in area.specs if s.kind is Kind.LIGHT)
    _order(hub, area.code, light, 30)
    assert _desired(hub, area.code, light)["source"] == "manual"

    _press(broker, area.code, light, 80)
    hub.wait(lambda: _level(hub, area.code, light) == 80, what="the light's own change stored")
    hub.wait(
        lambda: _desired(hub, area.code, light).get("source") == "local",
        what="the local change adopted as the desired state",
    )
    assert _desired(hub, area.code, light)["level"] == 80

    _reconnect(area, light)
    hub.wait(lambda: _level(hub, area.code, light) is not None, what="state after reconnecting")
    time.sleep(2)  # several passes of the scheduler (every 0.2 s here): none puts 30 back
    assert _level(hub, area.code, light) == 80
    assert area.fleet.light(light).state.level == 80
    local = hub.http.get(
        f"/api/v1/areas/{area.code}/commands", params={"device_id": light, "limit": 100}
    ).json()["items"]
    assert [c["source"] for c in local if c["source"] == "local"] == ["local"]
    audit = hub.http.get(f"/api/v1/areas/{area.code}/audit", params={"action": "light.local"}).json()
    assert audit["total"] == 1
    assert audit["items"][0]["actor"] == "local"


def test_an_area_where_the_hub_wins_puts_its_desired_state_back(
    broker: Broker, sim_area_factory: Callable[..., SimArea]
) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=0, speaker_zones=0, cameras=0)
    hub = area.hub
    hub.wait_scheduling()
    r = hub.http.patch(f"/api/v1/areas/{area.code}", json={"local_changes": "hub_wins"})
    assert r.status_code == 200, r.text
    assert r.json()["local_changes"] == "hub_wins"
    light = next(s.device_id for s in area.specs if s.kind is Kind.LIGHT)
    _order(hub, area.code, light, 30)

    _press(broker, area.code, light, 80)
    hub.wait(
        lambda: area.fleet.light(light).state.level == 30 and _level(hub, area.code, light) == 30,
        timeout=15,
        what="the hub re-applies its desired state",
    )
    desired = _desired(hub, area.code, light)
    assert (desired["source"], desired["level"]) == ("manual", 30)

    def restore_confirmed() -> bool:
        rows = hub.http.get(
            f"/api/v1/areas/{area.code}/commands", params={"device_id": light, "limit": 100}
        ).json()["items"]
        return any(c["source"] == "restore" and c["status"] == "confirmed" for c in rows)

    # The light's state and the command's confirmation are written by different threads.
    hub.wait(restore_confirmed, what="the restore command confirmed")
    audit = hub.http.get(f"/api/v1/areas/{area.code}/audit", params={"action": "light.local"}).json()
    assert audit["total"] == 1


def test_a_state_the_broker_held_while_the_hub_was_away_is_no_local_change() -> None:
    local = LocalChanges()
    local.link_up(1_000_000)

    def light(level: int, ts: int) -> Change:
        return Change("a", "light-1", "light", {"state": {"ts": ts, "on": True, "level": level}})

    assert not local.collect([light(30, 990_000)])  # what it was doing: nothing to compare with yet
    assert not local.collect([light(100, 999_000)])  # a power cut while the hub was down: held
    assert local.collect([light(60, 1_000_500)])  # someone's dimmer, now
