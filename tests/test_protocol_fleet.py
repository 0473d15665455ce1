"""``khu simulate --protocol``: emulated off-the-shelf devices registered as an installer would."""

from __future__ import annotations

from collections.abc import Callable

from hub.broker.process import Broker
from hub.cli import build_parser
from hub.simulated import protocol_fleet
from tests.conftest import HubHarness


def test_simulate_tasmota_registers_accounts_and_the_hub_drives_them(
    own_broker: Broker, hub_factory: Callable[..., HubHarness]
) -> None:
    args = build_parser().parse_args(["simulate", "--protocol", "tasmota", "--count", "3", "--register"])
    assert (args.protocol, args.count) == ("tasmota", 3)
    assert build_parser().parse_args(["simulate", "--protocol", "z2m"]).protocol == "zigbee2mqtt"
    hub = hub_factory(own_broker)  # its files are in <state dir>/broker, as khu expects
    path = protocol_fleet.register(hub.settings, "sim-tas", "tasmota", 3)
    assert path.stat().st_mode & 0o777 == 0o600
    emulators = protocol_fleet.start(hub.settings, "sim-tas", "tasmota", 3)
    try:
        hub.wait(
            lambda: all((hub.device("sim-tas", f"tasmota-00{n}") or {}).get("online") for n in (1, 2, 3)),
            what="three Tasmota lights online",
        )
        zone = next(
            z for z in hub.http.get("/api/v1/areas/sim-tas").json()["zones"] if z["name"] == "Tasmota"
        )
        r = hub.http.post(
            "/api/v1/areas/sim-tas/commands",
            json={
                "target": {"zone_id": zone["id"]},
                "action": {"type": "light.set", "on": True, "level": 30},
            },
        )
        assert [x["status"] for x in r.json()["results"]] == ["confirmed"] * 3, r.text
    finally:
        for e in emulators:
            e.stop()


def test_simulate_esphome_lights_come_online(
    own_broker: Broker, hub_factory: Callable[..., HubHarness]
) -> None:
    hub = hub_factory(own_broker)
    protocol_fleet.register(hub.settings, "sim-esp", "esphome", 2)
    emulators = protocol_fleet.start(hub.settings, "sim-esp", "esphome", 2)
    try:
        hub.wait(
            lambda: all((hub.device("sim-esp", f"esphome-00{n}") or {}).get("online") for n in (1, 2)),
            what="two ESPHome lights online",
        )
        action = {"type": "light.set", "on": True, "level": 50}
        # A wait no busy machine outlasts: this is about obeying, not about how fast.
        order = {"target": {"area": True}, "action": action, "wait_ms": 15_000}
        r = hub.http.post("/api/v1/areas/sim-esp/commands", json=order)
        assert [x["status"] for x in r.json()["results"]] == ["confirmed"] * 2, r.text
    finally:
        for e in emulators:
            e.stop()


def test_simulate_frigate_cameras_come_online_behind_it(
    own_broker: Broker, hub_factory: Callable[..., HubHarness]
) -> None:
    hub = hub_factory(own_broker)
    protocol_fleet.register(hub.settings, "sim-fri", "frigate", 3)
    emulators = protocol_fleet.start(hub.settings, "sim-fri", "frigate", 3)
    try:
        hub.wait(
            lambda: all((hub.device("sim-fri", f"frigate-cam-0{n}") or {}).get("online") for n in (1, 2, 3)),
            timeout=40,
            what="three cameras online behind the Frigate",
        )
        assert (hub.device("sim-fri", "frigate-cam-01") or {})["via"] == "frigate-1"
    finally:
        for e in emulators:
            e.stop()


def test_simulate_zigbee2mqtt_bulbs_obey_behind_their_bridge(
    own_broker: Broker, hub_factory: Callable[..., HubHarness]
) -> None:
    hub = hub_factory(own_broker)
    protocol_fleet.register(hub.settings, "sim-z2m", "zigbee2mqtt", 4)
    emulators = protocol_fleet.start(hub.settings, "sim-z2m", "zigbee2mqtt", 4)
    try:
        names = [f"bong-00{n}" for n in (1, 2, 3, 4)]
        hub.wait(
            lambda: all((hub.device("sim-z2m", n) or {}).get("online") for n in names),
            what="four bulbs online behind the bridge",
        )
        action = {"type": "light.set", "on": True, "level": 40}
        body = {"target": {"area": True}, "action": action, "wait_ms": 5000}
        r = hub.http.post("/api/v1/areas/sim-z2m/commands", json=body)
        assert [x["status"] for x in r.json()["results"]] == ["confirmed"] * 4, r.text
    finally:
        for e in emulators:
            e.stop()
