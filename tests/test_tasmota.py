"""A Tasmota dimmer (emulated from Tasmota's documentation) on the real broker, through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devices.emulators.tasmota import TasmotaEmulator
from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link
from tests.protocol_helpers import device as _light
from tests.protocol_helpers import light_command as _command
from tests.protocol_helpers import register


@pytest.fixture
def emulators() -> Iterator[list[TasmotaEmulator]]:
    started: list[TasmotaEmulator] = []
    yield started
    for e in started:
        e.stop()


def _add(hub: HubHarness, area: str, device_id: str, **extra: Any) -> dict[str, Any]:
    return register(hub, area, device_id, "light", "tasmota", **extra)


def _start(
    broker: Broker, area: str, device_id: str, mqtt: dict[str, Any], started: list[TasmotaEmulator], **kw: Any
) -> TasmotaEmulator:
    emu = TasmotaEmulator(
        area, device_id, "127.0.0.1", broker.port, mqtt["username"], mqtt["password"], tele_period_s=1, **kw
    )
    emu.start()
    started.append(emu)
    return emu


def test_a_tasmota_dimmer_joins_a_zone_obeys_reports_its_switch_and_its_will(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[TasmotaEmulator]
) -> None:
    make_area(hub, area_code)
    hub.wait_scheduling()
    zone = hub.http.post(f"/api/v1/areas/{area_code}/zones", json={"name": "Ngõ 5"}).json()["id"]
    mqtt = _add(hub, area_code, "den-ngo5", zone_id=zone)
    # What the head is told to paste in the device's console: one Backlog line.
    assert mqtt["protocol"] == "tasmota"
    (line,) = mqtt["setup"]
    assert line.startswith("Backlog MqttHost ")
    assert f"MqttUser {mqtt['username']}; MqttPassword {mqtt['password']}" in line
    assert f"Topic den-ngo5; FullTopic %prefix%/{area_code}/%topic%/" in line

    emu = _start(broker, area_code, "den-ngo5", mqtt, emulators, power_w=60.0)
    hub.wait(lambda: _light(hub, area_code, "den-ngo5").get("online") is True, what="LWT Online")
    hub.wait(lambda: _light(hub, area_code, "den-ngo5").get("model") == "Generic", what="INFO1")
    device = _light(hub, area_code, "den-ngo5")
    assert device["protocol"] == "tasmota"
    assert device["firmware"] == "14.3.0(tasmota)"

    # The zone's command is confirmed by the state it asked for: Tasmota echoes no id.
    out = _command(hub, area_code, {"zone_id": zone}, on=True, level=40)
    assert [r["status"] for r in out["results"]] == ["confirmed"], out
    assert (emu.state.power, emu.state.dimmer) == (True, 40)
    assert emu.state.commands[-1] == ("Dimmer", "40")
    assert out["results"][0]["state"]["level"] == 40
    hub.wait(lambda: (_light(hub, area_code, "den-ngo5").get("state") or {}).get("power_w") == 24)

    out = _command(hub, area_code, {"device_id": "den-ngo5"}, on=False)
    assert out["results"][0]["status"] == "confirmed", out
    assert emu.state.commands[-1] == ("Power", "OFF")

    # The wall switch: a change nobody ordered, adopted as the light's desired state.
    emu.press()
    hub.wait(lambda: (_light(hub, area_code, "den-ngo5").get("state") or {}).get("on") is True)
    desired = hub.http.get(f"/api/v1/areas/{area_code}/lights/desired").json()
    assert next(d for d in desired if d["device_id"] == "den-ngo5")["source"] == "local"

    # Power cut: the broker sends its Will; a command waits and is delivered on return.
    emu.power_cut()
    hub.wait(lambda: _light(hub, area_code, "den-ngo5").get("online") is False, what="LWT Offline")
    out = _command(hub, area_code, {"device_id": "den-ngo5"}, on=True, level=70)
    assert out["results"][0]["status"] == "queued", out
    emu.power_back()
    hub.wait(lambda: emu.state.dimmer == 70, what="the queued command delivered")
    commands = hub.http.get(
        f"/api/v1/areas/{area_code}/commands", params={"device_id": "den-ngo5", "limit": 1}
    ).json()["items"]
    hub.wait(
        lambda: (
            hub.http.get(f"/api/v1/areas/{area_code}/commands/{commands[0]['id']}").json()["status"]
            == "confirmed"
        ),
        what="the queued command confirmed",
    )


def test_a_relay_gets_power_only_and_tasmota_garbage_is_counted(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[TasmotaEmulator]
) -> None:
    make_area(hub, area_code)
    mqtt = _add(hub, area_code, "relay-1")
    emu = _start(broker, area_code, "relay-1", mqtt, emulators, dimmer=False, discovery_delay_s=0.2)
    hub.wait(lambda: _light(hub, area_code, "relay-1").get("online") is True)
    # Not known to dim yet: Power and Dimmer in one Backlog; the relay switches on and
    # answers the Dimmer "Unknown", which confirms the order as far as a relay can go.
    out = _command(hub, area_code, {"device_id": "relay-1"}, on=True, level=40)
    assert out["results"][0]["status"] == "confirmed", out
    assert emu.state.power is True
    assert ("Power", "ON") in emu.state.commands
    assert _light(hub, area_code, "relay-1")["capabilities"] == ["switch"]
    for on, sent in [(False, ("Power", "OFF")), (True, ("Power", "ON"))]:
        out = _command(hub, area_code, {"device_id": "relay-1"}, on=on, level=60)
        assert out["results"][0]["status"] == "confirmed", out
        assert emu.state.commands[-1] == sent

    before = hub.rejections()
    probe = raw_link(broker, "tasmota-garbage", filters=("stat/#", "tele/#", "tasmota/#"))
    try:
        for topic, body in [
            (f"stat/{area_code}/relay-1/RESULT", b"{not json"),
            (f"stat/{area_code}/relay-1/POWER", b"MAYBE"),
            (f"tele/{area_code}/relay-1/LWT", b"Sleeping"),
            (f"tele/{area_code}/relay-1/STATE", b'{"POWER":"ON","Dimmer":400}'),
            (f"tele/{area_code}/Relay 1/STATE", b'{"POWER":"ON"}'),
            (f"tele/{area_code}/relay-1/SENSOR", b"x" * 9000),
            ("tasmota/discovery/AABBCCDDEEFF/config", b'{"t":"x","ft":"%prefix%/%topic%/"}'),
        ]:
            receipt = probe.publish_with_receipt(Outbound(topic, body, qos=1))
            assert receipt is not None
        hub.wait(receipt.done, what="the last garbage published")
    finally:
        probe.stop()

    def counted() -> bool:
        after = hub.rejections()
        return sum(after.values()) - sum(before.values()) >= 7

    hub.wait(counted, what=f"seven rejections counted, {before} -> {hub.rejections()}")
    assert _light(hub, area_code, "relay-1")["online"] is True


def test_a_tasmota_account_cannot_touch_other_devices_or_protocols(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[TasmotaEmulator]
) -> None:
    make_area(hub, area_code)
    mine = _add(hub, area_code, "tas-a")
    _add(hub, area_code, "tas-b")
    r = hub.http.post(f"/api/v1/areas/{area_code}/devices", json={"device_id": "native-1", "kind": "light"})
    assert r.status_code == 201, r.text
    heard: list[str] = []
    link = MqttLink(
        LinkConfig(
            "127.0.0.1",
            broker.port,
            mine["username"],
            mine["username"],
            mine["password"],
            persistent=False,
            subscriptions=(f"cmnd/{area_code}/tas-b/#", f"khu/v1/{area_code}/native-1/cmd"),
        ),
        on_message=lambda m: heard.append(m.topic),
    )
    link.start()
    try:
        assert link.wait_connected(5)
        assert not link.wait_subscribed(1.0), "the broker refuses another device's commands"
        state = {"ts": 1, "on": True, "level": 99, "power_w": 1.0}
        forged = [
            (f"stat/{area_code}/tas-b/RESULT", b'{"POWER":"ON","Dimmer":99}'),
            (f"tele/{area_code}/tas-b/LWT", b"Online"),
            (f"khu/v1/{area_code}/native-1/state", json.dumps(state).encode()),
            (f"zigbee2mqtt/{area_code}/bridge-1/bulb-1", b'{"state":"ON"}'),
            ("tasmota/discovery/AABBCCDDEEFF/config", b"{}"),
        ]
        for topic, body in forged:
            receipt = link.publish_with_receipt(Outbound(topic, body, qos=1))
            assert receipt is not None
        hub.wait(receipt.done, what="the forged messages handled by the broker")
        # Its own topic still works: the broker delivers in order, so the others were dropped.
        own = link.publish_with_receipt(
            Outbound(f"tele/{area_code}/tas-a/LWT", b"Online", qos=1, retain=True)
        )
        assert own is not None
        hub.wait(lambda: _light(hub, area_code, "tas-a").get("online") is True, what="its own LWT")
        assert _light(hub, area_code, "tas-b")["online"] is False
        assert _light(hub, area_code, "tas-b")["state"] is None
        assert _light(hub, area_code, "native-1")["state"] is None
        r = hub.http.post(
            f"/api/v1/areas/{area_code}/commands",
            json={
                "target": {"device_id": "tas-b"},
                "action": {"type": "light.set", "on": True},
                "wait_ms": 0,
            },
        )
        assert r.status_code == 200
        assert heard == []
    finally:
        link.stop()


def test_each_protocol_takes_only_the_kinds_it_can_be(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    for body, words in [
        ({"device_id": "cam-x", "kind": "camera", "protocol": "tasmota"}, "a tasmota device is a light"),
        ({"device_id": "bong-x", "kind": "light", "protocol": "zigbee2mqtt"}, "add the bridge"),
    ]:
        r = hub.http.post(f"/api/v1/areas/{area_code}/devices", json=body)
        assert r.status_code == 422, r.text
        assert words in r.text
    r = hub.http.post(
        f"/api/v1/areas/{area_code}/devices",
        json={"device_id": "cau-1", "kind": "gateway", "protocol": "zigbee2mqtt"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["protocol"] == "zigbee2mqtt"
