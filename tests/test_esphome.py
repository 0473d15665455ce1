"""An ESPHome light node (emulated from ESPHome's documentation) on the real broker, through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from devices.emulators.esphome import EsphomeEmulator
from devices.messages import CommandOrder, InfoReport, Outbound, Rejected, StateReport
from devices.mqtt_client import Receipt
from devices.payloads import LightSet, LightState
from devices.protocols.esphome import EsphomeCodec, brightness_of, level_of
from hub.broker.process import Broker
from tests.conftest import HubHarness, make_area, raw_link
from tests.protocol_helpers import device as _light
from tests.protocol_helpers import light_command as _command
from tests.protocol_helpers import register

P = "esphome/kp3/den-1"
DISCOVERY = {
    "schema": "json",
    "clrm": True,
    "sup_clrm": ["brightness"],
    "brightness": True,
    "name": "Den duong",
    "stat_t": f"{P}/light/den_duong/state",
    "cmd_t": f"{P}/light/den_duong/command",
    "uniq_id": "ESPlightden_duong",
    "dev": {
        "ids": "a4cf12b3c4d5",
        "name": "den-1",
        "sw": "esphome v2024.11.2 Dec  2 2024, 10:11:12",
        "mdl": "esp32dev",
    },
}


def _order(codec: EsphomeCodec, cid: str, **set_: Any) -> tuple[str, dict[str, Any]]:
    out = codec.encode(CommandOrder("kp3", "den-1", LightSet(id=cid, **set_)))
    assert (out.qos, out.retain) == (1, False)
    return out.topic, json.loads(out.payload)


def _state(codec: EsphomeCodec, body: dict[str, Any], obj: str = "den_duong") -> list[LightState]:
    got = codec.decode(f"{P}/light/{obj}/state", json.dumps(body).encode())
    reports = [m for m in (got if isinstance(got, list) else [got]) if isinstance(m, StateReport)]
    return [r.state for r in reports if isinstance(r.state, LightState)]


def test_the_codec_speaks_esphomes_json_light() -> None:
    assert all(level_of(brightness_of(level)) == level for level in range(101))
    codec = EsphomeCodec()
    # Before the node spoke: the default object id (a light named "Light").
    assert _order(codec, "c0", on=True)[0] == f"{P}/light/light/command"
    # Its retained discovery (abbreviated keys, ESPHome's default) names the light and its firmware.
    info = codec.decode(f"{P}/discovery/light/den-1/den_duong/config", json.dumps(DISCOVERY).encode())
    assert isinstance(info, InfoReport)
    assert (info.info.model, info.info.firmware, info.info.capabilities) == (
        "esp32dev",
        "esphome v2024.11.2",
        ["switch", "dim"],
    )
    # The same in full keys (use_abbreviations: false).
    full = {
        k: v for k, v in DISCOVERY.items() if k not in ("stat_t", "cmd_t", "dev", "sup_clrm", "brightness")
    }
    full |= {
        "device": {"model": "esp01_1m", "sw_version": "1.2.0 (ESPHome 2024.11.2)"},
        "supported_color_modes": ["onoff"],
    }
    relay = codec.decode(f"{P}/discovery/light/den-1/den_duong/config", json.dumps(full).encode())
    assert isinstance(relay, InfoReport)
    assert (relay.info.model, relay.info.firmware, relay.info.capabilities) == (
        "esp01_1m",
        "1.2.0 (ESPHome 2024.11.2)",
        ["switch"],
    )
    codec.decode(f"{P}/discovery/light/den-1/den_duong/config", json.dumps(DISCOVERY).encode())
    # Commands: 40 % is brightness 102; a bare state keeps the brightness; level 0 is off.
    assert _order(codec, "c1", on=True, level=40) == (
        f"{P}/light/den_duong/command",
        {"state": "ON", "brightness": 102},
    )
    # A fade's starting state and its steps are held; the state the order asked for confirms it.
    assert _state(codec, {"color_mode": "brightness", "state": "OFF", "brightness": 255, "color": {}}) == []
    assert _state(codec, {"state": "ON", "brightness": 51}) == []
    (done,) = _state(codec, {"color_mode": "brightness", "state": "ON", "brightness": 102, "color": {}})
    assert (done.cmd, done.on, done.level) == ("c1", True, 40)
    assert _order(codec, "c2", on=True)[1] == {"state": "ON"}
    assert _order(codec, "c3", level=0)[1] == {"state": "OFF"}
    (off,) = _state(codec, {"state": "OFF", "brightness": 102})
    assert (off.cmd, off.on, off.level) == ("c3", False, 40)
    # A change nobody ordered comes without a command id; a second light of the node is ignored.
    (local,) = _state(codec, {"state": "ON", "brightness": 255})
    assert (local.cmd, local.level) == (None, 100)
    assert _state(codec, {"state": "ON", "brightness": 3}, obj="other_lamp") == []
    # A cleaned discovery forgets the light; a sensor's discovery says nothing the hub keeps.
    assert codec.decode(f"{P}/discovery/light/den-1/den_duong/config", b"") == []
    assert codec.decode(f"{P}/discovery/sensor/den-1/wifi_signal/config", b'{"name":"WiFi"}') == []
    assert _order(codec, "c4", on=False)[0] == f"{P}/light/light/command"
    with pytest.raises(Rejected):
        codec.decode(f"{P}/light/den_duong/state", b'{"state":"ON","brightness":true}')


@pytest.fixture
def emulators() -> Iterator[list[EsphomeEmulator]]:
    started: list[EsphomeEmulator] = []
    yield started
    for e in started:
        e.stop()


def _add(hub: HubHarness, area: str, device_id: str, **extra: Any) -> dict[str, Any]:
    return register(hub, area, device_id, "light", "esphome", **extra)


def _start(
    broker: Broker, area: str, device_id: str, mqtt: dict[str, Any], started: list[EsphomeEmulator], **kw: Any
) -> EsphomeEmulator:
    emu = EsphomeEmulator(area, device_id, "127.0.0.1", broker.port, mqtt["username"], mqtt["password"], **kw)
    emu.start()
    started.append(emu)
    return emu


def _state_of(hub: HubHarness, area: str, device_id: str) -> dict[str, Any]:
    return dict(_light(hub, area, device_id).get("state") or {})


def _sources(hub: HubHarness, area: str, device_id: str) -> list[str]:
    """Where the light's commands came from, newest first (a change at the light is "local")."""
    page = hub.http.get(f"/api/v1/areas/{area}/commands", params={"device_id": device_id}).json()
    return [c["source"] for c in page["items"]]


