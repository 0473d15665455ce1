"""A Zigbee2MQTT bridge and its bulbs and relays as its documentation describes it, on the real broker.

From Zigbee2MQTT's documentation ("MQTT Topics and Messages", "Device-Availability", "Exposes",
"MQTT" configuration) and its ``lib/mqtt.ts``/``lib/extension/publish.ts``: it connects with the
Will ``<base>/bridge/state`` offline (QoS 1, retained), publishes ``online`` there (retained),
subscribes to ``<base>/#`` in one filter and skips what it published itself; it publishes
``bridge/info``, ``bridge/devices`` and ``bridge/groups`` retained, each device's
``<name>/availability`` retained if ``availability`` is on, and each device's cached state
(``cache_state_send_on_startup``). A ``/set`` (JSON, or a bare ``ON``/``OFF``/``TOGGLE``, or
``/set/<attribute>``) is answered by the whole state it now expects (optimistic, sorted keys);
a bulb with a transition then reports a step on the way and the target (Koenkk/zigbee2mqtt#3949).
Unknown names, names starting with ``bridge``, a relay's ``brightness``: an error on
``bridge/logging`` and nothing else. Brightness is 0-254; ``brightness`` 0 switches off.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received

VERSION = "2.1.3"
_STATE = {"type": "binary", "name": "state", "property": "state", "access": 7}
_STATE_VALUES = {"value_on": "ON", "value_off": "OFF", "value_toggle": "TOGGLE"}
_BRIGHTNESS = {"type": "numeric", "name": "brightness", "property": "brightness", "access": 7}
_LINKQUALITY = {"type": "numeric", "name": "linkquality", "property": "linkquality", "access": 1}


@dataclass(slots=True)
class ZigbeeDevice:
    """One device on the bridge's Zigbee network, and what Zigbee2MQTT caches of it."""

    name: str
    ieee: str
    kind: str = "light"  # light (dims), switch (a relay), sensor
    model: str = "LED1836G9"
    vendor: str = "IKEA"
    build: str | None = "2.3.093"
    transition_s: float = 0.0  # its ``transition`` device option
    on: bool = False
    brightness: int = 254
    linkquality: int = 120
    generation: int = 0  # bumped by every change, so a transition's late steps are dropped
    sets: list[dict[str, Any]] = field(default_factory=list)  # what /set messages asked


def bulb(name: str, n: int, **kw: Any) -> ZigbeeDevice:
    return ZigbeeDevice(name, f"0x000b57fffe{n:06x}", **kw)


def relay(name: str, n: int, **kw: Any) -> ZigbeeDevice:
    return ZigbeeDevice(name, f"0x00124b00{n:08x}", "switch", "ZBMINI-L", "SONOFF", "1.1.0", **kw)


def sensor(name: str, n: int) -> ZigbeeDevice:
    return ZigbeeDevice(name, f"0x00158d00{n:08x}", "sensor", "WSDCGQ11LM", "Aqara", None)


