"""Commands lost in a broker crash reach the devices when they come back, within their time to live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devices.payloads import Kind
from devices.sim import SimFleet, demo_layout
from hub.broker.process import Broker
from hub.registry.areas import Registration
from hub.simulated.demo import simulator_accounts
from tests.conftest import FAST, HubHarness, SimArea, make_area


@pytest.fixture
def fleets() -> Iterator[list[SimFleet]]:
    started: list[SimFleet] = []
    yield started
    for fleet in started:
        fleet.stop()


def start_area(hub: HubHarness, broker: Broker, code: str, fleets: list[SimFleet], lights: int) -> SimArea:
    """A simulated area of lights on ``broker`` (which the test may kill), online in the hub."""
    specs = demo_layout(code, lights=lights, streets=1, speakers=0, speaker_zones=0, cameras=0)
    regs = [Registration(s.device_id, s.kind, s.name, s.zone) for s in specs]
    regs.append(Registration("gw-1", Kind.GATEWAY, "gw 1"))
    make_area(hub, code, regs)
    accounts, control = simulator_accounts(hub.runtime.accounts, code, specs, 1, False)
    fleet = SimFleet(
        "127.0.0.1", broker.port, code, specs, timings=FAST, credentials=accounts, control_credentials=control
    )
    fleets.append(fleet)
    fleet.start()
    assert fleet.wait_online(10)
    hub.wait(lambda: _online(hub, code) == len(regs), what="every simulated device online in the hub")
    return SimArea(hub, code, fleet, specs)


def _online(hub: HubHarness, code: str) -> int:
    page = hub.http.get(f"/api/v1/areas/{code}/devices", params={"online": "true", "limit": 1}).json()
    return int(page["total"])


def _level(hub: HubHarness, code: str, device_id: str) -> Any:
    return ((hub.device(code, device_id) or {}).get("state") or {}).get("level")


def _commands(hub: HubHarness, code: str, group_id: str) -> dict[str, dict[str, Any]]:
    page = hub.http.get(f"/api/v1/areas/{code}/commands", params={"group_id": group_id, "limit": 100}).json()
    return {c["device_id"]: c for c in page["items"]}


def test_a_zone_command_in_flight_when_the_broker_is_killed_reaches_the_lights_after_its_restart(
    own_broker: Broker, hub_factory: Callable[..., HubHarness], area_code: str, fleets: list[SimFleet]
) -> None:
    hub = hub_factory(own_broker)
    hub.wait_scheduling()
    area = start_area(hub, own_broker, area_code, fleets, lights=4)
    lights = [s.device_id for s in area.specs if s.kind is Kind.LIGHT]
    zone = area.zone_id(next(s.zone for s in area.specs if s.kind is Kind.LIGHT) or "")
    # The broker's crash takes the command with it: the lights never see it.
    for d in lights:
        area.fleet.light(d).ignore_commands = True
    answer: dict[str, Any] = {}

    def order() -> None:
        answer["r"] = hub.http.post(
            f"/api/v1/areas/{area_code}/commands",
            json={"target": {"zone_id": zone}, "action": {"type": "light.set", "on": True, "level": 30}},
        )

    sender = threading.Thread(target=order)
    sender.start()
    time.sleep(0.12)
    own_broker.kill()
    sender.join(30)
    body = answer["r"].json()
    assert {r["status"] for r in body["results"]} == {"timed_out"}, body
    # Before the broker is back, the order is already what the lights should be doing.
    desired = {d["device_id"]: d for d in hub.http.get(f"/api/v1/areas/{area_code}/lights/desired").json()}
    assert {(desired[d]["source"], desired[d]["level"]) for d in lights} == {("manual", 30)}, desired

    for d in lights:
        area.fleet.light(d).ignore_commands = False
    time.sleep(1)
    own_broker.start()
    hub.wait(
        lambda: all(_level(hub, area_code, d) == 30 for d in lights),
        timeout=60,
        what="every light at the ordered level after the broker's restart",
    )
    # The order itself reached them (the same command ids), not only a correction made later.
    hub.wait(
        lambda: {c["status"] for c in _commands(hub, area_code, body["group_id"]).values()} == {"confirmed"},
        timeout=60,
        what="the zone command confirmed by every light",
    )
