"""One Tasmota relay or dimmer's behaviour, as its documentation describes it, without a connection.

From the Tasmota docs (MQTT, Commands, Auto-discovery): with ``FullTopic
%prefix%/<area>/%topic%/`` the device reads ``cmnd/<area>/<topic>/<Command>`` and answers every
command on ``stat/<area>/<topic>/RESULT`` (JSON), a power state also on ``stat/.../POWER``;
at boot it sends ``INFO1``-``INFO3`` and its power; every TelePeriod ``tele/.../STATE`` and,
with an energy meter, ``tele/.../SENSOR``; its discovery goes, retained, to
``tasmota/discovery/<MAC>/config``. Quirks kept: command names in any case, an empty payload
(or ``?``) queries, ``Dimmer`` takes ``0..100``, ``+``/``-`` (by 10), ``<``/``>`` (1, 100) and ``!``,
switches the light on (and ``Dimmer 0`` off), a relay answers
``Dimmer`` with ``{"Command":"Unknown"}``, ``Backlog`` runs its commands in order, a wall
switch reports like a command, answers and telemetry go at QoS 0, and ``Time`` has no zone.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from devices.messages import Outbound

VERSION = "14.3.0(tasmota)"


@dataclass(slots=True)
class TasmotaState:
    power: bool = False
    dimmer: int = 100
    commands: list[tuple[str, str]] = field(default_factory=list)  # (command, payload) received


class TasmotaDevice:
    def __init__(
        self,
        area: str,
        topic: str,
        *,
        dimmer: bool = True,
        power_w: float | None = None,
        mac: str = "A4CF12B3C4D5",
        module: str = "Generic",
        tele_period_s: float = 300.0,
    ) -> None:
        self.area, self.topic, self.mac, self.module = area, topic, mac, module
        self.dims = dimmer
        self.watts_on = power_w
        self.tele_period_s = tele_period_s
        self.state = TasmotaState()
        self._lock = threading.Lock()
        self._base = f"{area}/{topic}"

    def t(self, prefix: str, name: str) -> str:
        return f"{prefix}/{self._base}/{name}"

    # --- what it sends ---------------------------------------------------------------

    def boot(self) -> list[Outbound]:
        """After each connect: its INFO messages and its power (the LWT is the connection's)."""
        fallback = f"cmnd/DVES_{self.mac[-6:]}_fb/"
        info1 = {"Module": self.module, "Version": VERSION, "FallbackTopic": fallback}
        return [
            self._json("tele", "INFO1", {"Info1": {**info1, "GroupTopic": f"cmnd/{self.area}/tasmotas/"}}),
            self._json("tele", "INFO2", {"Info2": {"WebServerMode": "Admin", "Hostname": self.hostname()}}),
            self._json("tele", "INFO3", {"Info3": {"RestartReason": "Power On"}}),
            *self._power_report(),
        ]

    def handle(self, command: str, payload: str) -> list[Outbound]:
        """A message on ``cmnd/<area>/<topic>/<command>``: what the device answers."""
        if command.lower() == "backlog":
            out: list[Outbound] = []
            for part in payload.split(";"):
                name, _, arg = part.strip().partition(" ")
                if name:
                    out += self._run(name, arg.strip())
            return out
        return self._run(command, payload.strip())

    def press(self) -> list[Outbound]:
        """The wall switch: toggles the relay and reports it as a command would."""
        with self._lock:
            self.state.power = not self.state.power
        return self._power_report()

    def telemetry(self, uptime_s: int) -> list[Outbound]:
        out = [self._json("tele", "STATE", {"Time": _local_time(), "UptimeSec": uptime_s, **self._light()})]
        if self.watts_on is not None:
            watts = self.watts_on * self.state.dimmer / 100 if self.state.power else 0.0
            energy = {"Total": 1.234, "Today": 0.1, "Power": round(watts), "Voltage": 230}
            out.append(self._json("tele", "SENSOR", {"Time": _local_time(), "ENERGY": energy}))
        return out

    def discovery(self) -> Outbound:
        body = {
            "ip": "192.168.1.50",
            "dn": "Tasmota",
            "fn": [self.topic, None, None, None, None, None, None, None],
            "hn": self.hostname(),
            "mac": self.mac,
            "md": self.module,
            "ty": 0,
            "if": 0,
            "ofln": "Offline",
            "onln": "Online",
            "state": ["OFF", "ON", "TOGGLE", "HOLD"],
            "sw": VERSION.split("(", maxsplit=1)[0],
            "t": self.topic,
            "ft": f"%prefix%/{self.area}/%topic%/",
            "tp": ["cmnd", "stat", "tele"],
            "rl": [2 if self.dims else 1, 0, 0, 0, 0, 0, 0, 0],
            "lt_st": 1 if self.dims else 0,
            "ver": 1,
        }
        return Outbound(f"tasmota/discovery/{self.mac}/config", json.dumps(body).encode(), 1, True)

    def hostname(self) -> str:
        return f"tasmota-{self.mac[-6:]}-{int(self.mac[-4:], 16) % 10000:04d}"

    # --- commands --------------------------------------------------------------------

    def _run(self, command: str, arg: str) -> list[Outbound]:
        self.state.commands.append((command, arg))
        name = command.upper()
        if name in ("POWER", "POWER1"):
            return self._power(arg.upper())
        if name == "DIMMER" and self.dims:
            return self._dimmer(arg)
        if name == "TELEPERIOD":
            return [self._json("stat", "RESULT", {"TelePeriod": int(self.tele_period_s)})]
        return [self._json("stat", "RESULT", {"Command": "Unknown"})]

    def _power(self, arg: str) -> list[Outbound]:
        with self._lock:
            if arg in ("ON", "1"):
                self.state.power = True
            elif arg in ("OFF", "0"):
                self.state.power = False
            elif arg in ("TOGGLE", "2"):
                self.state.power = not self.state.power
            elif arg not in ("", "?"):
                return [self._json("stat", "RESULT", {"Command": "Error"})]
        return self._power_report()

    def _dimmer(self, arg: str) -> list[Outbound]:
        with self._lock:
            before = self.state.power
            if arg in ("+", "-"):  # by DimmerStep, 10 by default
                self.state.dimmer = max(0, min(100, self.state.dimmer + (10 if arg == "+" else -10)))
            elif arg in ("<", ">"):
                self.state.dimmer = 1 if arg == "<" else 100
            elif arg == "!":  # stops a fade where it is: without fades, nothing changes
                arg = ""
            elif arg.isdigit():
                self.state.dimmer = min(100, int(arg))
            elif arg not in ("", "?"):
                return [self._json("stat", "RESULT", {"Command": "Error"})]
            if arg not in ("", "?"):
                self.state.power = self.state.dimmer > 0
            changed = self.state.power != before
        out = [self._json("stat", "RESULT", self._light())]
        if changed:
            out.append(Outbound(self.t("stat", "POWER"), self._on_off().encode(), qos=0))
        return out

    def _power_report(self) -> list[Outbound]:
        body = self._light() if self.dims else {"POWER": self._on_off()}
        return [
            self._json("stat", "RESULT", body),
            Outbound(self.t("stat", "POWER"), self._on_off().encode(), qos=0),
        ]

    def _light(self) -> dict[str, Any]:
        body: dict[str, Any] = {"POWER": self._on_off()}
        if self.dims:
            body |= {"Dimmer": self.state.dimmer, "Fade": "OFF", "Speed": 1, "LedTable": "ON"}
        return body

    def _on_off(self) -> str:
        return "ON" if self.state.power else "OFF"

    def _json(self, prefix: str, name: str, body: dict[str, Any]) -> Outbound:
        return Outbound(self.t(prefix, name), json.dumps(body).encode(), qos=0)


def _local_time() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
