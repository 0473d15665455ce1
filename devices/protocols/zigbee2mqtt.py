"""Zigbee2MQTT bridges: one MQTT connection (a gateway) carrying many Zigbee bulbs and relays.

Each bridge is set up with ``base_topic: zigbee2mqtt/<area>/<bridge id>`` (docs/protocols/
zigbee2mqtt.md), so every topic names its area and its bridge. From Zigbee2MQTT's documentation
("MQTT Topics and Messages", "Device-Availability", "Exposes") and its ``lib/mqtt.ts``:

- ``<base>/bridge/state``: retained, ``online`` on connecting and ``offline`` as its Will (QoS 1,
  retained); ``{"state":"online"}`` unless ``legacy_availability_payload`` (1.x): both are read.
- ``<base>/bridge/devices``: retained list of every device, republished on any join, leave or
  rename. A ``light`` or ``switch`` expose with a ``state`` feature (and ``brightness``) makes a
  light; the coordinator, sensors and devices not interviewed yet are skipped.
- ``<base>/bridge/groups``: a group's friendly name publishes states too; they are ignored.
- ``<base>/<friendly_name>``: JSON state, the whole cached state each time (``cache_state``),
  brightness 0-254; after a ``/set`` the bridge publishes the state it expects at once, then
  what the bulb reports, so a transition publishes the target, a step on the way, the target
  again (Koenkk/zigbee2mqtt#3949): steps before a match are held by ``OrderBook``, steps right
  after it (``SETTLE_S``) here.
- ``<base>/<friendly_name>/availability``: retained, only with ``availability`` enabled. Without
  it, a light is online while its bridge is and lists it.
- ``<base>/<friendly_name>/set`` (hub -> bridge): ``{"state":"ON","brightness":102}``.

A friendly name may contain ``/`` or capitals, and Zigbee2MQTT takes no ``/set`` for one that
starts with ``bridge``: such a light is refused (counted), the rest of the list is kept.
``bridge/logging``, ``bridge/event`` and ``bridge/definitions`` are not read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from devices.codec import DeviceTopics
from devices.messages import (
    AvailabilityReport,
    CommandOrder,
    Decoded,
    Inbound,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    Source,
    StateReport,
)
from devices.pairing import OrderBook, StampClock
from devices.payloads import Availability, DeviceInfo, Kind, LightSet, LightState
from devices.protocols.common import Key, Lights, ident, json_object, number, switch, text
from devices.protocols.zigbee2mqtt_devices import LIST_LIMIT, MAX_DEVICES, describe, json_list, refused

log = logging.getLogger(__name__)

NAME = "zigbee2mqtt"
ROOT = "zigbee2mqtt"
SETTLE_S = 5.0  # after a confirmation, reports on the way there are transition steps
HUB_OFFLINE = b'{"state":"offline","by":"khu-hub"}'  # the hub's word for a bulb it cut off
_BRIDGE_TOPICS = ("bridge/state", "bridge/info", "bridge/devices", "bridge/groups")


def base_topic(area: str, bridge: str) -> str:
    """The ``mqtt.base_topic`` a bridge of ``area`` must be given."""
    return f"{ROOT}/{area}/{bridge}"


def brightness_of(level: int) -> int:
    """0-100 % -> Zigbee2MQTT's 0-254, rounded half up; ``level_of`` gives every level back."""
    return (level * 254 + 50) // 100


