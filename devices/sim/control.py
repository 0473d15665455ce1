"""Fault controls over MQTT, so tests and demos in another process can drive a fleet."""

# Topic ``khu-sim/<area>/<device>/control``, JSON such as ``{"action": "offline"}`` or
# ``{"action": "drop_rate", "value": 0.3}``. The target may also be a gateway id
# (``offline`` aborts it, ``online`` reconnects it).

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from devices.payloads import Storage
from devices.sim.camera import SimCamera
from devices.sim.connection import SIM_ROOT
from devices.sim.kinds import AnySimDevice
from devices.sim.light import SimLight
from devices.topics import is_ident


class _Control(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GoOffline(_Control):
    action: Literal["offline"]


class ComeBack(_Control):
    action: Literal["online"]


class IgnoreCommands(_Control):
    action: Literal["ignore_commands"]
    value: bool = True


class DropRate(_Control):
    action: Literal["drop_rate"]
    value: Annotated[float, Field(ge=0, le=1)]


class ActionDelay(_Control):
    action: Literal["delay_ms"]
    value: Annotated[float, Field(ge=0, le=600_000)]


class InjectFault(_Control):
    action: Literal["fault"]
    value: Annotated[str, Field(max_length=200)] | None = None


class Tampering(_Control):
    action: Literal["tampering"]
    value: bool = True


class StorageHealth(_Control):
    action: Literal["storage"]
    value: Storage


class Motion(_Control):
    action: Literal["motion"]


class Recording(_Control):
    action: Literal["recording"]
    value: bool


class Press(_Control):
    """A person at the light: its own button (toggle), or its switch or dimmer set to a value."""

    action: Literal["press"]
    on: bool | None = None
    level: Annotated[int, Field(ge=0, le=100)] | None = None


Control = Annotated[
    GoOffline
    | ComeBack
    | IgnoreCommands
    | DropRate
    | ActionDelay
    | InjectFault
    | Tampering
    | StorageHealth
    | Motion
    | Recording
    | Press,
    Field(discriminator="action"),
]
_CONTROL = TypeAdapter[Control](Control)


def control_topic(area: str, target: str) -> str:
    """The control topic of one device or gateway."""
    if not (is_ident(area) and is_ident(target)):
        raise ValueError(f"invalid area or device id: {area!r}/{target!r}")
    return f"{SIM_ROOT}/{area}/{target}/control"


def control_filter(area: str) -> str:
    """The filter matching every control topic of an area."""
    return f"{SIM_ROOT}/{area}/+/control"


def control_target(topic: str, area: str) -> str | None:
    """The device or gateway id a control topic addresses; None when it is not one."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != SIM_ROOT or parts[1] != area or parts[3] != "control":
        return None
    return parts[2] if is_ident(parts[2]) else None


def parse_control(payload: bytes) -> Control:
    """Validate a control message; ValueError when it is not one."""
    return _CONTROL.validate_json(payload)


def control_payload(action: str, value: object = None) -> bytes:
    """Build a control message (for tests and demo scripts)."""
    body: dict[str, object] = {"action": action}
    if value is not None or action == "fault":
        body["value"] = value
    return json.dumps(body).encode()


def apply_control(device: AnySimDevice, control: Control) -> None:
    """Apply a control to a device; ValueError when it does not fit the device's kind."""
    match control:
        case GoOffline():
            device.go_offline()
        case ComeBack():
            device.come_back()
        case IgnoreCommands(value=value):
            device.ignore_commands = value
        case DropRate(value=value):
            device.drop_rate = value
        case ActionDelay(value=value):
            device.action_delay_s = value / 1000
        case InjectFault(value=value):
            device.set_fault(value)
        case Tampering(value=value):
            _camera(device, control.action).set_tampering(value)
        case StorageHealth(value=value):
            _camera(device, control.action).set_storage(value)
        case Motion():
            _camera(device, control.action).trigger_motion()
        case Recording(value=value):
            _camera(device, control.action).set_recording(value)
        case Press(on=on, level=level):
            if not isinstance(device, SimLight):
                raise ValueError(f"'press' only applies to lights, not {device.device_id}")
            device.press(on, level)


def _camera(device: AnySimDevice, action: str) -> SimCamera:
    if not isinstance(device, SimCamera):
        raise ValueError(f"{action!r} only applies to cameras, not {device.device_id}")
    return device