class Zigbee2MqttEmulator:
    def __init__(
        self,
        area: str,
        bridge: str,
        host: str,
        port: int,
        username: str,
        password: str,
        devices: list[ZigbeeDevice],
        *,
        availability: bool = False,
        legacy_availability: bool = False,
        client_id: str | None = None,
    ) -> None:
        self.base = f"zigbee2mqtt/{area}/{bridge}"
        self.devices = {d.name: d for d in devices}
        self.availability, self.legacy = availability, legacy_availability
        self.logged: list[dict[str, str]] = []  # its bridge/logging errors
        self._published: set[str] = set()
        self._retained = {f"{self.base}/bridge/state"}
        self._lock = threading.RLock()
        state = f"{self.base}/bridge/state"
        self.link = MqttLink(
            LinkConfig(
                host=host,
                port=port,
                client_id=client_id or username,
                username=username,
                password=password,
                persistent=False,
                will=Outbound(state, self._availability(False), qos=1, retain=True),
                birth=Outbound(state, self._availability(True), qos=0, retain=True),
                subscriptions=(f"{self.base}/#",),
            ),
            on_message=self._on_message,
            on_connected=self._on_connected,
        )
        self._published.add(state)

    # --- life ------------------------------------------------------------------------

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        """Zigbee2MQTT stopping: ``offline`` on bridge/state, then a clean disconnect."""
        self._publish("bridge/state", self._availability(False), retain=True)
        self.link.stop()

    def remove(self) -> None:
        """Taken off the site: its retained messages cleared (empty payloads), then gone."""
        receipts = [
            self.link.publish_with_receipt(Outbound(t, b"", qos=1, retain=True)) for t in self._retained
        ]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not all(r is None or r.done() for r in receipts):
            time.sleep(0.01)
        self.link.stop()

    def power_cut(self) -> None:
        """The bridge's host dies: the broker publishes its Will."""
        self.link.abort()

    def power_back(self) -> None:
        self.link = MqttLink(self.link.config, on_message=self._on_message, on_connected=self._on_connected)
        self.link.start()

    def press(self, name: str) -> None:
        """A remote bound to the bulb toggles it; the bulb reports, Zigbee2MQTT publishes."""
        with self._lock:
            device = self.devices[name]
            device.on, device.generation = not device.on, device.generation + 1
        self._publish_state(device)

    def reachable(self, name: str, up: bool) -> None:
        """Its ping answered or not (``availability`` on): the retained availability changes."""
        if self.availability:
            self._publish(f"{name}/availability", self._availability(up), qos=1, retain=True)

    def _on_connected(self) -> None:
        # On every (re)connection, as Zigbee2MQTT republishes its retained messages then.
        self._publish("bridge/info", json.dumps(self._info()).encode(), retain=True)
        self._publish("bridge/devices", json.dumps(device_list(self.devices.values())).encode(), retain=True)
        self._publish("bridge/groups", b"[]", retain=True)
        for device in list(self.devices.values()):
            if self.availability:
                self._publish(f"{device.name}/availability", self._availability(True), qos=1, retain=True)
            if device.kind != "sensor":
                self._publish_state(device)

    # --- /set ------------------------------------------------------------------------

    def _on_message(self, msg: Received) -> None:
        if msg.topic in self._published or not msg.topic.startswith(self.base + "/"):
            return  # its own messages come back through <base>/#
        parts = msg.topic[len(self.base) + 1 :].split("/")
        verb = next((i for i, p in enumerate(parts) if i > 0 and p in ("set", "get")), None)
        if verb is None or parts[0].startswith("bridge") or parts[verb] == "get":
            return  # bridge/request/..., a /get: nothing the hub sends
        name, attribute = "/".join(parts[:verb]), "/".join(parts[verb + 1 :])
        device = self.devices.get(name)
        if device is None or device.kind == "sensor":
            self._log(f"Entity '{name}' is unknown")
            return
        message = _parse(msg.payload.decode("utf-8", "replace"), attribute)
        if message is None:
            self._log("Invalid message 'undefined', skipping...")
            return
        self._set(device, message)

    def _set(self, device: ZigbeeDevice, message: dict[str, Any]) -> None:
        state, brightness = message.get("state"), message.get("brightness")
        transition = message.get("transition", device.transition_s)
        transition = transition if isinstance(transition, int | float) else 0  # seconds
        if brightness is not None and device.kind != "light":
            self._log(f"No converter available for 'brightness' ({json.dumps(brightness)})")
            brightness = None
        word = state.upper() if isinstance(state, str) else None
        with self._lock:
            device.sets.append(message)
            before = device.brightness
            if word == "OFF":
                device.on = False  # its brightness is kept for the next ON
            elif isinstance(brightness, int | float) and not isinstance(brightness, bool):
                level = max(0, min(254, int(brightness)))  # moveToLevelWithOnOff
                device.on = level > 0
                device.brightness = level or device.brightness
            elif word in ("ON", "TOGGLE"):
                device.on = word == "ON" or not device.on
            device.generation += 1
            generation = device.generation
        self._publish_state(device)  # optimistic: what it expects, at once
        if device.kind == "light" and device.on and transition and device.brightness != before:
            step = (before + device.brightness) // 2
            self._later(transition / 2, device, generation, step)
            self._later(transition, device, generation, device.brightness)

    def _later(self, delay: float, device: ZigbeeDevice, generation: int, brightness: int) -> None:
        def report() -> None:
            with self._lock:
                if device.generation != generation:
                    return  # changed again meanwhile: this step never happened
            self._publish_state(device, brightness)

        timer = threading.Timer(delay, report)
        timer.daemon = True
        timer.start()

    # --- what it publishes ----------------------------------------------------------

    def _publish_state(self, device: ZigbeeDevice, brightness: int | None = None) -> None:
        with self._lock:
            body: dict[str, Any] = {"linkquality": device.linkquality, "state": "ON" if device.on else "OFF"}
            if device.kind == "light":
                body["brightness"] = device.brightness if brightness is None else brightness
        self._publish(device.name, json.dumps(body, sort_keys=True).encode())

    def _publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        self._published.add(f"{self.base}/{topic}")
        if retain:
            self._retained.add(f"{self.base}/{topic}")
        self.link.publish(Outbound(f"{self.base}/{topic}", payload, qos=qos, retain=retain))

    def _log(self, message: str) -> None:
        self.logged.append({"level": "error", "message": message})
        self._publish("bridge/logging", json.dumps(self.logged[-1]).encode())

    def _availability(self, online: bool) -> bytes:
        word = "online" if online else "offline"
        return word.encode() if self.legacy else json.dumps({"state": word}).encode()

    def _info(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "commit": "5e8c0b1",
            "coordinator": {"ieee_address": "0x00124b0024c1e8f0", "type": "zStack3x0", "meta": {}},
            "network": {"channel": 11, "pan_id": 6754, "extended_pan_id": "0xdddddddddddddddd"},
            "log_level": "info",
            "permit_join": False,
            "config": {"mqtt": {"base_topic": self.base}, "availability": {"enabled": self.availability}},
            "restart_required": False,
        }


