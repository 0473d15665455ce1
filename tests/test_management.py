"""Managing accounts, areas, zones and devices through the API, each change audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devices import topics
from devices.codec import encode_report
from devices.mqtt_client import MqttLink
from devices.payloads import DeviceInfo, Kind, LightState
from devices.sim import DeviceSpec, SimFleet
from hub.broker.process import Broker
from hub.models import Role
from hub.registry.areas import Registration
from tests.conftest import FAST, HubHarness, make_area, sim_accounts

PASSWORD = "Mật-khẩu-dài-1"
LIGHT_INFO = DeviceInfo(kind=Kind.LIGHT, model="LED-60", firmware="1.0", rated_w=60.0)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if status != 204 else None


def detail(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    text: str = str(r.json()["detail"])
    return text


def audit(h: HubHarness, code: str) -> list[dict[str, Any]]:
    """The area's audit rows, oldest first."""
    items: list[dict[str, Any]] = ok(h.http.get(f"/api/v1/areas/{code}/audit", params={"limit": 500}))[
        "items"
    ]
    return items[::-1]


def actions(h: HubHarness, code: str) -> list[tuple[str, str, str]]:
    return [(row["actor"], row["action"], row["target"]) for row in audit(h, code)]


def head_of(h: HubHarness, code: str) -> TestClient:
    username = f"head.{code}"
    return h.client_for(username, h.add_user(username, Role.HEAD, code))


