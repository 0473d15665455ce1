"""Commands through the HTTP API to simulated devices on a real broker, with confirmed state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from tests.conftest import SimArea


def command(area: SimArea, target: dict[str, Any], action: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = area.hub.http.post(
        f"/api/v1/areas/{area.code}/commands",
        json={"target": target, "action": action, **extra},
        headers=extra.pop("headers", None) if "headers" in extra else None,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def lights(area: SimArea) -> list[str]:
    return [s.device_id for s in area.specs if s.kind == "light"]


def test_switch_one_light_returns_its_confirmed_state(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory()
    light = lights(area)[0]
    body = command(area, {"device_id": light}, {"type": "light.set", "on": True, "level": 60})
    assert body["summary"] == {"confirmed": 1}
    assert body["pending"] == []
    (result,) = body["results"]
    assert result["state"]["level"] == 60
    assert result["state"]["on"] is True
    assert result["state"]["cmd"] == result["command_id"]
    assert area.fleet.device(light).state.level == 60  # the simulated hardware really changed

    def audit() -> dict[str, Any]:
        entry: dict[str, Any] = area.hub.http.get(f"/api/v1/areas/{area.code}/audit").json()["items"][0]
        return entry

    # Recorded with the command ("sent 1"); the devices' answers are filled in just after.
    assert audit()["action"] == "light.set"
    assert audit()["target"] == f"device:{light}"
    area.hub.wait(lambda: audit()["result"] == "confirmed 1", what="the audit entry's final result")


def test_zone_command_confirms_every_light_in_about_one_round_trip(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=20, streets=2)
    zone = area.zone_id("Đường 1")
    started = time.monotonic()
    body = command(area, {"zone_id": zone}, {"type": "light.set", "level": 30})
    elapsed = time.monotonic() - started
    in_zone = [s.device_id for s in area.specs if s.zone == "Đường 1"]
    assert sorted(r["device_id"] for r in body["results"]) == sorted(in_zone)
    assert body["summary"] == {"confirmed": len(in_zone)}
    assert all(r["state"]["level"] == 30 for r in body["results"])
    # Ten devices that each take 20 ms: sequential round trips would need 200 ms or more.
    assert elapsed < 10 * area.fleet.timings.action_delay_s * 5


def test_ignored_command_times_out_and_is_reported_pending(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory()
    deaf, ok = lights(area)[:2]
    area.fleet.device(deaf).ignore_commands = True
    body = command(area, {"area": True}, {"type": "light.set", "on": False}, wait_ms=500)
    statuses = {r["device_id"]: r["status"] for r in body["results"]}
    assert statuses[deaf] == "timed_out"
    assert statuses[ok] == "confirmed"
    assert body["pending"] == [deaf]
    cmd_id = next(r["command_id"] for r in body["results"] if r["device_id"] == deaf)
    stored = area.hub.http.get(f"/api/v1/areas/{area.code}/commands/{cmd_id}").json()
    assert stored["status"] == "timed_out"


def test_command_to_offline_light_is_delivered_when_it_returns(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory()
    light = lights(area)[0]
    hub = area.hub
    area.fleet.device(light).go_offline()
    hub.wait(lambda: (hub.device(area.code, light) or {}).get("online") is False, what="light offline")
    body = command(area, {"device_id": light}, {"type": "light.set", "level": 77}, wait_ms=200, ttl_s=60)
    assert body["results"][0]["status"] == "queued"
    cmd_id = body["results"][0]["command_id"]
    area.fleet.device(light).come_back()

    def confirmed() -> bool:
        return bool(
            hub.http.get(f"/api/v1/areas/{area.code}/commands/{cmd_id}").json()["status"] == "confirmed"
        )

    hub.wait(confirmed, what="queued command delivered and confirmed after reconnect")
    assert area.fleet.device(light).state.level == 77


def test_command_past_its_ttl_expires(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory()
    light = lights(area)[0]
    hub = area.hub
    area.fleet.device(light).go_offline()
    hub.wait(lambda: (hub.device(area.code, light) or {}).get("online") is False, what="light offline")
    body = command(area, {"device_id": light}, {"type": "light.set", "level": 5}, wait_ms=0, ttl_s=1)
    cmd_id = body["results"][0]["command_id"]

    def expired() -> bool:
        return bool(
            hub.http.get(f"/api/v1/areas/{area.code}/commands/{cmd_id}").json()["status"] == "expired"
        )

    hub.wait(expired, timeout=5, what="command expired")
    area.fleet.device(light).come_back()
    hub.wait(lambda: (hub.device(area.code, light) or {}).get("online") is True, what="light back")
    time.sleep(0.3)
    assert area.fleet.device(light).state.level != 5  # never executed


def test_retried_request_with_same_idempotency_key_acts_once(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory()
    light = lights(area)[0]
    url = f"/api/v1/areas/{area.code}/commands"
    payload = {"target": {"device_id": light}, "action": {"type": "light.set", "level": 42}}
    headers = {"Idempotency-Key": "retry-key-0001"}
    first = area.hub.http.post(url, json=payload, headers=headers)
    second = area.hub.http.post(url, json=payload, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    commands = area.hub.http.get(url, params={"device_id": light}).json()["items"]
    # Only the request's own: re-applying desired state may send the same level meanwhile.
    manual = [c["id"] for c in commands if c["source"] == "manual"]
    assert manual == [first.json()["results"][0]["command_id"]]
    other = area.hub.http.post(
        url, json={**payload, "action": {"type": "light.set", "level": 1}}, headers=headers
    )
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]


def test_speaker_volume_and_bad_requests(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory()
    speaker = next(s.device_id for s in area.specs if s.kind == "speaker")
    body = command(area, {"device_id": speaker}, {"type": "speaker.volume", "volume": 35})
    assert body["results"][0]["state"]["volume"] == 35
    url = f"/api/v1/areas/{area.code}/commands"
    bad = area.hub.http.post(
        url, json={"target": {"area": True}, "action": {"type": "light.set", "level": 101}}
    )
    assert bad.status_code == 422
    assert "level" in bad.text
    both = area.hub.http.post(
        url, json={"target": {"area": True, "zone_id": 1}, "action": {"type": "speaker.stop"}}
    )
    assert both.status_code == 422
    assert "exactly one" in both.text
    wrong_kind = area.hub.http.post(
        url, json={"target": {"device_id": speaker}, "action": {"type": "light.set", "on": True}}
    )
    assert wrong_kind.status_code == 422
    assert "no active light" in wrong_kind.json()["detail"]
