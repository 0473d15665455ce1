"""Zigbee2MQTT's ``bridge/devices`` list: which of its devices are lights the hub can drive.

From Zigbee2MQTT's docs (MQTT topics and messages, ``bridge/devices``; Exposes): each entry has
``friendly_name``, ``type`` (Coordinator, Router, EndDevice), ``disabled``, ``software_build_id``
and, once interviewed, a ``definition`` with ``model``, ``vendor`` and ``exposes``; a light or
switch exposes ``type`` ``light``/``switch`` with ``features`` holding ``state`` (and
``brightness`` for a dimmable light).
"""

from __future__ import annotations

import json
from typing import Any

from devices.messages import Rejected, RejectReason
from devices.payloads import DeviceInfo, Kind
from devices.protocols.common import check_size, ident

LIST_LIMIT = 1 << 20  # bridge/devices and bridge/info carry every definition: far over 8 KiB
MAX_DEVICES = 2000  # Zigbee networks hold a few hundred devices at most


def json_list(payload: bytes, what: str) -> list[Any]:
    check_size(payload, LIST_LIMIT)
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(RejectReason.MALFORMED_JSON, f"{what}: {exc}"[:200]) from None
    if not isinstance(value, list):
        raise Rejected(RejectReason.INVALID, f"{what} must be a JSON array, got {type(value).__name__}")
    if len(value) > MAX_DEVICES:
        raise Rejected(RejectReason.INVALID, f"{what} lists {len(value)} entries > {MAX_DEVICES}")
    return value


def describe(entry: Any, bridge: str) -> tuple[str, DeviceInfo | None]:
    """One entry of bridge/devices: its name, and what the hub keeps of it if it is a light."""
    if not isinstance(entry, dict) or not isinstance(entry.get("friendly_name"), str):
        raise Rejected(RejectReason.INVALID, "a bridge/devices entry must be an object with a friendly_name")
    name, definition = entry["friendly_name"], entry.get("definition")
    if entry.get("type") == "Coordinator" or entry.get("disabled") is True:
        return name, None  # the adapter itself, or a device Zigbee2MQTT itself leaves alone
    if not isinstance(definition, dict):
        return name, None  # not interviewed yet, or not supported: no exposes to go by
    exposes = definition.get("exposes")
    if not isinstance(exposes, list):
        raise Rejected(RejectReason.INVALID, f"{name[:60]!r}: definition.exposes must be a list")
    light = next((e for e in exposes if is_light(e)), None)
    if light is None:
        return name, None  # a sensor, a remote, a multi-gang switch: not a light the hub drives
    ident(name, "friendly_name")
    if "bridge" in name:
        # Zigbee2MQTT ignores <base>/bridge.../set (2.x; 1.x any name with "bridge" in it).
        raise Rejected(RejectReason.BAD_TOPIC, f"{name[:60]!r}: Zigbee2MQTT takes no /set for such a name")
    model, build = definition.get("model"), entry.get("software_build_id")
    if not isinstance(model, str) or not model:
        raise Rejected(RejectReason.INVALID, f"{name[:60]!r}: definition.model must be a string")
    features = {f.get("property") for f in light.get("features", []) if isinstance(f, dict)}
    caps = ["switch", "dim"] if light["type"] == "light" and "brightness" in features else ["switch"]
    if any(isinstance(e, dict) and e.get("property") == "power" for e in exposes):
        caps.append("power_meter")
    firmware = build[:32] if isinstance(build, str) and build.strip() else "unknown"
    info = DeviceInfo(kind=Kind.LIGHT, model=model[:64], firmware=firmware, capabilities=caps, via=bridge)
    return name, info


def is_light(expose: Any) -> bool:
    """A single-endpoint light or switch whose ``state`` the hub can read and set."""
    if not isinstance(expose, dict) or expose.get("type") not in ("light", "switch") or "endpoint" in expose:
        return False
    features = expose.get("features")
    return isinstance(features, list) and any(
        isinstance(f, dict) and f.get("property") == "state" for f in features
    )


def refused(bridge: str, label: str, rej: Rejected) -> Rejected:
    """A listed device the hub cannot take: refused (and counted) alone, the list goes on."""
    return Rejected(rej.reason, f"bridge {bridge}: device {label[:60]!r}: {rej.detail}")