def level_of(brightness: int) -> int:
    return 0 if brightness <= 0 else max(1, min(100, (brightness * 100 + 127) // 254))


@dataclass(slots=True)
class _Bridge:
    online: bool | None = None
    json_payload: bool = True  # how it writes availability: {"state":"online"} or online
    lights: dict[str, bool] = field(default_factory=dict)  # listed lights: name -> dims
    others: set[str] = field(default_factory=set)  # listed, not lights (or refused names)
    groups: set[str] = field(default_factory=set)
    reported: dict[str, bool] = field(default_factory=dict)  # its own <name>/availability
    said: dict[str, bool] = field(default_factory=dict)  # availability this codec reported


class Zigbee2MqttCodec:
    name = NAME

    def __init__(self) -> None:
        self.orders = OrderBook()
        self._lights = Lights()
        self._clock = StampClock()
        self._lock = threading.Lock()
        self._bridges: dict[Key, _Bridge] = {}
        # (area, light) -> the bridge that listed it first: commands go there, and another
        # bridge listing the same name later changes nothing (the hub refuses it, via_mismatch).
        self._behind: dict[Key, str] = {}
        self._settling: dict[Key, tuple[int, float]] = {}  # level just confirmed, until

    def subscriptions(self) -> list[str]:
        # Availability before the list, the list before the bridge's state: retained copies
        # come in this order after a hub restart, so no unreachable bulb is shown online.
        return [
            f"{ROOT}/+/+/+/availability",
            *(f"{ROOT}/+/+/{t}" for t in ("bridge/groups", "bridge/devices", "bridge/state", "bridge/info")),
            f"{ROOT}/+/+/+",
        ]

    def claims(self, topic: str) -> bool:
        return topic.startswith(ROOT + "/")

    def hub_publishes(self) -> list[str]:
        return [f"{ROOT}/+/+/+/set", f"{ROOT}/+/+/+/availability", f"{ROOT}/+/+/bridge/state"]

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        # Zigbee2MQTT subscribes to <base>/# in one filter (lib/mqtt.ts): the broker refuses a
        # subscription wider than the account's pattern, so reading is its whole tree too.
        # Only the hub and the bridge itself may write there. A bulb never connects.
        own = (f"{base_topic(area, device)}/#",)
        return DeviceTopics(own, own) if gateway else DeviceTopics((), ())

    def offline(self, area: str, device: str) -> Outbound | None:
        bridge = self._carrier(area, device)
        with self._lock:
            fmt = self._bridges.get((area, bridge or device), _Bridge()).json_payload
        if bridge is not None:
            # Not retained, and marked: the bridge's own retained availability must survive
            # (it does not republish it on reconnecting: lib/mqtt.ts finds bridge/info kept).
            return Outbound(f"{base_topic(area, bridge)}/{device}/availability", HUB_OFFLINE, qos=1)
        body = b'{"state":"offline"}' if fmt else b"offline"
        return Outbound(f"{base_topic(area, device)}/bridge/state", body, qos=1, retain=True)  # as its Will

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        bridge = self._carrier(area, device)
        if bridge is not None:
            return [f"behind the Zigbee2MQTT bridge {bridge} as friendly_name {device}: nothing to set up"]
        return [
            "# configuration.yaml of the Zigbee2MQTT bridge",
            "mqtt:",
            f"  base_topic: {base_topic(area, device)}",
            f"  server: mqtt://{host}:{port}",
            f"  user: {username}",
            f"  password: {password}",
            f"  client_id: {username}",
            "availability: true  # optional: each bulb's own online/offline",
            "# each light's friendly_name is its device id: a-z 0-9 - _, no '/', not bridge...",
        ]

    def _carrier(self, area: str, device: str) -> str | None:
        """The bridge a light is behind; None for a bridge (one it heard from is one, whatever
        another bridge's list calls a light) or a device no list named."""
        with self._lock:
            heard = self._bridges.get((area, device))
            return (
                None if heard is not None and heard.online is not None else self._behind.get((area, device))
            )

    def _owner(self, key: Key) -> str | None:
        with self._lock:
            return self._behind.get(key)

    def _bridge(self, area: str, bridge: str) -> _Bridge:
        with self._lock:
            return self._bridges.setdefault((area, bridge), _Bridge())

    # --- decode --------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes) -> Decoded:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != ROOT:
            raise Rejected(RejectReason.BAD_TOPIC, f"not {ROOT}/<area>/<bridge>/...: {topic[:200]!r}")
        area, bridge, rest = ident(parts[1], "area"), ident(parts[2], "bridge"), parts[3:]
        if rest[0] == "bridge":
            return self._from_bridge(area, bridge, "/".join(rest), payload)
        b = self._bridge(area, bridge)
        name = rest[0]
        if len(rest) > 2 or (len(rest) == 2 and rest[1] != "availability"):
            raise Rejected(RejectReason.BAD_TOPIC, f"not <base>/<light>[/availability]: {topic[:200]!r}")
        if not payload or name in b.others or name in b.groups:
            return []  # a cleared retained copy, a sensor, a group, a name already refused
        ident(name, "friendly_name")
        if len(rest) == 2:
            return self._availability(area, bridge, b, name, payload)
        return self._state(area, bridge, name, json_object(payload))

    def _from_bridge(self, area: str, bridge: str, what: str, payload: bytes) -> Decoded:
        if what not in _BRIDGE_TOPICS or not payload:
            return []  # logging, event, response, definitions, ...: nothing the hub keeps
        if what == "bridge/state":
            return self._bridge_state(area, bridge, payload)
        if what == "bridge/info":
            return self._bridge_info(area, bridge, json_object(payload, LIST_LIMIT))
        entries = json_list(payload, what)
        if what == "bridge/groups":
            names = {e.get("friendly_name") for e in entries if isinstance(e, dict)}
            self._bridge(area, bridge).groups = {n for n in names if isinstance(n, str)}
            return []
        return self._devices(area, bridge, entries)

    def _bridge_state(self, area: str, bridge: str, payload: bytes) -> list[Inbound]:
        online, fmt = _availability(payload)
        b = self._bridge(area, bridge)
        b.online, b.json_payload = online, fmt
        b.said.clear()  # offline: the hub takes every light behind it down with it
        reports: list[Inbound] = [AvailabilityReport(Source(area, bridge, NAME), _avail(online))]
        return reports + self._lights_online(area, bridge, b) if online else reports

    def _lights_online(self, area: str, bridge: str, b: _Bridge) -> list[Inbound]:
        """Each light it carries is what its own availability says, else online with it."""
        reports: list[Inbound] = []
        for name in list(b.lights):
            up = b.reported.get(name, True)
            if self._owner((area, name)) == bridge and b.said.get(name) != up:
                b.said[name] = up
                reports.append(AvailabilityReport(Source(area, name, NAME, via=bridge), _avail(up)))
        return reports

    def _bridge_info(self, area: str, bridge: str, body: dict[str, Any]) -> InfoReport:
        version, coordinator = body.get("version"), body.get("coordinator")
        kind = coordinator.get("type") if isinstance(coordinator, dict) else None
        if not isinstance(version, str) or not version:
            raise Rejected(RejectReason.INVALID, "bridge/info must give its version")
        model = f"Zigbee2MQTT {kind}" if isinstance(kind, str) and kind else "Zigbee2MQTT"
        info = DeviceInfo(kind=Kind.GATEWAY, model=model[:64], firmware=version[:32])
        return InfoReport(Source(area, bridge, NAME), info)

    def _devices(self, area: str, bridge: str, entries: list[Any]) -> list[Inbound | Rejected]:
        found: dict[str, DeviceInfo] = {}
        others: set[str] = set()
        reports: list[Inbound | Rejected] = []
        for i, entry in enumerate(entries):
            try:
                name, info = describe(entry, bridge)
            except Rejected as rej:
                label = entry.get("friendly_name") if isinstance(entry, dict) else None
                reports.append(refused(bridge, str(label or f"entry {i}"), rej))
                if isinstance(label, str):
                    others.add(label)
                continue
            if info is None:
                others.add(name)
            else:
                found[name] = info
        b = self._bridge(area, bridge)
        with self._lock:
            gone = [n for n in b.lights if n not in found and self._behind.get((area, n)) == bridge]
            for n in gone:
                del self._behind[(area, n)]
            for n in found:
                self._behind.setdefault((area, n), bridge)
            b.lights = {n: "dim" in i.capabilities for n, i in found.items()}
            b.others = others
        for n, info in found.items():
            if self._owner((area, n)) == bridge:
                self._lights.get((area, n)).dims = b.lights[n]
            reports.append(InfoReport(Source(area, n, NAME, via=bridge), info))
        for n in gone:  # it left the network (or was renamed): nothing speaks for it now
            b.said.pop(n, None)
            reports.append(AvailabilityReport(Source(area, n, NAME, via=bridge), Availability.OFFLINE))
        if b.online:
            reports += self._lights_online(area, bridge, b)
        return reports

    def _availability(self, area: str, bridge: str, b: _Bridge, name: str, payload: bytes) -> Inbound:
        up, _ = _availability(payload)
        if payload != HUB_OFFLINE and (name in b.reported or len(b.reported) < MAX_DEVICES):
            b.reported[name] = up  # what the bridge says, not what the hub said for it
        if self._owner((area, name)) == bridge:
            b.said[name] = up
        return AvailabilityReport(Source(area, name, NAME, via=bridge), _avail(up))

    def _state(self, area: str, bridge: str, name: str, body: dict[str, Any]) -> Decoded:
        key = (area, name)
        on = switch(body["state"], "state") if "state" in body else None
        raw = body.get("brightness")
        bright = None if raw is None else int(number(raw, "brightness", 0, 255))
        power = None if body.get("power") is None else number(body["power"], "power", 0, 5000)
        src = Source(area, name, NAME, via=bridge)
        if self._owner(key) != bridge:
            # Not a light this bridge carries: reported as it is, for the hub to refuse
            # (unknown_device, via_mismatch); nothing remembered of the light changes.
            if on is None:
                return []
            level = level_of(bright) if bright is not None else (100 if on else 0)
            state = LightState(ts=self._clock.stamp(key), on=on, level=level, power_w=power or 0)
            return StateReport(src, state)
        if on is None and bright is None and power is None:
            return []  # linkquality, update, ...: nothing about the light
        light = self._lights.get(key)
        light.on = light.on if on is None else on
        light.level = light.level if bright is None else level_of(bright)
        light.power_w = light.power_w if power is None else power
        level = light.level if light.dims is not False else (100 if light.on else 0)
        verdict = self.orders.settle(key, light.on, level)
        now = time.monotonic()
        if verdict.hold or (verdict.command_id is None and self._stepping(key, light.on, level, now)):
            return []
        if verdict.command_id is not None and light.on and light.dims:
            self._settling[key] = (level, now + SETTLE_S)
        state = LightState(
            ts=self._clock.stamp(key), cmd=verdict.command_id, on=light.on, level=level, power_w=light.power_w
        )
        return StateReport(src, state)

    def _stepping(self, key: Key, on: bool, level: int, now: float) -> bool:
        """A dimming step reported just after the order's target (a transition), not a change."""
        settling = self._settling.get(key)
        if settling is None:
            return False
        target, until = settling
        if now > until:
            self._settling.pop(key, None)
            return False
        return on and level != target

    # --- encode --------------------------------------------------------------------

    def encode(self, order: CommandOrder) -> Outbound:
        cmd = order.command
        if not isinstance(cmd, LightSet):
            raise ValueError(f"a Zigbee2MQTT device is a light; it cannot {cmd.action}")
        key = (order.area, order.device)
        bridge = self._owner(key)
        if bridge is None:
            raise ValueError(f"{order.area}/{order.device} is in no Zigbee2MQTT bridge's device list yet")
        dims = self._lights.get(key).dims is not False
        body: dict[str, Any] = {"state": "ON"}
        if cmd.on is False or (cmd.level == 0 and cmd.on is not True):
            body = {"state": "OFF"}
        elif dims and cmd.level:
            body["brightness"] = brightness_of(cmd.level)  # also switches it on
        self._settling.pop(key, None)  # this order's own steps are the order book's to hold
        self.orders.ordered(key, cmd, dims=dims)
        topic = f"{base_topic(order.area, bridge)}/{order.device}/set"
        return Outbound(topic, json.dumps(body).encode(), qos=1, retain=False)


def _availability(payload: bytes) -> tuple[bool, bool]:
    """``online``/``offline`` or ``{"state":"online"}``: (online, written as JSON)."""
    value: Any = text(payload)
    fmt = value.startswith("{")
    if fmt:
        value = json_object(payload).get("state")
    if value in ("online", "offline"):
        return value == "online", fmt
    raise Rejected(RejectReason.INVALID, f"availability must be online or offline, got {str(value)[:40]!r}")


def _avail(online: bool) -> Availability:
    return Availability.ONLINE if online else Availability.OFFLINE
