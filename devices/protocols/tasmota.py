"""Tasmota (and OpenBeken, which speaks Tasmota's topics) relays and dimmers.

Each device is set up with ``Topic <device>`` and ``FullTopic %prefix%/<area>/%topic%/``
(docs/protocols/tasmota.md), so every topic names its area and device:

- ``cmnd/<area>/<device>/Power|Dimmer`` (hub -> device, never retained);
- ``stat/<area>/<device>/RESULT`` (JSON answer to any command), ``stat/<area>/<device>/POWER``;
- ``tele/<area>/<device>/LWT`` (retained ``Online``; ``Offline`` is its Last Will),
  ``tele/.../STATE`` (every TelePeriod), ``tele/.../SENSOR`` (``ENERGY.Power``),
  ``tele/.../INFO1`` (module and firmware, at boot);
- ``tasmota/discovery/<MAC>/config`` (retained; its ``ft`` carries the area).

Tasmota echoes no command id and its time has no zone: orders are confirmed by the state
they ask for (``devices.pairing``) and reports are stamped on arrival.
"""

from __future__ import annotations

from typing import Any

from devices.codec import DeviceTopics
from devices.messages import (
    AvailabilityReport,
    CommandOrder,
    Decoded,
    EventReport,
    Inbound,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    Source,
    StateReport,
)
from devices.pairing import OrderBook, StampClock
from devices.payloads import Availability, DeviceInfo, Heartbeat, Kind, LightSet, LightState
from devices.protocols.common import Lights, ident, json_object, number, switch, text

NAME = "tasmota"
DISCOVERY = "tasmota/discovery"
_STAT = ("RESULT", "POWER")
_TELE = ("LWT", "STATE", "SENSOR", "INFO1")
_SECOND_POWER = ("POWER1",)  # a one-relay device may name its relay either way


def full_topic(area: str) -> str:
    """The FullTopic a device of ``area`` must be given."""
    return f"%prefix%/{area}/%topic%/"


def backlog(host: str, port: int, username: str, password: str, area: str, device: str) -> str:
    """The one console line that points a Tasmota device at the hub (``Backlog``)."""
    return (
        f"Backlog MqttHost {host}; MqttPort {port}; MqttUser {username}; MqttPassword {password}; "
        f"MqttClient {username}; Topic {device}; FullTopic {full_topic(area)}"
    )


