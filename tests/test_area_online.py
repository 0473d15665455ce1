"""A simulated area on a real broker comes online in the hub, and goes offline through Last Wills."""

from __future__ import annotations

import time
from collections.abc import Callable

from hub.broker.process import Broker
from tests.conftest import HubHarness, SimArea


def test_simulated_light_speaker_and_camera_reach_database_and_api(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=4, streets=2, speakers=2, cameras=2)
    hub = area.hub
    devices = hub.http.get(f"/api/v1/areas/{area.code}/devices", params={"limit": 100}).json()["items"]
    by_kind: dict[str, list[dict[str, object]]] = {}
    for d in devices:
        by_kind.setdefault(str(d["kind"]), []).append(d)
    assert {k: len(v) for k, v in by_kind.items()} == {"camera": 2, "gateway": 1, "light": 4, "speaker": 2}
    for d in devices:
        assert d["online"] is True
        assert d["status"] == "active"
        assert d["model"]
    light = by_kind["light"][0]
    assert light["state"]["kind"] == "light"
    assert light["via"] == "gw-1"
    assert by_kind["speaker"][0]["state"]["playback"] == "idle"
    assert by_kind["camera"][0]["state"]["storage"] == "ok"
    summary = hub.http.get(f"/api/v1/areas/{area.code}").json()
    assert summary["devices"]["light"] == {"total": 4, "online": 4, "pending": 0}
    assert {z["name"] for z in summary["zones"]} >= {"Đường 1", "Đường 2"}


def test_dropped_connection_shows_offline_through_last_will(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=1, cameras=1, dedicated=True)
    hub = area.hub
    light_id = area.specs[0].device_id
    area.fleet.device(light_id).go_offline()  # abrupt: no DISCONNECT, so the broker sends the Will
    hub.wait(lambda: (hub.device(area.code, light_id) or {}).get("online") is False, what="Last Will applied")
    others = [s.device_id for s in area.specs if s.device_id != light_id]
    assert all((hub.device(area.code, d) or {}).get("online") for d in others)
    area.fleet.device(light_id).come_back()
    hub.wait(lambda: (hub.device(area.code, light_id) or {}).get("online") is True, what="back online")


def test_gateway_last_will_takes_its_devices_offline(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=1, cameras=1, connections=1)
    hub = area.hub
    area.fleet.abort_gateway(0)

    def all_offline() -> bool:
        page = hub.http.get(f"/api/v1/areas/{area.code}/devices", params={"online": "true"}).json()
        return bool(page["total"] == 0)

    hub.wait(all_offline, what="every device behind the dead gateway offline")


def test_retained_online_of_devices_behind_a_dead_gateway_is_not_believed(
    sim_area_factory: Callable[..., SimArea], hub_factory: Callable[..., HubHarness], broker: Broker
) -> None:
    area = sim_area_factory(lights=2, streets=1, speakers=1, cameras=1, connections=1)
    area.fleet.abort_gateway(0)
    online = {"online": "true"}
    devices_url = f"/api/v1/areas/{area.code}/devices"
    area.hub.wait(
        lambda: area.hub.http.get(devices_url, params=online).json()["total"] == 0, what="all offline"
    )
    area.hub.runtime.stop()
    # A restarted hub (same database) is replayed every retained status, children's "online" included.
    again = hub_factory(broker)

    def replayed() -> bool:
        seen = again.runtime.metrics.registry.get_sample_value(
            "khu_mqtt_messages_in_total", {"channel": "status"}
        )
        return (seen or 0) >= 5

    again.wait(replayed, what="retained statuses replayed")
    time.sleep(0.3)
    assert again.http.get(devices_url, params=online).json()["total"] == 0
