"""Zigbee2MQTT bridges (emulated from Zigbee2MQTT's documentation) on the real broker, through the API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.emulators.tasmota import TasmotaEmulator
from devices.emulators.zigbee2mqtt import (
    VERSION,
    Zigbee2MqttEmulator,
    ZigbeeDevice,
    bulb,
    device_list,
    relay,
    sensor,
)
from devices.messages import (
    AvailabilityReport,
    CommandOrder,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    StateReport,
)
from devices.payloads import LightSet, LightState
from devices.protocols import zigbee2mqtt as z2m
from devices.protocols.zigbee2mqtt import Zigbee2MqttCodec, brightness_of, level_of
from hub.broker.process import Broker
from tests.conftest import HubHarness, SimArea, make_area, raw_link
from tests.protocol_helpers import device as _device
from tests.protocol_helpers import light_command as _command
from tests.protocol_helpers import register as _register

Stoppable = Zigbee2MqttEmulator | TasmotaEmulator


@pytest.fixture
def emulators() -> Iterator[list[Stoppable]]:
    started: list[Stoppable] = []
    yield started
    for e in started:
        if isinstance(e, Zigbee2MqttEmulator):
            e.remove()  # clears what it retained: later tests' hubs need not read it
        else:
            e.stop()


def _bridge(
    broker: Broker,
    hub: HubHarness,
    area: str,
    bridge: str,
    devices: list[ZigbeeDevice],
    started: list[Stoppable],
    **kw: Any,
) -> Zigbee2MqttEmulator:
    """Register a bridge as the head does and start it with the account it was given."""
    mqtt = _register(hub, area, bridge, "gateway", "zigbee2mqtt")
    emu = Zigbee2MqttEmulator(
        area, bridge, "127.0.0.1", broker.port, mqtt["username"], mqtt["password"], devices, **kw
    )
    emu.start()
    started.append(emu)
    # The broker grants its one subscription, <base>/#, as Zigbee2MQTT makes it.
    assert emu.link.wait_subscribed(5), "the bridge's account may not read its own tree"
    return emu


def _state(hub: HubHarness, area: str, device_id: str) -> dict[str, Any]:
    return _device(hub, area, device_id).get("state") or {}


def _total(hub: HubHarness, area: str, **params: Any) -> int:
    r = hub.http.get(f"/api/v1/areas/{area}/devices", params={"limit": 1, **params})
    return int(r.json()["total"])


def _accept_pending(hub: HubHarness, area: str, zone: int, via: str) -> list[str]:
    page = hub.http.get(f"/api/v1/areas/{area}/devices", params={"status": "pending", "limit": 500}).json()
    ids = [d["device_id"] for d in page["items"] if d["via"] == via]
    for device_id in ids:
        r = hub.http.post(f"/api/v1/areas/{area}/devices/{device_id}/accept", json={"zone_id": zone})
        assert r.status_code == 200, r.text
        assert r.json()["mqtt"]["setup"] == [
            f"behind the Zigbee2MQTT bridge {via} as friendly_name {device_id}: nothing to set up"
        ]
    return ids


def _desired_source(hub: HubHarness, area: str, device_id: str) -> Any:
    rows = hub.http.get(f"/api/v1/areas/{area}/lights/desired").json()
    return next((r["source"] for r in rows if r["device_id"] == device_id), None)


def _grew(hub: HubHarness, before: dict[str, float], reason: str | None, by: int) -> Callable[[], bool]:
    def check() -> bool:
        after = hub.rejections()
        if reason is None:
            return sum(after.values()) - sum(before.values()) >= by
        return after.get(reason, 0) - before.get(reason, 0) >= by

    return check


# --- the bridge of twenty lights, end to end ---------------------------------------


def _street(n_bulbs: int = 18, n_relays: int = 2) -> list[ZigbeeDevice]:
    bulbs = [bulb(f"bong-{i:02d}", i, transition_s=0.3 if i <= 6 else 0.0) for i in range(1, n_bulbs + 1)]
    relays = [relay(f"role-{i:02d}", i) for i in range(1, n_relays + 1)]
    # Not lights the hub takes: a sensor (skipped), a name with "/" (refused, counted).
    others = [sensor("cam-bien-1", 1), bulb("Den Cong/Trai", 99)]
    return [*bulbs, *relays, *others]


def test_a_bridge_of_twenty_lights_joins_obeys_reports_and_goes_down_with_its_will(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[Stoppable]
) -> None:
    area = area_code
    make_area(hub, area)
    hub.wait_scheduling()
    zone = hub.http.post(f"/api/v1/areas/{area}/zones", json={"name": "Ngõ 7"}).json()["id"]
    before = hub.rejections()
    emu = _bridge(broker, hub, area, "cau-ngo7", _street(), emulators, availability=True)

    # bridge/state and bridge/info: the gateway is online, described by its version.
    hub.wait(lambda: _device(hub, area, "cau-ngo7").get("online") is True, what="bridge online")
    hub.wait(lambda: _device(hub, area, "cau-ngo7").get("firmware") == VERSION, what="bridge/info")
    assert _device(hub, area, "cau-ngo7")["model"] == "Zigbee2MQTT zStack3x0"

    # bridge/devices: twenty pending lights; the coordinator and the sensor are not devices,
    # the name with "/" is refused and counted, and the rest of the list is kept.
    hub.wait(lambda: _total(hub, area, status="pending") == 20, what="20 pending lights")
    assert _total(hub, area) == 21
    hub.wait(_grew(hub, before, "bad_topic", 1), what="the refused name counted")
    bong, role = _device(hub, area, "bong-01"), _device(hub, area, "role-01")
    assert (bong["via"], bong["protocol"], bong["model"], bong["firmware"]) == (
        "cau-ngo7",
        "zigbee2mqtt",
        "LED1836G9",
        "2.3.093",
    )
    assert (bong["capabilities"], role["capabilities"]) == (["switch", "dim"], ["switch"])
    assert bong["online"] is True  # <name>/availability, retained by the bridge

    ids = _accept_pending(hub, area, zone, "cau-ngo7")
    assert len(ids) == 20

    # One zone command: a brightness for the bulbs, ON alone for the relays, each confirmed
    # by the state the bridge publishes (Zigbee2MQTT echoes no command id).
    out = _command(hub, area, {"zone_id": zone}, on=True, level=40)
    assert sorted(r["device_id"] for r in out["results"]) == sorted(ids)
    assert {r["status"] for r in out["results"]} == {"confirmed"}, out
    for r in out["results"]:
        level = 40 if r["device_id"].startswith("bong") else 100  # a relay is on at full
        assert (r["state"]["on"], r["state"]["level"]) == (True, level)
    assert emu.devices["bong-01"].sets[-1] == {"state": "ON", "brightness": 102}
    assert emu.devices["role-01"].sets[-1] == {"state": "ON"}
    assert (emu.devices["bong-01"].on, emu.devices["bong-01"].brightness) == (True, 102)
    assert emu.logged == []  # no "No converter available for 'brightness'"

    # Bulbs with a transition publish a step and the target again after the target: those
    # are neither a new state nor a change made at the light.
    time.sleep(0.5)  # let the emulated transitions (0.3 s) finish
    assert _state(hub, area, "bong-01")["level"] == 40
    assert _desired_source(hub, area, "bong-01") != "local"

    # A bulb toggled at its remote: the bridge publishes it, the hub adopts it.
    emu.press("bong-05")
    hub.wait(lambda: _state(hub, area, "bong-05").get("on") is False, what="the remote's toggle")
    hub.wait(lambda: _desired_source(hub, area, "bong-05") == "local", what="the toggle adopted")

    # Its own availability: a bulb that stops answering the bridge's ping.
    emu.reachable("bong-07", False)
    hub.wait(lambda: _device(hub, area, "bong-07").get("online") is False, what="bong-07 unreachable")
    emu.reachable("bong-07", True)
    hub.wait(lambda: _device(hub, area, "bong-07").get("online") is True, what="bong-07 back")

    _garbage_is_counted(broker, hub, area)
    _a_second_bridge_cannot_speak_for_the_first_ones_bulbs(broker, hub, area, emulators, emu)

    # A relay retired: its account goes and the hub says offline for it on its own topic.
    r = hub.http.post(f"/api/v1/areas/{area}/devices/role-02/retire")
    assert r.status_code == 200, r.text
    hub.wait(lambda: _device(hub, area, "role-02").get("online") is False, what="role-02 offline")

    # The bridge's Last Will takes all twenty down with it; back, the nineteen in service are up.
    emu.power_cut()
    hub.wait(lambda: _device(hub, area, "cau-ngo7").get("online") is False, what="the bridge's Will")
    hub.wait(lambda: _total(hub, area, zone_id=zone, online="false") == 20, what="20 lights offline")
    emu.power_back()
    hub.wait(lambda: _total(hub, area, zone_id=zone, online="true") == 19, what="19 lights online again")
    assert _device(hub, area, "role-02")["online"] is False


def _garbage_is_counted(broker: Broker, hub: HubHarness, area: str) -> None:
    base = f"zigbee2mqtt/{area}/cau-ngo7"
    garbage = [
        (f"{base}/bong-01", b"{not json"),
        (f"{base}/bong-01", b'{"state":"MAYBE"}'),
        (f"{base}/bong-01", b'{"state":"ON","brightness":400}'),
        (f"{base}/bong-01", b'["ON"]'),
        (f"{base}/bong-01", b"x" * 9000),
        (f"{base}/bong-01/availability", b"maybe"),
        (f"{base}/bridge/state", b'{"state":"sleeping"}'),
        (f"{base}/bridge/devices", b'{"not":"a list"}'),
        (f"{base}/bridge/info", b'{"commit":"no version"}'),
        (f"zigbee2mqtt/{area}/Cau Ngo 7/bridge/state", b"online"),
    ]
    before = hub.rejections()
    probe = raw_link(broker, "z2m-garbage", filters=("zigbee2mqtt/#",))
    try:
        receipts = [probe.publish_with_receipt(Outbound(topic, body, qos=1)) for topic, body in garbage]
        hub.wait(lambda: all(r is not None and r.done() for r in receipts), what="the garbage published")
    finally:
        probe.stop()
    hub.wait(_grew(hub, before, None, len(garbage)), what=f"{len(garbage)} rejections counted")
    assert _device(hub, area, "cau-ngo7")["online"] is True
    assert _state(hub, area, "bong-01")["level"] == 40


def _a_second_bridge_cannot_speak_for_the_first_ones_bulbs(
    broker: Broker, hub: HubHarness, area: str, emulators: list[Stoppable], first: Zigbee2MqttEmulator
) -> None:
    before = hub.rejections()
    # Its own list names a bulb of the first bridge, and it publishes that bulb's state.
    impostor = bulb("bong-01", 901)
    impostor.on, impostor.brightness = False, 254
    second = _bridge(broker, hub, area, "cau-ngo9", [impostor, bulb("bong-21", 921)], emulators)
    hub.wait(lambda: _device(hub, area, "bong-21").get("via") == "cau-ngo9", what="its own bulb pending")
    hub.wait(_grew(hub, before, "via_mismatch", 2), what="its info and state for bong-01 refused")
    # Into the first bridge's tree the broker lets nothing of it through; on its own tree, the
    # hub refuses it. The broker keeps its order, so once the second is refused, the first
    # was dropped: else bong-01 would now be off.
    forged = Outbound(f"zigbee2mqtt/{area}/cau-ngo7/bong-01", b'{"state":"OFF"}', qos=0)
    assert second.link.publish(forged)
    second.press("bong-01")
    hub.wait(_grew(hub, before, "via_mismatch", 3), what="its later state for bong-01 refused")
    assert (_state(hub, area, "bong-01")["on"], _device(hub, area, "bong-01")["via"]) == (True, "cau-ngo7")
    # Commands to the bulb still go to the first bridge's tree.
    out = _command(hub, area, {"device_id": "bong-01"}, on=True, level=70)
    assert out["results"][0]["status"] == "confirmed", out
    assert first.devices["bong-01"].brightness == brightness_of(70)
    assert second.devices["bong-01"].sets == []


# --- a hub restart ------------------------------------------------------------------


def test_a_restarted_hub_reads_its_bridge_back_from_what_the_broker_retained(
    broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str, emulators: list[Stoppable]
) -> None:
    area = area_code
    first = hub_factory(broker)
    make_area(first, area)
    zone = first.http.post(f"/api/v1/areas/{area}/zones", json={"name": "Ngõ 2"}).json()["id"]
    lights = [bulb("bong-a", 1), bulb("bong-b", 2), relay("role-a", 1)]
    emu = _bridge(broker, first, area, "cau-2", lights, emulators, availability=True)
    first.wait(lambda: _total(first, area, status="pending") == 3, what="three lights pending")
    _accept_pending(first, area, zone, "cau-2")
    first.runtime.stop()

    emu.reachable("bong-b", False)  # while no hub listens
    # A new hub (a new session, the same database): the retained device list tells its codec
    # which bridge each light is behind, the retained availability which is down.
    hub = hub_factory(broker)
    hub.wait(lambda: _device(hub, area, "bong-b").get("online") is False, what="bong-b offline")
    out = _command(hub, area, {"zone_id": zone}, on=True, level=70)
    status = {r["device_id"]: r["status"] for r in out["results"]}
    assert status == {"bong-a": "confirmed", "role-a": "confirmed", "bong-b": "queued"}, out
    emu.reachable("bong-b", True)
    hub.wait(lambda: emu.devices["bong-b"].brightness == brightness_of(70), what="the queued order delivered")
    hub.wait(lambda: _state(hub, area, "bong-b").get("level") == 70, what="and confirmed")


# --- one zone, three protocols ------------------------------------------------------


def test_one_zone_mixing_native_tasmota_and_zigbee2mqtt_lights_confirmed_in_one_command(
    broker: Broker, sim_area_factory: Callable[..., SimArea], emulators: list[Stoppable]
) -> None:
    sim = sim_area_factory(lights=2, streets=1, speakers=0, speaker_zones=0, cameras=0)
    hub, area = sim.hub, sim.code
    zone = sim.zone_id("Đường 1")

    mqtt = _register(hub, area, "den-tasmota", "light", "tasmota", zone_id=zone)
    tasmota = TasmotaEmulator(
        area,
        "den-tasmota",
        "127.0.0.1",
        broker.port,
        mqtt["username"],
        mqtt["password"],
        discovery_delay_s=0.2,
    )
    tasmota.start()
    emulators.append(tasmota)
    hub.wait(lambda: _device(hub, area, "den-tasmota").get("capabilities") == ["switch", "dim"])

    lights = [bulb("bong-a", 1), bulb("bong-b", 2, transition_s=0.2), relay("role-a", 1)]
    _bridge(broker, hub, area, "cau-1", lights, emulators, legacy_availability=True)
    hub.wait(lambda: _total(hub, area, status="pending") == 3, what="three Zigbee lights pending")
    _accept_pending(hub, area, zone, "cau-1")
    hub.wait(lambda: _total(hub, area, zone_id=zone, online="true") == 6, what="six lights online")

    out = _command(hub, area, {"zone_id": zone}, on=True, level=40)
    protocols = {r["device_id"]: _device(hub, area, r["device_id"])["protocol"] for r in out["results"]}
    assert sorted(protocols.values()) == ["native", "native", "tasmota", *["zigbee2mqtt"] * 3], protocols
    assert [r["status"] for r in out["results"]] == ["confirmed"] * 6, out


# --- the codec alone ----------------------------------------------------------------


def _codec_with_street() -> Zigbee2MqttCodec:
    codec = Zigbee2MqttCodec()
    codec.decode("zigbee2mqtt/a1/cau-1/bridge/devices", json.dumps(device_list(_street(2, 1))).encode())
    codec.decode("zigbee2mqtt/a1/cau-1/bridge/state", b'{"state":"online"}')
    return codec


def _light(report: Any) -> LightState:
    """The light state a decoded message reported (and that it reported one)."""
    assert isinstance(report, StateReport)
    assert isinstance(report.state, LightState)
    return report.state


def test_every_level_survives_the_brightness_scale() -> None:
    assert [level_of(brightness_of(level)) for level in range(101)] == list(range(101))
    assert (brightness_of(40), brightness_of(100), level_of(255), level_of(1)) == (102, 254, 100, 1)


def test_the_device_list_makes_lights_and_refuses_what_the_hub_cannot_name() -> None:
    codec = Zigbee2MqttCodec()
    entries = device_list(_street(2, 1))
    entries.append({**entries[1], "friendly_name": "bridge-lamp"})  # Zigbee2MQTT takes no /set for it
    out = codec.decode("zigbee2mqtt/a1/cau-1/bridge/devices", json.dumps(entries).encode())
    assert isinstance(out, list)
    infos = {m.source.device: m.info for m in out if isinstance(m, InfoReport)}
    assert sorted(infos) == ["bong-01", "bong-02", "role-01"]
    assert {i.via for i in infos.values()} == {"cau-1"}
    refused = [m for m in out if isinstance(m, Rejected)]
    assert [r.reason for r in refused] == [RejectReason.BAD_TOPIC, RejectReason.BAD_TOPIC]
    assert "'Den Cong/Trai'" in refused[0].detail
    assert "'bridge-lamp'" in refused[1].detail
    # Not online yet: the bridge's own state has not come.
    online = codec.decode("zigbee2mqtt/a1/cau-1/bridge/state", b"online")
    assert isinstance(online, list)
    assert [(m.source.device, m.availability.value) for m in online if isinstance(m, AvailabilityReport)] == [
        ("cau-1", "online"),
        ("bong-01", "online"),
        ("bong-02", "online"),
        ("role-01", "online"),
    ]
    assert codec.decode("zigbee2mqtt/a1/cau-1/cam-bien-1", b'{"temperature":31.5}') == []


def test_a_transition_is_confirmed_once_and_its_steps_are_not_local_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codec = _codec_with_street()
    base = "zigbee2mqtt/a1/cau-1/bong-01"
    out = codec.encode(CommandOrder("a1", "bong-01", LightSet(id="c1", on=True, level=40)))
    assert (out.topic, json.loads(out.payload), out.retain) == (
        f"{base}/set",
        {"state": "ON", "brightness": 102},
        False,
    )

    def state(body: dict[str, Any]) -> Any:
        return codec.decode(base, json.dumps(body).encode())

    assert state({"state": "ON", "brightness": 180}) == []  # a step before the target: held
    assert _light(state({"state": "ON", "brightness": 102, "linkquality": 90})).cmd == "c1"
    assert state({"state": "ON", "brightness": 140}) == []  # a step reported after it
    again = _light(state({"state": "ON", "brightness": 102}))
    assert (again.cmd, again.level) == (None, 40)
    assert _light(state({"state": "OFF", "brightness": 102})).on is False  # the remote: not held
    # Past the settling time, a new level with no order is a change made at the light.
    monkeypatch.setattr(z2m, "SETTLE_S", -1.0)
    codec.encode(CommandOrder("a1", "bong-01", LightSet(id="c2", on=True, level=40)))
    assert _light(state({"state": "ON", "brightness": 102})).cmd == "c2"
    dimmed = _light(state({"state": "ON", "brightness": 60}))
    assert (dimmed.cmd, dimmed.level) == (None, 24)


def test_relays_offline_and_accounts() -> None:
    codec = _codec_with_street()
    out = codec.encode(CommandOrder("a1", "role-01", LightSet(id="c1", on=True, level=40)))
    assert json.loads(out.payload) == {"state": "ON"}
    report = _light(codec.decode("zigbee2mqtt/a1/cau-1/role-01", b'{"state":"ON","linkquality":80}'))
    assert (report.cmd, report.level) == ("c1", 100)
    off = codec.encode(CommandOrder("a1", "bong-02", LightSet(id="c2", level=0)))
    assert json.loads(off.payload) == {"state": "OFF"}
    with pytest.raises(ValueError, match="no Zigbee2MQTT bridge"):
        codec.encode(CommandOrder("a1", "bong-99", LightSet(id="c3", on=True)))

    # A bridge's offline is retained, as its Will; a bulb's is not, nor taken for the bridge's
    # word: the bridge's own retained availability says what the bulb is when it comes back.
    bulb_offline, bridge_offline = codec.offline("a1", "bong-01"), codec.offline("a1", "cau-1")
    assert bulb_offline is not None
    assert bridge_offline is not None
    assert (bridge_offline.topic, bridge_offline.payload, bridge_offline.retain) == (
        "zigbee2mqtt/a1/cau-1/bridge/state",
        b'{"state":"offline"}',
        True,
    )
    assert (bulb_offline.topic, bulb_offline.retain) == ("zigbee2mqtt/a1/cau-1/bong-01/availability", False)
    down = codec.decode(bulb_offline.topic, bulb_offline.payload)
    assert isinstance(down, AvailabilityReport)
    assert (down.source.via, down.availability.value) == ("cau-1", "offline")
    codec.decode(bridge_offline.topic, bridge_offline.payload)
    back = codec.decode(bridge_offline.topic, b'{"state":"online"}')
    assert isinstance(back, list)
    assert ("bong-01", "online") in [
        (m.source.device, m.availability.value) for m in back if isinstance(m, AvailabilityReport)
    ]
    # Another bridge listing a "light" named as this bridge does not make it one.
    codec.decode("zigbee2mqtt/a1/cau-2/bridge/devices", json.dumps(device_list([bulb("cau-1", 7)])).encode())
    assert codec.offline("a1", "cau-1") == bridge_offline
    topics = codec.device_topics("a1", "cau-1", gateway=True)
    assert topics.publish == topics.read == ("zigbee2mqtt/a1/cau-1/#",)
    assert codec.device_topics("a1", "bong-01", gateway=False) == type(topics)((), ())
    setup = codec.setup("a1", "cau-1", "a1.cau-1", "s3cret", "hub.example", 1883)
    assert "  base_topic: zigbee2mqtt/a1/cau-1" in setup
    assert "  client_id: a1.cau-1" in setup


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("zigbee2mqtt/a1/cau-1/bong-01", b"{nope", RejectReason.MALFORMED_JSON),
        ("zigbee2mqtt/a1/cau-1/bong-01", b'{"state":"ON","brightness":"max"}', RejectReason.INVALID),
        ("zigbee2mqtt/a1/cau-1/bong-01", b'{"state":true}', RejectReason.INVALID),
        ("zigbee2mqtt/a1/cau-1/bong-01", b'{"state":"ON","power":-4}', RejectReason.INVALID),
        ("zigbee2mqtt/a1/cau-1/bong-01", b"\xff\xfe", RejectReason.MALFORMED_JSON),
        ("zigbee2mqtt/a1/cau-1/bong-01/availability", b'{"state":1}', RejectReason.INVALID),
        ("zigbee2mqtt/a1/cau-1/bong-01/extra/level", b"{}", RejectReason.BAD_TOPIC),
        ("zigbee2mqtt/a1/cau-1/Bong 1", b'{"state":"ON"}', RejectReason.BAD_TOPIC),
        ("zigbee2mqtt/A1/cau-1/bridge/state", b"online", RejectReason.BAD_TOPIC),
        ("zigbee2mqtt/a1", b"online", RejectReason.BAD_TOPIC),
        ("zigbee2mqtt/a1/cau-1/bridge/devices", b"[" + b"{}," * 2000 + b"{}]", RejectReason.INVALID),
        ("zigbee2mqtt/a1/cau-1/bridge/devices", b"[" * (1 << 20) + b"]", RejectReason.OVERSIZED),
        ("zigbee2mqtt/a1/cau-1/bridge/groups", b"nope", RejectReason.MALFORMED_JSON),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(
    topic: str, payload: bytes, reason: RejectReason
) -> None:
    codec = _codec_with_street()
    with pytest.raises(Rejected) as caught:
        codec.decode(topic, payload)
    assert caught.value.reason is reason