def send(link: MqttLink, area: str, device: str, channel: topics.Channel, body: bytes | str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    assert link.publish(encode_report(area, device, channel, raw))


def announce_pending(h: HubHarness, link: MqttLink, code: str, device: str) -> None:
    send(link, code, device, topics.Channel.INFO, LIGHT_INFO.model_dump_json())
    h.wait(lambda: (h.device(code, device) or {}).get("status") == "pending", what=f"{device} pending")


# --- accounts ------------------------------------------------------------------------------


def test_admin_creates_and_edits_areas(hub: HubHarness, area_code: str) -> None:
    admin = hub.http
    area = ok(
        admin.post(
            "/api/v1/areas",
            json={"code": area_code, "name": "Tổ dân phố 5", "latitude": 21.03, "longitude": 105.85},
        ),
        201,
    )
    assert area == {
        "code": area_code,
        "name": "Tổ dân phố 5",
        "latitude": 21.03,
        "longitude": 105.85,
        "tts_voice": "vi",
        "timezone": "Asia/Ho_Chi_Minh",
        "local_changes": "adopt",
        "zones": [],
    }
    dup = {"code": area_code, "name": "x", "latitude": 0, "longitude": 0}
    assert "already exists" in detail(admin.post("/api/v1/areas", json=dup), 409)
    bad_tz = {**dup, "code": f"{area_code}z", "timezone": "Asia/Hanoi-ish"}
    assert "unknown time zone" in detail(admin.post("/api/v1/areas", json=bad_tz), 422)
    off_map = {**dup, "code": f"{area_code}z", "latitude": 91}
    assert "latitude" in detail(admin.post("/api/v1/areas", json=off_map), 422)
    moved = ok(admin.patch(f"/api/v1/areas/{area_code}", json={"timezone": "Asia/Bangkok", "longitude": 106}))
    assert (moved["timezone"], moved["longitude"], moved["name"]) == ("Asia/Bangkok", 106, "Tổ dân phố 5")
    head = head_of(hub, area_code)
    assert detail(head.patch(f"/api/v1/areas/{area_code}", json={"name": "x"}), 403) == (
        "only admin may do this; you are head"
    )
    assert "nothing to change" in detail(admin.patch(f"/api/v1/areas/{area_code}", json={}), 422)
    rows = audit(hub, area_code)
    assert [(r["action"], r["target"]) for r in rows] == [
        ("area.create", f"area:{area_code}"),
        ("area.update", f"area:{area_code}"),
    ]
    assert rows[0]["params"] == {
        "name": "Tổ dân phố 5",
        "latitude": 21.03,
        "longitude": 105.85,
        "timezone": "Asia/Ho_Chi_Minh",
    }
    assert rows[1]["params"] == {"timezone": "Asia/Bangkok", "longitude": 106}


def test_admin_creates_head_then_head_creates_deputy_and_resident(hub: HubHarness, area_code: str) -> None:
    admin = hub.http
    make_area(hub, area_code)
    new_head = {"username": "truong.khu", "password": PASSWORD, "role": "head", "area_code": area_code}
    head = ok(admin.post("/api/v1/users", json=new_head), 201)
    assert set(head) == {"id", "username", "display_name", "role", "area_id", "active"}  # never a hash
    assert "already exists" in detail(admin.post("/api/v1/users", json=new_head), 409)
    no_area = {**new_head, "username": "other"}
    del no_area["area_code"]
    assert "area_code is required" in detail(admin.post("/api/v1/users", json=no_area), 422)
    admin_in_area = {**new_head, "username": "other", "role": "admin"}
    assert "admin belongs to no area" in detail(admin.post("/api/v1/users", json=admin_in_area), 422)
    for wrong, why in (({"username": "Bad Name"}, "pattern"), ({"password": "short"}, "at least 10")):
        assert why in detail(admin.post("/api/v1/users", json={**new_head, **wrong}), 422)

    as_head = hub.client_for("truong.khu", PASSWORD)
    deputy = ok(
        as_head.post("/api/v1/users", json={"username": "pho.khu", "password": PASSWORD, "role": "deputy"}),
        201,
    )
    resident = ok(
        as_head.post(
            "/api/v1/users",
            json={"username": "cu.dan", "password": PASSWORD, "role": "resident", "display_name": " Bà Lan "},
        ),
        201,
    )
    assert deputy["area_id"] == resident["area_id"] == head["area_id"]
    assert resident["display_name"] == "Bà Lan"
    second_head = {"username": "head2", "password": PASSWORD, "role": "head"}
    assert "only deputy or resident" in detail(as_head.post("/api/v1/users", json=second_head), 403)

    as_deputy = hub.client_for("pho.khu", PASSWORD)
    forbidden = detail(
        as_deputy.post("/api/v1/users", json={"username": "x.y", "password": PASSWORD, "role": "resident"}),
        403,
    )
    assert forbidden == "only admin, head may do this; you are deputy"
    assert as_deputy.get("/api/v1/users").status_code == 403
    assert as_deputy.patch(f"/api/v1/users/{resident['id']}", json={"active": False}).status_code == 403

    mine = ok(as_head.get("/api/v1/users"))
    assert [u["username"] for u in mine["items"]] == ["cu.dan", "pho.khu", "truong.khu"]
    assert mine["total"] == 3
    residents = ok(admin.get("/api/v1/users", params={"area": area_code, "role": "resident"}))
    assert [u["username"] for u in residents["items"]] == ["cu.dan"]
    assert ok(admin.get("/api/v1/users", params={"limit": 1}))["limit"] == 1
    assert admin.get("/api/v1/users", params={"limit": 501}).status_code == 422

    renamed = ok(as_head.patch(f"/api/v1/users/{deputy['id']}", json={"display_name": "Anh Minh"}))
    assert renamed["display_name"] == "Anh Minh"
    assert "only deputy and resident" in detail(
        as_head.patch(f"/api/v1/users/{head['id']}", json={"display_name": "x"}), 403
    )
    assert "nothing to change" in detail(as_head.patch(f"/api/v1/users/{deputy['id']}", json={}), 422)
    admin_id = ok(admin.get("/api/v1/auth/me"))["id"]
    assert "your own account" in detail(admin.patch(f"/api/v1/users/{admin_id}", json={"active": False}), 403)
    assert ok(as_head.patch(f"/api/v1/users/{resident['id']}", json={"active": False}))["active"] is False
    assert (
        hub.http.post("/api/v1/auth/token", data={"username": "cu.dan", "password": PASSWORD}).status_code
        == 401
    )

    rows = audit(hub, area_code)
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        (rows[0]["actor"], "user.create", "user:truong.khu"),
        ("truong.khu", "user.create", "user:pho.khu"),
        ("truong.khu", "user.create", "user:cu.dan"),
        ("truong.khu", "user.update", "user:pho.khu"),
        ("truong.khu", "user.update", "user:cu.dan"),
    ]
    assert rows[1]["params"] == {"role": "deputy", "area": area_code}
    assert rows[4]["params"] == {"active": False}
    assert all(r["result"] for r in rows)
    everything = admin.get("/api/v1/audit", params={"limit": 500}).text
    assert PASSWORD not in everything  # passwords never reach the audit log


