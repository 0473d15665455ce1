"""ESPHome nodes with the MQTT component (not the native API) driving one light.

Each node is given ``topic_prefix: esphome/<area>/<node>`` (node = the hub's device id) and
its Home Assistant discovery inside its own tree, ``discovery_prefix:
esphome/<area>/<node>/discovery``, so one ACL covers everything it writes
(docs/protocols/esphome.md). From ESPHome's documentation (components/mqtt, components/light)
and the MQTT JSON light schema it follows:

- ``<prefix>/status``: retained ``online`` (birth message) / ``offline`` (Last Will, and
  the shutdown message of a clean stop) -> availability;
- ``<prefix>/light/<object_id>/state``: retained JSON ``{"color_mode":"brightness",
  "state":"ON","brightness":102,"color":{}}``, brightness 0-255 -> ``LightState``
  (level = round(brightness * 100 / 255)), published at boot and after every change;
- ``<prefix>/discovery/light/<node name>/<object_id>/config``: retained discovery config
  (abbreviated keys by default: ``stat_t``, ``cmd_t``, ``dev.mdl``, ``dev.sw``) -> info;
- ``<prefix>/light/<object_id>/command`` (hub -> node, never retained): JSON
  ``{"state":"ON","brightness":102}``; a command with only ``state`` keeps the brightness.

ESPHome echoes no command id: orders are confirmed by the state they ask for
(``devices.pairing``); the start and steps of a transition (``transition_state_publish_interval``)
are held as steps on the way. Reports are stamped on arrival.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from devices.codec import DeviceTopics
from devices.messages import (
    AvailabilityReport,
    CommandOrder,
    Decoded,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    Source,
    StateReport,
)
from devices.pairing import OrderBook, StampClock
from devices.payloads import Availability, DeviceInfo, Kind, LightSet, LightState
from devices.protocols.common import Lights, ident, json_object, number, switch, text

NAME = "esphome"
ROOT = "esphome"
DISCOVERY = "discovery"  # the node's discovery_prefix, inside its own tree
# A light named "Light" in the node's YAML has this object id; used until the node's
# discovery or state tells the real one (docs/protocols/esphome.md).
DEFAULT_OBJECT_ID = "light"
_OBJECT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # ESPHome's snake-cased, sanitized name
_SW_VERSION = re.compile(r"^(esphome v\S+)")  # "esphome v2024.11.2 Dec  2 2024, 10:11:12"
_DIMMING_MODES = frozenset({"brightness", "white", "color_temp", "rgb", "rgbw", "rgbww"})

Key = tuple[str, str]


def prefix(area: str, device: str) -> str:
    """The ``topic_prefix`` a node of ``area`` must be given."""
    return f"{ROOT}/{area}/{device}"


def brightness_of(level: int) -> int:
    """Percent -> ESPHome's 0-255 (half up: 40 % is 102)."""
    return int(level * 255 / 100 + 0.5)


def level_of(brightness: float) -> int:
    return int(brightness * 100 / 255 + 0.5)


