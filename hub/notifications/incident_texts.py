"""What an incident's alert and recovery notice say: what went dark, where, for how long.

The summary counts every device of the area that went dark since the incident began and is
still dark when the head is told: lights, speakers and the gateway as well as the cameras
(the rule is in ``incidents``). One camera alone keeps the wording it always had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.payloads import Kind
from hub.models import Device, DeviceStatus, Zone
from hub.notifications.texts import local_time, vi_duration

# A device's availability is stamped by the ingest batch, a moment before this thread opens
# the camera's outage; a little slack keeps the gateway's own Will in the count.
SINCE_SLACK = timedelta(seconds=5)
_KIND_VI = {Kind.CAMERA.value: "camera", Kind.LIGHT.value: "đèn", Kind.SPEAKER.value: "loa"}
_SHOWN = 3  # gateways and zones named before "và N ... khác"


@dataclass(slots=True)
class Summary:
    kinds: dict[str, int] = field(default_factory=dict)
    gateways: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    # (title name, device id) when one camera alone went dark: the wording names it.
    camera: tuple[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kinds": self.kinds, "gateways": self.gateways, "zones": self.zones}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(dict(data.get("kinds", {})), list(data.get("gateways", [])), list(data.get("zones", [])))

    def lone(self, name: str, device: str) -> Summary:
        """This summary, worded for the one camera it counts if that is all it counts."""
        return Summary(self.kinds, self.gateways, self.zones, (name, device)) if self.lone_camera else self

    @property
    def lone_camera(self) -> bool:
        return self.kinds == {Kind.CAMERA.value: 1} and not self.gateways

    def what(self) -> str:
        """ "cổng gw 1, 40 camera, 12 đèn" """
        parts = [_gateway(g) for g in self.gateways[:_SHOWN]]
        if len(self.gateways) > _SHOWN:
            parts.append(f"{len(self.gateways) - _SHOWN} cổng khác")
        for kind, label in _KIND_VI.items():
            if self.kinds.get(kind):
                parts.append(f"{self.kinds[kind]} {label}")
        return ", ".join(parts) or "thiết bị"

    def where(self) -> str:
        """ " ở Phố 1, Phố 2" (at), or nothing when no zone is known."""
        if not self.zones:
            return ""
        shown = ", ".join(self.zones[:_SHOWN])
        more = f" và {len(self.zones) - _SHOWN} khu vực khác" if len(self.zones) > _SHOWN else ""
        return f" ở {shown}{more}"


def summarize(session: Session, area_id: int, since: datetime) -> Summary:
    """The devices of the area dark now that went dark at or after ``since``."""
    dark = (
        Device.area_id == area_id,
        Device.online.is_(False),
        Device.status == DeviceStatus.ACTIVE.value,
        Device.availability_at >= since - SINCE_SLACK,
    )
    out = Summary()
    zones: set[str] = set()
    rows = session.execute(
        select(Device.kind, Zone.name, func.count())
        .outerjoin(Zone, Zone.id == Device.zone_id)
        .where(*dark, Device.kind != Kind.GATEWAY.value)
        .group_by(Device.kind, Zone.name)
    )
    for kind, zone, n in rows:
        out.kinds[kind] = out.kinds.get(kind, 0) + n
        if zone:
            zones.add(zone)
    out.zones = sorted(zones)
    gateways = select(Device.name, Device.device_id).where(*dark, Device.kind == Kind.GATEWAY.value)
    names = session.execute(gateways)
    out.gateways = sorted(name or device_id for name, device_id in names)
    return out


def offline_text(summary: Summary, started: datetime, tz: str, debounce_s: float) -> tuple[str, str]:
    """Title and body of the incident's one alert."""
    if summary.camera is not None:
        name, device = summary.camera
        return (
            f"{name} mất kết nối",  # "... lost its connection"
            f"{name} ({device}) mất kết nối từ {local_time(started, tz)} và chưa kết nối lại sau "
            f"{vi_duration(debounce_s)}. Hãy kiểm tra nguồn điện và đường mạng.",
        )
    what = summary.what()
    return (
        f"Mất kết nối: {what}",  # "lost connection: ..."
        f"Mất kết nối: {what}{summary.where()}, từ {local_time(started, tz)}, chưa kết nối lại sau "
        f"{vi_duration(debounce_s)}. Có thể do mất điện hoặc mất mạng; hãy kiểm tra nguồn điện và "
        "đường mạng. Chi tiết từng thiết bị trong mục Camera.",
    )


def recovery_text(summary: Summary, started: datetime, ended: datetime, tz: str) -> tuple[str, str]:
    """Title and body of the incident's one "back online" notice."""
    if summary.camera is not None:
        name, device = summary.camera
        return (
            f"{name} đã kết nối lại",  # "... is back online"
            f"{name} ({device}) đã hoạt động trở lại sau {vi_duration((ended - started).total_seconds())} "
            f"mất kết nối (từ {local_time(started, tz)} đến {local_time(ended, tz)}).",
        )
    what = summary.what()
    lasted = vi_duration((ended - started).total_seconds())
    return (
        f"Đã kết nối lại: {what}",  # "connected again: ..."
        f"{what[0].upper()}{what[1:]}{summary.where()} đã hoạt động trở lại sau {lasted} mất kết nối "
        f"(từ {local_time(started, tz)} đến {local_time(ended, tz)}).",
    )


def _gateway(name: str) -> str:
    return name if name.lower().startswith(("cổng", "bộ gom", "gateway")) else f"cổng {name}"