class TasmotaCodec:
    name = NAME

    def __init__(self) -> None:
        self.orders = OrderBook()
        self._lights = Lights()
        self._clock = StampClock()
        self._info: dict[tuple[str, str], tuple[str, str]] = {}  # (model, firmware)

    def subscriptions(self) -> list[str]:
        return [
            *(f"stat/+/+/{t}" for t in _STAT),
            *(f"tele/+/+/{t}" for t in _TELE),
            f"{DISCOVERY}/+/config",
        ]

    def claims(self, topic: str) -> bool:
        return topic.startswith(("stat/", "tele/", DISCOVERY + "/"))

    def hub_publishes(self) -> list[str]:
        return ["cmnd/+/+/+", "tele/+/+/LWT"]

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        return DeviceTopics(
            (f"stat/{area}/{device}/#", f"tele/{area}/{device}/#"), (f"cmnd/{area}/{device}/#",)
        )

    def offline(self, area: str, device: str) -> Outbound | None:
        return Outbound(f"tele/{area}/{device}/LWT", b"Offline", qos=1, retain=True)

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        return [backlog(host, port, username, password, area, device)]

    # --- decode --------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes) -> Decoded:
        parts = topic.split("/")
        if parts[0] == "tasmota":
            return self._discovery(parts, payload)
        if len(parts) != 4:
            raise Rejected(RejectReason.BAD_TOPIC, f"not <prefix>/<area>/<device>/<name>: {topic[:200]!r}")
        _, area, device, what = parts
        key = (ident(area, "area"), ident(device, "device"))
        src = Source(area, device, NAME)
        if what == "LWT":
            return AvailabilityReport(src, _availability(text(payload)))
        if what == "INFO1":
            return self._info1(src, key, json_object(payload))
        if what == "POWER":
            light = self._lights.get(key)
            light.on = switch(text(payload), "POWER")
            return self._state(src, key)
        body = json_object(payload)
        if what == "SENSOR":
            return self._sensor(src, key, body)
        if what == "RESULT" and body.get("Command") == "Unknown":
            return self._no_dimmer(src, key)
        if what == "RESULT" and not any(k in body for k in ("POWER", *_SECOND_POWER, "Dimmer")):
            return []  # the answer to some other command (TelePeriod, Status, ...)
        found = self._remember(key, body)
        reports: list[Inbound] = []
        if found:
            reports.append(found)
        state = self._state(src, key)
        if isinstance(state, StateReport):
            reports.append(state)
        if what == "STATE" and "UptimeSec" in body:
            uptime = int(number(body["UptimeSec"], "UptimeSec", 0, 10**10))
            reports.append(EventReport(src, Heartbeat(ts=self._clock.stamp(key), uptime_s=uptime)))
        return reports

    def _remember(self, key: tuple[str, str], body: dict[str, Any]) -> InfoReport | None:
        """Fold a RESULT or STATE into the light's memory; an info if it showed a dimmer first."""
        light = self._lights.get(key)
        power = body.get("POWER", body.get("POWER1"))
        if power is not None:
            light.on = switch(power, "POWER")
        if "Dimmer" in body:
            light.level = int(number(body["Dimmer"], "Dimmer", 0, 100))
            if light.dims is not True:
                light.dims = True
                return self._info_report(key)
        return None

    def _no_dimmer(self, src: Source, key: tuple[str, str]) -> list[Inbound]:
        """A relay answers ``Dimmer`` with ``{"Command":"Unknown"}``: it switches, it does not dim."""
        light = self._lights.get(key)
        if light.dims is not None or not self.orders.waiting(key):
            return []
        light.dims = False
        self.orders.relax(key)
        reports: list[Inbound] = []
        info = self._info_report(key, src)
        if info is not None:
            reports.append(info)
        state = self._state(src, key)
        if isinstance(state, StateReport):
            reports.append(state)
        return reports

    def _state(self, src: Source, key: tuple[str, str]) -> StateReport | list[Inbound]:
        light = self._lights.get(key)
        verdict = self.orders.settle(key, light.on, light.level)
        if verdict.hold:
            return []
        level = light.level if light.dims is not False else (100 if light.on else 0)
        state = LightState(
            ts=self._clock.stamp(key), cmd=verdict.command_id, on=light.on, level=level, power_w=light.power_w
        )
        return StateReport(src, state)

    def _sensor(self, src: Source, key: tuple[str, str], body: dict[str, Any]) -> Decoded:
        energy = body.get("ENERGY")
        if not isinstance(energy, dict) or "Power" not in energy:
            return []  # a sensor the hub has no use for (temperature, ...)
        light = self._lights.get(key)
        light.power_w = number(energy["Power"], "ENERGY.Power", 0, 5000)
        return self._state(src, key)

    def _info1(self, src: Source, key: tuple[str, str], body: dict[str, Any]) -> InfoReport:
        info = body.get("Info1", body)  # Tasmota before 12 sent the fields unwrapped
        if not isinstance(info, dict):
            raise Rejected(RejectReason.INVALID, "Info1 must be an object")
        module, version = info.get("Module"), info.get("Version")
        if not isinstance(module, str) or not isinstance(version, str) or not module or not version:
            raise Rejected(RejectReason.INVALID, "INFO1 must give Module and Version")
        self._info[key] = (module[:64], version[:32])
        report = self._info_report(key, src)
        assert report is not None
        return report

    def _info_report(self, key: tuple[str, str], src: Source | None = None) -> InfoReport | None:
        known = self._info.get(key)
        if known is None:
            return None  # no model yet: the INFO1 (or discovery) to come says it all
        caps = ["switch", "dim"] if self._lights.get(key).dims else ["switch"]
        info = DeviceInfo(kind=Kind.LIGHT, model=known[0], firmware=known[1], capabilities=caps)
        return InfoReport(src or Source(key[0], key[1], NAME), info)

    def _discovery(self, parts: list[str], payload: bytes) -> Decoded:
        if len(parts) != 4 or parts[3] != "config":
            raise Rejected(RejectReason.BAD_TOPIC, "not tasmota/discovery/<MAC>/config")
        if not payload:
            return []  # the device cleared its discovery (SetOption19)
        body = json_object(payload)
        ft, device = body.get("ft"), body.get("t")
        pieces = ft.split("/") if isinstance(ft, str) else []
        if (
            len(pieces) != 4
            or pieces[0] != "%prefix%"
            or pieces[2] != "%topic%"
            or not isinstance(device, str)
        ):
            raise Rejected(
                RejectReason.INVALID,
                f"FullTopic must be %prefix%/<area>/%topic%/, got {str(ft)[:60]!r} (see docs/protocols)",
            )
        key = (ident(pieces[1], "area"), ident(device, "device"))
        model, version = body.get("md"), body.get("sw")
        if not isinstance(model, str) or not isinstance(version, str) or not model or not version:
            raise Rejected(RejectReason.INVALID, "discovery must give md (module) and sw (version)")
        subtype = body.get("lt_st")
        self._lights.get(key).dims = isinstance(subtype, int) and subtype > 0
        self._info[key] = (model[:64], version[:32])
        report = self._info_report(key, Source(key[0], key[1], NAME, unverified=True))
        assert report is not None
        return report

    # --- encode --------------------------------------------------------------------

    def encode(self, order: CommandOrder) -> Outbound:
        cmd = order.command
        if not isinstance(cmd, LightSet):
            raise ValueError(f"a Tasmota device is a light; it cannot {cmd.action}")
        key = (order.area, order.device)
        dims = self._lights.dims(key)
        base = f"cmnd/{order.area}/{order.device}"
        if cmd.on is False or (cmd.level == 0 and cmd.on is not True):
            out = Outbound(f"{base}/Power", b"OFF")
        elif cmd.level is not None and cmd.level > 0 and self._lights.get(key).dims is None:
            # Not known to dim yet: a relay carries out the Power and answers the Dimmer "Unknown".
            out = Outbound(f"{base}/Backlog", f"Power ON; Dimmer {cmd.level}".encode())
        elif cmd.level is not None and cmd.level > 0 and dims:
            out = Outbound(f"{base}/Dimmer", str(cmd.level).encode())  # also switches it on
        else:
            out = Outbound(f"{base}/Power", b"ON")
        self.orders.ordered(key, cmd, dims=dims)
        return out


def _availability(value: str) -> Availability:
    if value in ("Online", "Offline"):
        return Availability.ONLINE if value == "Online" else Availability.OFFLINE
    raise Rejected(RejectReason.INVALID, f"LWT must be Online or Offline, got {value[:40]!r}")
