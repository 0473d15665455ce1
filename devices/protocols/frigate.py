"""Frigate NVR: one instance is a gateway for its cameras (docs/protocols/frigate.md).

Frigate is set up with ``mqtt: topic_prefix: frigate/<area>/<frigate id>``; from its MQTT
documentation (docs/docs/integrations/mqtt.md) the hub reads, under that prefix:

- ``available``: ``online`` (retained, published on every connection), ``stopped`` (retained,
  a normal stop) or ``offline`` (its Last Will): the gateway's availability;
- ``stats``: the ``/api/stats`` document every ``stats_interval``; its FAQ: "the camera_fps for
  any offline camera will be 0". Cameras are announced from it, their availability follows
  ``cameras.<name>.camera_fps``; Frigate's version is ``service.version``;
- ``<camera>/motion``: ``ON``/``OFF``; Frigate publishes ``OFF`` for every camera on each
  connection, which says nothing when no motion was reported before;
- ``events``: ``{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`` per tracked
  object (``camera``, ``label``, ``top_score``, ``false_positive``);
- ``<camera>/<label>/snapshot``: JPEG bytes of the best frame of a detected object (retained,
  so a reconnecting hub gets each label's last one again).

Frigate takes camera settings on ``<camera>/<setting>/set`` and no light commands. These
messages carry no time the hub can rely on, so the codec stamps them as they arrive.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
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
    SnapshotReport,
    Source,
)
from devices.pairing import StampClock
from devices.payloads import Availability, DetectionEvent, DeviceInfo, Heartbeat, Kind, MotionEvent
from devices.protocols.common import check_size, ident, json_object, number, switch, text
from devices.topics import is_ident

NAME = "frigate"
ROOT = "frigate"
CAMERA_MODEL = "Frigate camera"
GATEWAY_MODEL = "Frigate"
# One row per camera in the database, sent to phones: Frigate's defaults (height 270,
# quality 70, cropped) stay far below.
MAX_SNAPSHOT_BYTES = 48 * 1024
# Frigate's stats list every process and detector: bigger than the hub's own documents.
MAX_STATS_BYTES = 60_000
MAX_EVENT_BYTES = 32 * 1024
MAX_CAMERAS = 256
JPEG_MAGIC = b"\xff\xd8\xff"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,31}$")
_AVAILABLE = {"online": Availability.ONLINE, "offline": Availability.OFFLINE, "stopped": Availability.OFFLINE}

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (area, frigate id)


def prefix(area: str, frigate: str) -> str:
    """The ``topic_prefix`` a Frigate of ``area`` must be given."""
    return f"{ROOT}/{area}/{frigate}"


@dataclass(slots=True)
class _Instance:
    """What the codec last told the hub about one Frigate: only changes are reported."""

    version: str | None = None
    online: dict[str, bool] = field(default_factory=dict)  # camera -> camera_fps > 0
    moving: set[str] = field(default_factory=set)  # cameras whose motion is ON
    badly_named: set[str] = field(default_factory=set)  # already logged once


class FrigateCodec:
    name = NAME

    def __init__(self) -> None:
        # Only the network thread decodes: this memory needs no lock.
        self._instances: dict[Key, _Instance] = {}
        self._clock = StampClock()

    def subscriptions(self) -> list[str]:
        base = f"{ROOT}/+/+"
        return [
            f"{base}/available",
            f"{base}/stats",
            f"{base}/events",
            f"{base}/+/motion",
            f"{base}/+/+/snapshot",
        ]

    def claims(self, topic: str) -> bool:
        return topic.startswith(ROOT + "/")

    def hub_publishes(self) -> list[str]:
        return [f"{ROOT}/+/+/available"]  # only the retained "offline" of a revoked Frigate

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        if not gateway:
            return DeviceTopics((), ())  # a camera speaks through its Frigate's account
        # Frigate subscribes to its whole prefix (its ``.../set`` topics, ``restart``, ...).
        own = f"{prefix(area, device)}/#"
        return DeviceTopics((own,), (own,))

    def offline(self, area: str, device: str) -> Outbound | None:
        # A Frigate's own Will topic. A camera has none: written at the same place under its
        # own id, it reads back as that camera's "offline" all the same (no Frigate uses it).
        return Outbound(f"{prefix(area, device)}/available", b"offline", qos=1, retain=True)

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        return [
            "mqtt:",
            "  enabled: true",
            f"  host: {json.dumps(host)}",
            f"  port: {port}",
            f"  user: {json.dumps(username)}",
            f"  password: {json.dumps(password)}",
            f"  client_id: {json.dumps(username)}",
            f"  topic_prefix: {prefix(area, device)}",
            "  stats_interval: 15",
            "# Name each camera with lower-case letters, digits, '-' or '_' (it becomes its device id).",
            "# Each camera's snapshots must stay under 48 KiB: keep Frigate's defaults or smaller:",
            "# cameras: {<camera>: {mqtt: {height: 270, quality: 70}}}",
        ]

    def encode(self, order: CommandOrder) -> Outbound:
        raise ValueError(f"a Frigate takes no {order.command.action} commands")

    # --- decode --------------------------------------------------------------------

    def decode(self, topic: str, payload: bytes) -> Decoded:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != ROOT:
            raise Rejected(RejectReason.BAD_TOPIC, f"not {ROOT}/<area>/<frigate>/...: {topic[:200]!r}")
        key = (ident(parts[1], "area"), ident(parts[2], "frigate id"))
        rest = parts[3:]
        if rest == ["available"]:
            return self._available(key, text(payload))
        if rest == ["stats"]:
            return self._stats(key, json_object(payload, MAX_STATS_BYTES))
        if rest == ["events"]:
            return self._event(key, json_object(payload, MAX_EVENT_BYTES))
        if len(rest) == 2 and rest[1] == "motion":
            return self._motion(key, self._camera(key, rest[0]), switch(text(payload), "motion"))
        if len(rest) == 3 and rest[2] == "snapshot":
            return self._snapshot(key, self._camera(key, rest[0]), rest[1], payload)
        raise Rejected(RejectReason.BAD_TOPIC, f"not a Frigate topic the hub reads: {topic[:200]!r}")

    def _available(self, key: Key, value: str) -> AvailabilityReport:
        availability = _AVAILABLE.get(value)
        if availability is None:
            raise Rejected(
                RejectReason.INVALID, f"available must be online, offline or stopped, got {value[:40]!r}"
            )
        # Its cameras go down with it (the hub's gateway rule) and come back with its next
        # stats: forget what was reported, so those stats report every camera again.
        known = self._instances.pop(key, None)
        if known is not None and known.moving:
            self._instances[key] = _Instance(moving=known.moving)
        return AvailabilityReport(Source(key[0], key[1], NAME), availability)

    def _stats(self, key: Key, body: dict[str, Any]) -> list[Inbound | Rejected]:
        cameras, service = body.get("cameras"), body.get("service")
        if not isinstance(cameras, dict) or not isinstance(service, dict):
            raise Rejected(RejectReason.INVALID, "stats must have 'cameras' and 'service' objects")
        if len(cameras) > MAX_CAMERAS:
            raise Rejected(RejectReason.INVALID, f"{len(cameras)} cameras > {MAX_CAMERAS}")
        version = service.get("version")
        if not isinstance(version, str) or not version.strip():
            raise Rejected(RejectReason.INVALID, "stats must give service.version")
        version = version.strip()[:32]
        uptime = int(number(service.get("uptime", 0), "service.uptime", 0, 10**10))
        fps: dict[str, float] = {}
        for name, entry in cameras.items():
            if not isinstance(entry, dict):
                raise Rejected(RejectReason.INVALID, f"stats of camera {name[:60]!r} must be an object")
            fps[name] = number(entry.get("camera_fps"), f"cameras.{name[:60]}.camera_fps", 0, 10_000)
        inst = self._instances.setdefault(key, _Instance())
        area, frigate = key
        gateway = Source(area, frigate, NAME)
        out: list[Inbound | Rejected] = []
        if inst.version != version:
            itself = DeviceInfo(kind=Kind.GATEWAY, model=GATEWAY_MODEL, firmware=version)
            out.append(InfoReport(gateway, itself))
        out.append(EventReport(gateway, Heartbeat(ts=self._clock.stamp(key), uptime_s=uptime)))
        for name, rate in fps.items():
            if not is_ident(name) or name == frigate:
                misnamed = self._misnamed(inst, name)  # the other cameras are still watched
                if misnamed is not None:
                    out.append(misnamed)
                continue
            src = Source(area, name, NAME, via=frigate)
            if inst.version != version or name not in inst.online:
                out.append(InfoReport(src, _camera_info(version, frigate)))
            online = rate > 0
            if inst.online.get(name) is not online:
                inst.online[name] = online
                out.append(AvailabilityReport(src, Availability.ONLINE if online else Availability.OFFLINE))
            if online:
                out.append(EventReport(src, Heartbeat(ts=self._clock.stamp((area, name)), uptime_s=uptime)))
        inst.version = version
        return out

    def _misnamed(self, inst: _Instance, name: str) -> Rejected | None:
        """A camera the hub cannot name: refused once (counted and logged), not every stats."""
        if name in inst.badly_named or len(inst.badly_named) >= MAX_CAMERAS:
            return None
        inst.badly_named.add(name)
        return Rejected(
            RejectReason.BAD_TOPIC,
            f"camera {name[:60]!r} is not a valid device id (lower-case letters, digits, '-', '_' and"
            " not the Frigate's own id); rename it in Frigate's config to watch it",
        )

    def _camera(self, key: Key, name: str) -> str:
        ident(name, "camera")
        if name == key[1]:
            raise Rejected(RejectReason.BAD_TOPIC, f"camera {name!r} has its Frigate's own id")
        return name

    def _motion(self, key: Key, camera: str, on: bool) -> list[Inbound]:
        inst = self._instances.setdefault(key, _Instance())
        if on == (camera in inst.moving):
            return []  # the OFF Frigate publishes for every camera on connecting, or a repeat
        if on:
            inst.moving.add(camera)
        else:
            inst.moving.discard(camera)
        return [self._motion_event(key, camera, on, None)]

    def _motion_event(self, key: Key, camera: str, active: bool, score: float | None) -> EventReport:
        src = Source(key[0], camera, NAME, via=key[1])
        ts = self._clock.stamp((key[0], camera))
        return EventReport(src, MotionEvent(ts=ts, active=active, score=score))

    def _event(self, key: Key, body: dict[str, Any]) -> list[Inbound]:
        kind, after = body.get("type"), body.get("after")
        if kind not in ("new", "update", "end"):
            raise Rejected(
                RejectReason.INVALID, f"events type must be new, update or end: {str(kind)[:40]!r}"
            )
        if not isinstance(after, dict):
            raise Rejected(RejectReason.INVALID, "events must have an 'after' object")
        camera = after.get("camera")
        if not isinstance(camera, str):
            raise Rejected(RejectReason.INVALID, "events after.camera must be a string")
        camera = self._camera(key, camera)
        label = after.get("label")
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise Rejected(RejectReason.INVALID, f"events after.label is not a label: {str(label)[:40]!r}")
        score = after.get("top_score")
        top = None if score is None else round(number(score, "after.top_score", 0, 1), 4)
        if kind == "update" or after.get("false_positive") is True:
            return []  # a better snapshot or a zone change: the start and end say it all
        src = Source(key[0], camera, NAME, via=key[1])
        ts = self._clock.stamp((key[0], camera))
        return [EventReport(src, DetectionEvent(ts=ts, active=kind == "new", label=label, score=top))]

    def _snapshot(self, key: Key, camera: str, label: str, payload: bytes) -> list[Inbound]:
        if not _LABEL.fullmatch(label):
            raise Rejected(RejectReason.BAD_TOPIC, f"snapshot label {label[:40]!r} is not a label")
        if not payload:
            return []  # a retained snapshot cleared
        check_size(payload, MAX_SNAPSHOT_BYTES)
        if not payload.startswith(JPEG_MAGIC):
            raise Rejected(RejectReason.INVALID, "a snapshot must be a JPEG (FF D8 FF)")
        return [SnapshotReport(Source(key[0], camera, NAME, via=key[1]), label, payload)]


def _camera_info(version: str, frigate: str) -> DeviceInfo:
    caps = ["motion", "heartbeat"]
    return DeviceInfo(kind=Kind.CAMERA, model=CAMERA_MODEL, firmware=version, capabilities=caps, via=frigate)