def _desired(hub: HubHarness, area: str, device_id: str) -> dict[str, Any]:
    rows = hub.http.get(f"/api/v1/areas/{area}/lights/desired").json()
    return next((d for d in rows if d["device_id"] == device_id), {})


def test_an_esphome_light_joins_obeys_through_its_fades_reports_its_button_and_its_will(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[EsphomeEmulator]
) -> None:
    make_area(hub, area_code)
    hub.wait_scheduling()
    mqtt = _add(hub, area_code, "den-1")
    # What the head pastes in the node's YAML: an mqtt: block with the topics in the node's tree.
    assert mqtt["protocol"] == "esphome"
    setup = "\n".join(mqtt["setup"])
    assert setup.startswith("mqtt:\n")
    assert f'  username: "{mqtt["username"]}"\n  password: "{mqtt["password"]}"' in setup
    assert f'  client_id: "{mqtt["username"]}"' in setup
    assert f'  topic_prefix: "esphome/{area_code}/den-1"' in setup
    assert f'  discovery_prefix: "esphome/{area_code}/den-1/discovery"' in setup

    # Fades of 0.4 s, reported step by step (transition_state_publish_interval 0.1 s).
    emu = _start(broker, area_code, "den-1", mqtt, emulators, transition_s=0.4, publish_interval_s=0.1)
    hub.wait(lambda: _light(hub, area_code, "den-1").get("online") is True, what="birth message")
    hub.wait(lambda: _light(hub, area_code, "den-1").get("model") == "esp32dev", what="discovery")
    device = _light(hub, area_code, "den-1")
    assert (device["protocol"], device["firmware"]) == ("esphome", "esphome v2024.11.2")
    assert device["capabilities"] == ["switch", "dim"]

    # Confirmed by the state it asked for, the fade's steps held on the way: none is a local change.
    published = len(emu.light.published)
    out = _command(hub, area_code, {"device_id": "den-1"}, on=True, level=40)
    assert [r["status"] for r in out["results"]] == ["confirmed"], out
    assert emu.light.commands[-1] == {"state": "ON", "brightness": 102}
    assert (out["results"][0]["state"]["on"], out["results"][0]["state"]["level"]) == (True, 40)
    hub.wait(lambda: len(emu.light.published) >= published + 5, what="start, 3 steps and the end of the fade")
    assert emu.light.published[published]["state"] == "OFF"  # where the fade started
    assert _sources(hub, area_code, "den-1") == ["manual"]

    out = _command(hub, area_code, {"device_id": "den-1"}, on=False)
    assert out["results"][0]["status"] == "confirmed", out
    assert emu.light.commands[-1] == {"state": "OFF"}
    assert out["results"][0]["state"]["level"] == 40  # ESPHome keeps the brightness while off

    # Its button: a change nobody ordered, adopted as the light's desired state, at the brightness kept.
    emu.press()
    hub.wait(
        lambda: (
            _desired(hub, area_code, "den-1") | {"since": None}
            == {
                "device_id": "den-1",
                "on": True,
                "level": 40,
                "source": "local",
                "since": None,
                "timetable_id": None,
            }
        ),
        what="the button's change adopted",
    )

    # Power cut: the broker sends its Will; a command waits and is delivered on its return,
    # though it boots off at full brightness (restore_mode ALWAYS_OFF).
    emu.power_cut()
    hub.wait(lambda: _light(hub, area_code, "den-1").get("online") is False, what="Last Will")
    out = _command(hub, area_code, {"device_id": "den-1"}, on=True, level=70)
    assert out["results"][0]["status"] == "queued", out
    emu.power_back()
    hub.wait(lambda: emu.light.commands[-1] == {"state": "ON", "brightness": 179}, what="the queued command")
    hub.wait(lambda: _state_of(hub, area_code, "den-1").get("level") == 70, what="its state at 70 %")
    command = hub.http.get(f"/api/v1/areas/{area_code}/commands", params={"device_id": "den-1", "limit": 1})
    cid = command.json()["items"][0]["id"]
    hub.wait(
        lambda: hub.http.get(f"/api/v1/areas/{area_code}/commands/{cid}").json()["status"] == "confirmed",
        what="the queued command confirmed",
    )