def test_head_of_another_area_sees_nothing_of_it(
    hub: HubHarness, area_code: str, device_link: MqttLink
) -> None:
    other = f"{area_code}b"
    make_area(hub, area_code, [Registration("light-1", Kind.LIGHT, "Đèn 1", "Đường 1")])
    make_area(hub, other)
    resident = ok(
        hub.http.post(
            "/api/v1/users",
            json={"username": "neighbour", "password": PASSWORD, "role": "resident", "area_code": area_code},
        ),
        201,
    )
    zone = ok(hub.http.get(f"/api/v1/areas/{area_code}/zones"))["items"][0]
    announce_pending(hub, device_link, area_code, "light-new")
    stranger = head_of(hub, other)
    base = f"/api/v1/areas/{area_code}"
    attempts = [
        stranger.get(f"/api/v1/users/{resident['id']}"),
        stranger.patch(f"/api/v1/users/{resident['id']}", json={"active": False}),
        stranger.get("/api/v1/users", params={"area": area_code}),
        stranger.post(
            "/api/v1/users",
            json={"username": "spy", "password": PASSWORD, "role": "resident", "area_code": area_code},
        ),
        stranger.get(f"{base}/zones"),
        stranger.post(f"{base}/zones", json={"name": "Của tôi"}),
        stranger.patch(f"{base}/zones/{zone['id']}", json={"name": "Của tôi"}),
        stranger.delete(f"{base}/zones/{zone['id']}"),
        stranger.get(f"{base}/devices"),
        stranger.patch(f"{base}/devices/light-1", json={"name": "x"}),
        stranger.post(f"{base}/devices/light-new/accept"),
        stranger.post(f"{base}/devices/light-1/retire"),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    assert "no area with code" in attempts[4].json()["detail"]
    assert [u["username"] for u in ok(stranger.get("/api/v1/users"))["items"]] == [f"head.{other}"]
    assert [r["action"] for r in audit(hub, area_code)] == ["user.create"]  # only the admin's
    assert (hub.device(area_code, "light-new") or {})["status"] == "pending"


# --- zones ---------------------------------------------------------------------------------


def test_zones_crud(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code, [Registration("light-1", Kind.LIGHT, "Đèn 1", "Ngõ 3")])
    head = head_of(hub, area_code)
    base = f"/api/v1/areas/{area_code}/zones"
    street = ok(head.post(base, json={"name": " Đường Lê Lợi "}), 201)
    assert street["name"] == "Đường Lê Lợi"
    assert "already has a zone named" in detail(head.post(base, json={"name": "Đường Lê Lợi"}), 409)
    assert head.post(base, json={"name": "   "}).status_code == 422
    assert head.post(base, json={"name": "x" * 121}).status_code == 422
    assert head.post(base, json={"name": "ok", "color": "red"}).status_code == 422  # unknown fields too
    listed = ok(head.get(base, params={"limit": 1}))
    assert (listed["total"], listed["limit"], [z["name"] for z in listed["items"]]) == (2, 1, ["Ngõ 3"])
    assert head.get(base, params={"limit": 0}).status_code == 422

    renamed = ok(head.patch(f"{base}/{street['id']}", json={"name": "Đường Trần Phú"}))
    assert renamed == {"id": street["id"], "name": "Đường Trần Phú"}
    assert "already has a zone named" in detail(
        head.patch(f"{base}/{street['id']}", json={"name": "Ngõ 3"}), 409
    )
    assert "no zone 999999" in detail(head.patch(f"{base}/999999", json={"name": "y"}), 404)

    alley = next(z for z in ok(head.get(base))["items"] if z["name"] == "Ngõ 3")
    assert head.delete(f"{base}/{alley['id']}").status_code == 204
    assert head.delete(f"{base}/{alley['id']}").status_code == 404
    light = hub.device(area_code, "light-1")
    assert light is not None
    assert light["zone_id"] is None  # the device stays, without a zone

    resident = hub.client_for("cu.dan2", hub.add_user("cu.dan2", Role.RESIDENT, area_code))
    assert [z["name"] for z in ok(resident.get(base))["items"]] == ["Đường Trần Phú"]
    assert "only admin, head" in detail(resident.post(base, json={"name": "z"}), 403)

    rows = audit(hub, area_code)
    assert [r["action"] for r in rows] == ["zone.create", "zone.rename", "zone.delete"]
    assert rows[1]["params"] == {"from": "Đường Lê Lợi", "to": "Đường Trần Phú"}
    assert rows[2]["result"] == "deleted; 1 device(s) left without a zone"
    assert all(r["actor"] == f"head.{area_code}" for r in rows)


# --- devices -------------------------------------------------------------------------------


@pytest.fixture
def new_light(broker: Broker, hub: HubHarness, area_code: str) -> Iterator[SimFleet]:
    """A light the hub has never heard of, newly wired to the area's gateway (which has an account)."""
    make_area(hub, area_code, [Registration("gw-1", Kind.GATEWAY, "Bộ gom")])
    spec = DeviceSpec("light-new", Kind.LIGHT, None, "Đèn mới", "LED-60", rated_w=60.0)
    fleet = SimFleet(
        "127.0.0.1", broker.port, area_code, [spec], timings=FAST, **sim_accounts(broker, area_code, [spec])
    )
    fleet.start()
    try:
        assert fleet.wait_online(10)
        yield fleet
    finally:
        fleet.stop()


def test_pending_device_accepted_into_a_zone_becomes_controllable(
    hub: HubHarness, area_code: str, new_light: SimFleet
) -> None:
    hub.wait(lambda: (hub.device(area_code, "light-new") or {}).get("online") is True, what="light announced")
    assert (hub.device(area_code, "light-new") or {})["status"] == "pending"
    head = head_of(hub, area_code)
    order = {"target": {"device_id": "light-new"}, "action": {"type": "light.set", "on": True, "level": 40}}
    commands = f"/api/v1/areas/{area_code}/commands"
    assert "no active light" in detail(head.post(commands, json=order), 422)  # pending: not controlled

    zone = ok(head.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Ngõ 7"}), 201)
    base = f"/api/v1/areas/{area_code}/devices/light-new"
    foreign = f"{area_code}x"
    make_area(hub, foreign)
    foreign_zone = ok(hub.http.post(f"/api/v1/areas/{foreign}/zones", json={"name": "Ngõ 7"}), 201)
    bad = head.post(f"{base}/accept", json={"zone_id": foreign_zone["id"]})
    assert f"zone_id {foreign_zone['id']}: no such zone in area" in detail(bad, 422)
    accepted = ok(head.post(f"{base}/accept", json={"name": "Đèn đầu ngõ", "zone_id": zone["id"]}))
    assert (accepted["status"], accepted["name"], accepted["zone_id"]) == (
        "active",
        "Đèn đầu ngõ",
        zone["id"],
    )
    # Its own broker account, in case it is later moved off the gateway; shown this once.
    assert accepted["mqtt"]["username"] == f"{area_code}.light-new"
    assert len(accepted["mqtt"]["password"]) >= 20
    again = detail(head.post(f"{base}/accept"), 409)
    assert (
        again
        == "device 'light-new' is active; accept applies to pending devices only (from active you may retire)"
    )

    body = ok(head.post(commands, json={**order, "target": {"zone_id": zone["id"]}}))
    assert body["summary"] == {"confirmed": 1}
    assert new_light.device("light-new").state.level == 40
    (row,) = [r for r in audit(hub, area_code) if r["action"] == "device.accept"]
    assert row["result"] == "pending -> active"
    assert row["params"] == {"name": "Đèn đầu ngõ", "zone_id": zone["id"]}


def test_rejected_device_is_ignored_from_then_on(
    hub: HubHarness, area_code: str, device_link: MqttLink
) -> None:
    make_area(hub, area_code)
    announce_pending(hub, device_link, area_code, "light-x")
    head = head_of(hub, area_code)
    base = f"/api/v1/areas/{area_code}/devices/light-x"
    assert ok(head.post(f"{base}/reject"))["status"] == "rejected"
    assert "(that is final)" in detail(head.post(f"{base}/retire"), 409)
    assert "is rejected; accept applies to pending devices only" in detail(head.post(f"{base}/accept"), 409)
    before = hub.rejections().get("retired_device", 0)
    state = LightState(ts=int(time.time() * 1000), on=True, level=80, power_w=48.0)
    send(device_link, area_code, "light-x", topics.Channel.STATE, state.model_dump_json())
    hub.wait(lambda: hub.rejections().get("retired_device", 0) > before, what="report rejected")
    assert (hub.device(area_code, "light-x") or {})["state"] is None
    assert [r["action"] for r in audit(hub, area_code)] == ["device.reject"]


def test_rename_move_and_retire(hub: HubHarness, area_code: str, device_link: MqttLink) -> None:
    make_area(hub, area_code, [Registration("light-1", Kind.LIGHT, "Đèn 1", "Đường 1")])
    head = head_of(hub, area_code)
    deputy = hub.client_for("pho", hub.add_user("pho", Role.DEPUTY, area_code))
    resident = hub.client_for("dan", hub.add_user("dan", Role.RESIDENT, area_code))
    alley = ok(head.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Ngõ 2"}), 201)
    base = f"/api/v1/areas/{area_code}/devices/light-1"

    moved = ok(deputy.patch(base, json={"name": "Đèn số 1", "zone_id": alley["id"]}))
    assert (moved["name"], moved["zone_id"]) == ("Đèn số 1", alley["id"])
    assert "no such zone" in detail(deputy.patch(base, json={"zone_id": 999999}), 422)
    assert ok(deputy.patch(base, json={"zone_id": None}))["zone_id"] is None
    assert ok(deputy.patch(base, json={"name": "Đèn số 1"}))["zone_id"] is None  # untouched when left out
    assert "nothing to change" in detail(deputy.patch(base, json={}), 422)
    assert resident.patch(base, json={"name": "x"}).status_code == 403
    assert detail(deputy.post(f"{base}/retire"), 403) == "only admin, head may do this; you are deputy"

    assert ok(head.post(f"{base}/retire"))["status"] == "retired"
    assert "is retired; retire applies to active devices only" in detail(head.post(f"{base}/retire"), 409)
    order = {"target": {"area": True}, "action": {"type": "light.set", "on": True}}
    assert head.post(f"/api/v1/areas/{area_code}/commands", json=order).status_code == 422
    before = hub.rejections().get("retired_device", 0)
    send(device_link, area_code, "light-1", topics.Channel.STATUS, "online")
    hub.wait(lambda: hub.rejections().get("retired_device", 0) > before, what="retired device ignored")

    rows = audit(hub, area_code)
    assert [(r["actor"], r["action"]) for r in rows] == [
        ("head." + area_code, "zone.create"),
        ("pho", "device.update"),
        ("pho", "device.update"),
        ("pho", "device.update"),
        ("head." + area_code, "device.retire"),
    ]
    assert rows[1]["params"] == {"name": "Đèn số 1", "zone_id": alley["id"]}
    assert (rows[2]["params"], rows[3]["result"]) == ({"zone_id": None}, "unchanged")
    assert rows[4]["result"] == "active -> retired"


def test_audit_rows_cannot_be_changed_through_the_api(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    ok(hub.http.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Z"}), 201)
    (row,) = audit(hub, area_code)
    for path in (f"/api/v1/areas/{area_code}/audit", "/api/v1/audit"):
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            r = hub.http.request(method, path, json={"id": row["id"], "result": "nothing happened"})
            assert r.status_code == 405, (method, path)
        assert hub.http.delete(f"{path}/{row['id']}").status_code in (404, 405)
    assert audit(hub, area_code) == [row]