class EsphomeCodec:
    name = NAME

    def __init__(self) -> None:
        self.orders = OrderBook()
        self._lights = Lights()
        self._clock = StampClock()
        self._lock = threading.Lock()
        self._objects: dict[Key, str] = {}  # the node's light, learnt from discovery or state

    def subscriptions(self) -> list[str]:
        return [
            f"{ROOT}/+/+/status",
            f"{ROOT}/+/+/light/+/state",
            f"{ROOT}/+/+/{DISCOVERY}/light/+/+/config",
        ]

    def claims(self, topic: str) -> bool:
        return topic.startswith(ROOT + "/")

    def hub_publishes(self) -> list[str]:
        return [f"{ROOT}/+/+/light/+/command", f"{ROOT}/+/+/status"]

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        base = prefix(area, device)
        # Everything of its own tree but its command topics, which only the hub writes.
        own = (
            f"{base}/status",
            f"{base}/debug",  # ESPHome's default log_topic
            f"{base}/+/+/state",
            f"{base}/{DISCOVERY}/+/+/+/config",
        )
        return DeviceTopics(own, (f"{base}/+/+/command",))

    def offline(self, area: str, device: str) -> Outbound | None:
        return Outbound(f"{prefix(area, device)}/status", b"offline", qos=1, retain=True)

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        base = prefix(area, device)
        q = json.dumps  # a double-quoted JSON string is a valid YAML scalar
        return [
            "mqtt:",
            f"  broker: {q(host)}",
            f"  port: {port}",
            f"  username: {q(username)}",
            f"  password: {q(password)}",
            f"  client_id: {q(username)}",
            f"  topic_prefix: {q(base)}",
            f"  discovery_prefix: {q(base + '/' + DISCOVERY)}",
            "  discovery_retain: true",
            "  discover_ip: false",
            "# and remove the api: block (or give it reboot_timeout: 0s), as ESPHome's MQTT page asks;",
            f'# one light, best named "Light" (object id {DEFAULT_OBJECT_ID}), with the default MQTT topics.',
        ]

    # --- decode --------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes) -> Decoded:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != ROOT:
            raise Rejected(RejectReason.BAD_TOPIC, f"not esphome/<area>/<node>/...: {topic[:200]!r}")
        key = (ident(parts[1], "area"), ident(parts[2], "device"))
        src = Source(key[0], key[1], NAME)
        rest = parts[3:]
        if rest == ["status"]:
            return AvailabilityReport(src, _availability(text(payload)))
        if len(rest) == 3 and rest[0] == "light" and rest[2] == "state":
            return self._state(src, key, _object_id(rest[1]), payload)
        if len(rest) == 5 and rest[0] == DISCOVERY and rest[4] == "config":
            if rest[1] != "light":
                return []  # a sensor or button of the node: nothing the hub keeps
            return self._discovery(src, key, _object_id(rest[3]), payload)
        raise Rejected(
            RejectReason.BAD_TOPIC, f"not an ESPHome status, light state or discovery: {topic[:200]!r}"
        )

    def _state(self, src: Source, key: Key, obj: str, payload: bytes) -> Decoded:
        body = json_object(payload)
        on = switch(body.get("state"), "state")
        mode = body.get("color_mode")
        if mode is not None and not isinstance(mode, str):
            raise Rejected(RejectReason.INVALID, f"color_mode must be a string, got {str(mode)[:40]!r}")
        brightness = number(body["brightness"], "brightness", 0, 255) if "brightness" in body else None
        with self._lock:
            known = self._objects.setdefault(key, obj)
        if known != obj:
            return []  # a second light of the node: the hub drives one light per node
        light = self._lights.get(key)
        if brightness is not None:
            light.level = level_of(brightness)
            if light.dims is None:
                light.dims = True
        elif mode == "onoff":
            light.dims = False
        light.on = on
        verdict = self.orders.settle(key, light.on, light.level)
        if verdict.hold:
            return []  # the start or a step of a transition towards the open order
        level = light.level if light.dims is not False else (100 if on else 0)
        state = LightState(ts=self._clock.stamp(key), cmd=verdict.command_id, on=on, level=level, power_w=0.0)
        return StateReport(src, state)

    def _discovery(self, src: Source, key: Key, obj: str, payload: bytes) -> Decoded:
        if not payload:
            # Discovery cleaned (discovery: CLEAN, or esphome clean-mqtt): forget that light.
            with self._lock:
                if self._objects.get(key) == obj:
                    del self._objects[key]
            return []
        body = json_object(payload)
        if _field(body, "schema", "schema") != "json":
            raise Rejected(RejectReason.INVALID, "discovery: only ESPHome's JSON light schema is understood")
        base = prefix(*key)
        for short, long, suffix in (
            ("stat_t", "state_topic", "state"),
            ("cmd_t", "command_topic", "command"),
        ):
            value = _field(body, short, long)
            if value is not None and value != f"{base}/light/{obj}/{suffix}":
                raise Rejected(
                    RejectReason.INVALID,
                    f"discovery: {long} must be {base}/light/{obj}/{suffix}, got {str(value)[:80]!r}",
                )
        dev = _field(body, "dev", "device")
        if not isinstance(dev, dict):
            raise Rejected(RejectReason.INVALID, "discovery must describe its device (dev)")
        model, sw = _field(dev, "mdl", "model"), _field(dev, "sw", "sw_version")
        if not isinstance(model, str) or not isinstance(sw, str) or not model.strip() or not sw.strip():
            raise Rejected(
                RejectReason.INVALID, "discovery must give the device's model (mdl) and sw_version (sw)"
            )
        modes = _field(body, "sup_clrm", "supported_color_modes")
        dims = _field(body, "brightness", "brightness") is True or (
            isinstance(modes, list) and any(m in _DIMMING_MODES for m in modes)
        )
        with self._lock:
            self._objects[key] = obj
        self._lights.get(key).dims = dims
        found = _SW_VERSION.match(sw.strip())
        firmware = found.group(1) if found else sw.strip()
        info = DeviceInfo(
            kind=Kind.LIGHT,
            model=model.strip()[:64],
            firmware=firmware[:32],
            capabilities=["switch", "dim"] if dims else ["switch"],
        )
        return InfoReport(src, info)

    # --- encode --------------------------------------------------------------------

    def object_id(self, area: str, device: str) -> str:
        """The node's light as last heard, or the default before the node spoke."""
        with self._lock:
            return self._objects.get((area, device), DEFAULT_OBJECT_ID)

    def encode(self, order: CommandOrder) -> Outbound:
        cmd = order.command
        if not isinstance(cmd, LightSet):
            raise ValueError(f"an ESPHome node is a light; it cannot {cmd.action}")
        key = (order.area, order.device)
        dims = self._lights.dims(key)
        body: dict[str, Any]
        if cmd.on is False or cmd.level == 0:
            # ESPHome turns a light off at brightness 0 (and forgets that brightness): the hub
            # never sends it; level 0 means off, and the order awaits exactly that.
            body = {"state": "OFF"}
            cmd = LightSet(id=cmd.id, exp=cmd.exp, on=False)
        elif cmd.level is not None and dims:
            body = {"state": "ON", "brightness": brightness_of(cmd.level)}
        else:
            body = {"state": "ON"}  # keeps the brightness it had (ESPHome's rule for a bare state)
        topic = f"{prefix(*key)}/light/{self.object_id(*key)}/command"
        self.orders.ordered(key, cmd, dims=dims)
        return Outbound(topic, json.dumps(body, separators=(",", ":")).encode(), qos=1, retain=False)


def _field(body: dict[str, Any], short: str, long: str) -> Any:
    """A discovery field under its abbreviation (ESPHome's default) or its full name."""
    return body[short] if short in body else body.get(long)


def _object_id(value: str) -> str:
    if not _OBJECT_ID.fullmatch(value):
        raise Rejected(RejectReason.BAD_TOPIC, f"object id {value[:60]!r} is not an ESPHome object id")
    return value


def _availability(value: str) -> Availability:
    if value in ("online", "offline"):
        return Availability(value)
    raise Rejected(RejectReason.INVALID, f"status must be online or offline, got {value[:40]!r}")