def test_esphome_garbage_is_counted_and_a_node_cannot_write_another_nodes_topics(
    broker: Broker, hub: HubHarness, area_code: str, emulators: list[EsphomeEmulator]
) -> None:
    make_area(hub, area_code)
    a = _start(broker, area_code, "den-a", _add(hub, area_code, "den-a"), emulators, transition_s=0)
    b = _start(broker, area_code, "den-b", _add(hub, area_code, "den-b"), emulators, transition_s=0)
    hub.wait(
        lambda: all(_state_of(hub, area_code, n).get("on") is False for n in ("den-a", "den-b")),
        what="both nodes reporting",
    )

    # With A's credentials on B's topics (and on its own command topic): the broker drops them
    # (MQTT 3.1.1 has no way to say no), so nothing changes; A's own state, sent after, arrives.
    for topic, body in [
        (b.state_topic, b'{"state":"ON","brightness":255}'),
        (b.status_topic, b"offline"),
        (b.command_topic, b'{"state":"ON"}'),
        (a.command_topic, b'{"state":"ON"}'),
        (f"esphome/{area_code}/den-b/discovery/light/den-b/light/config", b""),
    ]:
        assert a.link.publish(Outbound(topic, body, qos=1, retain=True))
    a.press()
    hub.wait(lambda: _state_of(hub, area_code, "den-a").get("on") is True, what="A's own state")
    assert (_state_of(hub, area_code, "den-b").get("on"), _light(hub, area_code, "den-b")["online"]) == (
        False,
        True,
    )
    assert (b.light.commands, a.light.commands, b.light.on) == ([], [], False)

    before = hub.rejections()
    probe = raw_link(broker, "esphome-garbage", filters=("esphome/#",))
    base = f"esphome/{area_code}/den-b"
    receipts: list[Receipt] = []
    try:
        for topic, body in [
            (f"{base}/light/light/state", b"{not json"),
            (f"{base}/light/light/state", b'{"state":"MAYBE"}'),
            (f"{base}/light/light/state", b'{"state":"ON","brightness":300}'),
            (f"{base}/light/light/state", b'["ON"]'),
            (f"{base}/light/light/state", b"x" * 9000),
            (f"{base}/status", b"sleeping"),
            (f"esphome/{area_code}/Den B/status", b"online"),
            (f"{base}/discovery/light/den-b/light/config", b'{"schema":"json","name":"Light"}'),
        ]:
            receipt = probe.publish_with_receipt(Outbound(topic, body, qos=1))
            assert receipt is not None
            receipts.append(receipt)
        hub.wait(lambda: all(r.done() for r in receipts), what="the garbage published")

        def counted() -> bool:
            return sum(hub.rejections().values()) - sum(before.values()) >= 8

        hub.wait(counted, what=f"eight rejections counted, {before} -> {hub.rejections()}")
        assert (_state_of(hub, area_code, "den-b")["on"], _light(hub, area_code, "den-b")["online"]) == (
            False,
            True,
        )
        # The state A tried to write, from an account allowed to write it, is taken.
        assert probe.publish(Outbound(b.state_topic, b'{"state":"ON","brightness":255}', qos=1))
        hub.wait(
            lambda: _state_of(hub, area_code, "den-b").get("on") is True, what="B's state, from the tool"
        )
    finally:
        probe.stop()