def device_list(devices: Iterable[ZigbeeDevice]) -> list[dict[str, Any]]:
    """bridge/devices: the coordinator first, then each device as listed after its interview."""
    coordinator = {"ieee_address": "0x00124b0024c1e8f0", "type": "Coordinator", "network_address": 0}
    coordinator |= {"friendly_name": "Coordinator", "supported": True, "disabled": False, "definition": None}
    return [coordinator, *(_entry(d, i) for i, d in enumerate(devices, start=1))]


def _parse(text: str, attribute: str) -> dict[str, Any] | None:
    """A /set payload as Zigbee2MQTT reads it: JSON, a bare state, or one attribute's value."""
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    if attribute:
        return {attribute: value}
    if isinstance(value, dict):
        return value
    if text.lower() in ("on", "off", "toggle"):
        return {"state": text}
    return None


def _entry(device: ZigbeeDevice, n: int) -> dict[str, Any]:
    """One device of bridge/devices, as Zigbee2MQTT lists it after its interview."""
    if device.kind == "sensor":
        exposes: list[dict[str, Any]] = [
            {"type": "numeric", "name": "temperature", "property": "temperature", "access": 1, "unit": "°C"}
        ]
    else:
        features = [{**_STATE, **_STATE_VALUES}]
        if device.kind == "light":
            features.append({**_BRIGHTNESS, "value_min": 0, "value_max": 254})
        exposes = [{"type": device.kind, "features": features}]
    exposes.append(_LINKQUALITY)
    return {
        "ieee_address": device.ieee,
        "type": "EndDevice" if device.kind == "sensor" else "Router",
        "network_address": 1000 + n,
        "supported": True,
        "disabled": False,
        "friendly_name": device.name,
        "definition": {
            "model": device.model,
            "vendor": device.vendor,
            "description": f"{device.vendor} {device.kind}",
            "options": [],
            "exposes": exposes,
            "supports_ota": device.kind == "light",
        },
        "power_source": "Battery" if device.kind == "sensor" else "Mains (single phase)",
        "software_build_id": device.build,
        "model_id": device.model,
        "interview_completed": True,
        "interviewing": False,
    }
