"""What every foreign codec needs: bounded JSON, identifiers from topics, a light's last state."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import Any

from devices import topics
from devices.messages import Rejected, RejectReason
from devices.payloads import MAX_PAYLOAD_BYTES

Key = tuple[str, str]  # (area, device)


def check_size(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> None:
    if len(payload) > limit:
        raise Rejected(RejectReason.OVERSIZED, f"{len(payload)} bytes > {limit}")


def text(payload: bytes) -> str:
    check_size(payload)
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected(RejectReason.NOT_UTF8, "payload is not UTF-8") from None


def json_object(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """A JSON object, or ``Rejected`` saying why not."""
    check_size(payload, limit)
    try:
        value = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(RejectReason.MALFORMED_JSON, f"payload: {exc}"[:200]) from None
    if not isinstance(value, dict):
        raise Rejected(RejectReason.INVALID, f"payload must be a JSON object, got {type(value).__name__}")
    return value


def ident(value: str, what: str) -> str:
    if not topics.is_ident(value):
        raise Rejected(
            RejectReason.BAD_TOPIC,
            f"{what} {value[:60]!r} is not a valid id (lower-case letters, digits, '-' and '_')",
        )
    return value


def switch(value: Any, where: str) -> bool:
    """``"ON"``/``"OFF"`` (any case) as Tasmota, Zigbee2MQTT and ESPHome write them."""
    if isinstance(value, str) and value.upper() in ("ON", "OFF"):
        return value.upper() == "ON"
    raise Rejected(RejectReason.INVALID, f"{where} must be ON or OFF, got {str(value)[:40]!r}")


def number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Rejected(RejectReason.INVALID, f"{where} must be a number, got {str(value)[:40]!r}")
    if not low <= value <= high:
        raise Rejected(RejectReason.INVALID, f"{where} must be within {low}..{high}, got {value}")
    return float(value)


@dataclass(slots=True)
class LightMemory:
    """What a codec last heard of one light: its reports are partial."""

    on: bool = False
    level: int = 100
    power_w: float = 0.0
    dims: bool | None = None  # None: not known yet


class Lights:
    """Per-light memory, shared by a codec's decode (network thread) and encode (senders)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lights: dict[Key, LightMemory] = {}

    def get(self, key: Key) -> LightMemory:
        with self._lock:
            light = self._lights.get(key)
            if light is None:
                light = self._lights[key] = LightMemory()
            return light

    def dims(self, key: Key) -> bool:
        """Whether to send a level; a light never heard of is taken to dim (street lights do)."""
        with self._lock:
            light = self._lights.get(key)
        return light is None or light.dims is not False
