"""Inbound device traffic through a real broker into the hub's database and API."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from sqlalchemy import select

from devices import topics
from devices.codec import NativeCodec, encode_report
from devices.messages import Inbound
from devices.mqtt_client import MqttLink
from devices.payloads import CameraState, DeviceInfo, Kind, LightState, MotionEvent, Storage
from hub.commands.factory import copies
from hub.models import Area, CommandRow, Device
from hub.registry.areas import Registration
from hub.registry.store import RegistryStore
from tests.conftest import HubHarness, make_area, statements

C = topics.Channel


def now_ms() -> int:
    return int(time.time() * 1000)


def send(link: MqttLink, area: str, device: str, channel: topics.Channel, body: bytes | str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    assert link.publish(encode_report(area, device, channel, raw))


def light_info() -> bytes:
    return (
        DeviceInfo(kind=Kind.LIGHT, model="LED-60", firmware="1.0", rated_w=60.0).model_dump_json().encode()
    )


def light_state(level: int, ts: int) -> bytes:
    return LightState(ts=ts, on=level > 0, level=level, power_w=level * 0.6).model_dump_json().encode()


def test_announced_unregistered_device_is_pending(
    hub: HubHarness, device_link: MqttLink, area_code: str
) -> None:
    make_area(hub, area_code)
    send(device_link, area_code, "light-new", C.INFO, light_info())
    send(device_link, area_code, "light-new", C.STATUS, "online")
    hub.wait(
        lambda: (hub.device(area_code, "light-new") or {}).get("online") is True,
        what="pending device online",
    )
    dev = hub.device(area_code, "light-new")
    assert dev is not None
    assert dev["status"] == "pending"
    assert dev["model"] == "LED-60"
    listed = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"status": "pending"}).json()
    assert [d["device_id"] for d in listed["items"]] == ["light-new"]
    summary = hub.http.get(f"/api/v1/areas/{area_code}").json()
    assert summary["devices"]["light"]["pending"] == 1


def test_preregistered_device_keeps_its_registration(
    hub: HubHarness, device_link: MqttLink, area_code: str
) -> None:
    make_area(hub, area_code, [Registration("light-a", Kind.LIGHT, "Đèn A", "Đường 1")])
    send(device_link, area_code, "light-a", C.INFO, light_info())
    ts = now_ms()
    send(device_link, area_code, "light-a", C.STATE, light_state(70, ts))
    hub.wait(
        lambda: ((hub.device(area_code, "light-a") or {}).get("state") or {}).get("level") == 70,
        what="state",
    )
    dev = hub.device(area_code, "light-a")
    assert dev is not None
    assert dev["status"] == "active"
    assert dev["name"] == "Đèn A"
    assert dev["firmware"] == "1.0"
    assert dev["state"]["power_w"] == 42.0


def test_malformed_payloads_are_rejected_and_counted_while_valid_traffic_flows(
    hub: HubHarness, device_link: MqttLink, area_code: str
) -> None:
    make_area(
        hub,
        area_code,
        [
            Registration("light-a", Kind.LIGHT, "Đèn A"),
            Registration("cam-1", Kind.CAMERA, "Camera 1"),
        ],
    )
    send(device_link, area_code, "light-a", C.INFO, light_info())
    t0 = now_ms()
    valid_light = json.loads(light_state(10, t0))
    garbage: list[tuple[str, topics.Channel, bytes | str, str]] = [
        ("light-a", C.STATE, b"{not json", "malformed_json"),
        ("light-a", C.STATE, b"\xff\xfe\x00", "malformed_json"),
        ("light-a", C.STATE, json.dumps({**valid_light, "level": 101}), "invalid"),
        ("light-a", C.STATE, json.dumps({**valid_light, "on": "true"}), "invalid"),
        ("light-a", C.STATE, json.dumps({**valid_light, "level": 50.0}), "invalid"),
        ("light-a", C.STATE, json.dumps({**valid_light, "extra": 1}), "invalid"),
        ("light-a", C.STATE, json.dumps({**valid_light, "level": 10**30}), "invalid"),
        ("light-a", C.STATE, b"[]", "invalid"),
        ("light-a", C.STATE, b'{"kind":"light","pad":"' + b"x" * 9000 + b'"}', "oversized"),
        ("light-a", C.STATUS, "maybe", "invalid"),
        ("light-a", C.STATUS, b"\xff", "not_utf8"),
        (
            "light-a",
            C.INFO,
            json.dumps({"kind": "toaster", "model": "x", "firmware": "1"}),
            "invalid",
        ),
        (
            "light-a",
            C.EVENT,
            json.dumps({"type": "motion", "ts": t0, "active": True}),
            "wrong_event_for_kind",
        ),
        (
            "light-a",
            C.STATE,
            CameraState(
                ts=t0, recording=True, motion=False, tampering=False, storage=Storage.OK
            ).model_dump_json(),
            "kind_mismatch",
        ),
        ("ghost-1", C.STATE, light_state(5, t0), "unknown_device"),
        ("cam-1", C.EVENT, json.dumps({"type": "motion", "ts": -1, "active": True}), "invalid"),
    ]
    expected: dict[str, int] = {}
    for i, (device, channel, body, reason) in enumerate(garbage):
        send(device_link, area_code, device, channel, body)
        # Valid traffic interleaved with the garbage must all be applied.
        send(device_link, area_code, "light-a", C.STATE, light_state(i, t0 + 1 + i))
        expected[reason] = expected.get(reason, 0) + 1
    motion = MotionEvent(ts=t0, active=True, score=0.9).model_dump_json()
    send(device_link, area_code, "cam-1", C.EVENT, motion)
    last = len(garbage) - 1

    def settled() -> bool:
        # Each reason on its own: other tests' retained messages add to the count of some.
        dev = hub.device(area_code, "light-a") or {}
        counted = hub.rejections()
        return (dev.get("state") or {}).get("level") == last and all(
            counted.get(reason, 0) >= n for reason, n in expected.items()
        )

    hub.wait(settled, what="all valid states applied and all garbage counted")
    counted = hub.rejections()
    for reason, n in expected.items():
        assert counted.get(reason, 0) >= n, (reason, counted)
    events = hub.http.get(f"/api/v1/areas/{area_code}/devices/cam-1/events").json()
    assert [e["type"] for e in events["items"]] == ["motion"]
    assert hub.http.get("/readyz").status_code == 200


def test_replayed_and_stale_reports_are_not_applied(
    hub: HubHarness, device_link: MqttLink, area_code: str
) -> None:
    make_area(
        hub,
        area_code,
        [Registration("light-a", Kind.LIGHT, "A"), Registration("cam-1", Kind.CAMERA, "C")],
    )
    ts = now_ms()
    send(device_link, area_code, "light-a", C.STATE, light_state(40, ts))
    send(device_link, area_code, "light-a", C.STATE, light_state(40, ts))  # replay
    send(device_link, area_code, "light-a", C.STATE, light_state(90, ts - 1000))  # stale
    motion = MotionEvent(ts=ts, active=True).model_dump_json()
    for _ in range(3):
        send(device_link, area_code, "cam-1", C.EVENT, motion)
    hub.wait(lambda: hub.rejections().get("stale", 0) >= 1, what="stale rejection")
    hub.wait(
        lambda: (hub.runtime.metrics.registry.get_sample_value("khu_ingest_committed_total") or 0) >= 5,
        what="events committed",
    )
    dev = hub.device(area_code, "light-a")
    assert dev is not None
    assert dev["state"]["level"] == 40
    events = hub.http.get(f"/api/v1/areas/{area_code}/devices/cam-1/events").json()
    assert events["total"] == 1


def test_unknown_area_is_rejected(hub: HubHarness, device_link: MqttLink, area_code: str) -> None:
    send(device_link, area_code, "light-x", C.INFO, light_info())
    hub.wait(lambda: hub.rejections().get("unknown_area", 0) >= 1, what="unknown_area rejection")
    assert hub.http.get(f"/api/v1/areas/{area_code}").status_code == 404


def test_api_validates_and_paginates(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code, [Registration(f"light-{i:02d}", Kind.LIGHT, f"Đèn {i}") for i in range(7)])
    page = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"limit": 3, "offset": 3}).json()
    assert page["total"] == 7
    assert [d["device_id"] for d in page["items"]] == ["light-03", "light-04", "light-05"]
    bad = hub.http.get(f"/api/v1/areas/{area_code}/devices", params={"limit": 100000})
    assert bad.status_code == 422
    assert "limit" in bad.text
    assert hub.http.get(f"/api/v1/areas/{area_code}/devices/nope").status_code == 404


def test_a_batch_from_many_uncached_devices_is_looked_up_in_a_few_reads(
    hub: HubHarness, area_code: str
) -> None:
    lights = [f"light-{i:03d}" for i in range(600)]
    make_area(hub, area_code, [Registration(d, Kind.LIGHT, "A") for d in lights])
    codec = NativeCodec()
    ts = now_ms()
    batch = [
        codec.decode(out.topic, out.payload)
        for out in (encode_report(area_code, d, C.STATE, light_state(30, ts)) for d in lights)
    ]
    store = RegistryStore(hub.runtime.engine)  # a fresh cache, as after a start
    with statements(hub) as seen:
        result = store.apply(batch)
    assert not result.rejected
    assert len(result.changes) == 600
    # (Only the store's lookups: the hub's own threads may read devices meanwhile.)
    batched = [s for s in seen if "FROM devices" in s and "devices.device_id IN (" in s]
    single = [s for s in seen if "FROM devices" in s and "devices.device_id = ?" in s]
    assert len(batched) == 2, batched  # 600 ids, 500 per read
    assert not single, single
    assert hub.device(area_code, "light-599")["state"]["level"] == 30  # type: ignore[index]


def test_a_command_is_closed_by_the_first_answer_of_its_own_device_in_a_batch(
    hub: HubHarness, area_code: str
) -> None:
    make_area(hub, area_code, [Registration(d, Kind.LIGHT, "A") for d in ("light-a", "light-b")])
    with hub.runtime.sessions.begin() as session:
        area = session.scalars(select(Area).where(Area.code == area_code)).one()
        light = session.scalars(
            select(Device).where(Device.area_id == area.id, Device.device_id == "light-a")
        ).one()
        params = {"on": True, "level": 40}
        staged = hub.runtime.commands.stage(
            session, area, [light], "light.set", params, copies("light.set", params), None, wait_s=0, ttl_s=60
        )
    (command,) = staged.rows
    codec = NativeCodec()
    ts = now_ms()

    def answer(device: str, at: int, error: str | None) -> Inbound:
        body = LightState(ts=at, cmd=command.id, error=error, on=True, level=40, power_w=24.0)
        out = encode_report(area_code, device, C.STATE, body.model_dump_json().encode())
        return codec.decode(out.topic, out.payload)

    batch = [
        answer("light-b", ts, None),
        answer("light-a", ts + 1, "expired"),
        answer("light-a", ts + 2, None),
    ]
    result = RegistryStore(hub.runtime.engine).apply(batch)
    assert not result.rejected
    with hub.runtime.sessions() as session:
        row = session.get(CommandRow, command.id)
        assert row is not None
        # Not the other light's answer; the first of its own, as if the batch were applied one by one.
        assert (row.status, row.error) == ("expired", "expired")


def test_a_replica_never_overwrites_a_newer_state_another_one_stored(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code, [Registration(d, Kind.LIGHT, "A") for d in ("light-a", "light-b")])
    codec = NativeCodec()
    ts = now_ms()

    def state(level: int, at: int, light: str = "light-a") -> Inbound:
        out = encode_report(area_code, light, C.STATE, light_state(level, at))
        return codec.decode(out.topic, out.payload)

    mine, other = RegistryStore(hub.runtime.engine), RegistryStore(hub.runtime.engine)
    assert not mine.apply([state(10, ts), state(5, ts, "light-b")]).rejected  # both replicas cache these
    assert not other.apply([state(10, ts)]).rejected
    assert not other.apply([state(50, ts + 20)]).rejected  # the newer one, stored by the other
    # A report the broker handed to this replica, older than what the other stored: its cache
    # does not know better, the database does.
    mine.apply([state(30, ts + 10)])
    with hub.runtime.sessions() as session:
        stored = dict(
            session.execute(
                select(Device.device_id, Device.state).join(Area).where(Area.code == area_code)
            ).all()
        )
    assert {d: (s or {}).get("level") for d, s in stored.items()} == {"light-a": 50, "light-b": 5}
    # Told what the other stored (as replicas tell each other), it refuses the old report itself.
    other_change = other.apply([state(60, ts + 30)]).changes
    mine.heard_elsewhere(other_change)
    result = mine.apply([state(40, ts + 25)])
    assert [r.reason.value for _, r in result.rejected] == ["stale"]


def test_an_answer_overtaken_by_a_newer_state_confirms_its_command_and_keeps_the_newer_state(
    hub: HubHarness, area_code: str
) -> None:
    make_area(hub, area_code, [Registration("light-a", Kind.LIGHT, "A")])
    params = {"on": True, "level": 40}
    with hub.runtime.sessions.begin() as session:
        area = session.scalars(select(Area).where(Area.code == area_code)).one()
        light = session.scalars(select(Device).where(Device.area_id == area.id)).one()
        staged = hub.runtime.commands.stage(
            session, area, [light], "light.set", params, copies("light.set", params), None, wait_s=0, ttl_s=60
        )
    (command,) = staged.rows
    codec = NativeCodec()
    ts = now_ms()
    newer = encode_report(area_code, "light-a", C.STATE, light_state(70, ts + 5))
    body = LightState(ts=ts, cmd=command.id, on=True, level=40, power_w=24.0).model_dump_json().encode()
    answer = encode_report(area_code, "light-a", C.STATE, body)
    store = RegistryStore(hub.runtime.engine)
    assert not store.apply([codec.decode(newer.topic, newer.payload)]).rejected
    result = store.apply([codec.decode(answer.topic, answer.payload)])
    assert not result.rejected
    assert [list(c.fields) for c in result.changes] == [["answer"]]
    with hub.runtime.sessions() as session:
        row = session.get(CommandRow, command.id)
        assert row is not None
        assert row.status == "confirmed"
        stored = session.get(Device, light.id)
        assert stored is not None
        assert stored.state is not None
        assert stored.state["level"] == 70
    # The same answer replayed by the broker from its retained copy is only stale.
    replayed = codec.decode(answer.topic, answer.payload)
    replayed = replace(replayed, source=replace(replayed.source, retained=True))
    assert [r.reason.value for _, r in store.apply([replayed]).rejected] == ["stale"]
