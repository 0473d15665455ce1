"""Creating areas and pre-registering their devices (used by the CLI and the demo)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.payloads import Kind
from devices.topics import is_ident
from hub.models import Area, Device, DeviceStatus, Zone


class AreaError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Registration:
    """A device an installer registers before it first connects."""

    device_id: str
    kind: Kind
    name: str
    zone: str | None = None


def create_area(
    session: Session, code: str, name: str, latitude: float, longitude: float, timezone: str
) -> Area:
    if not is_ident(code):
        raise AreaError(f"area code {code!r} must be lowercase letters, digits, '-' or '_' (max 48)")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise AreaError("latitude must be within ±90 and longitude within ±180")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AreaError(f"unknown time zone {timezone!r}; use an IANA name like Asia/Ho_Chi_Minh") from None
    if session.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise AreaError(f"area {code!r} already exists")
    area = Area(code=code, name=name, latitude=latitude, longitude=longitude, timezone=timezone)
    session.add(area)
    session.flush()
    return area


def ensure_zone(session: Session, area: Area, name: str) -> Zone:
    zone = session.scalar(select(Zone).where(Zone.area_id == area.id, Zone.name == name))
    if zone is None:
        zone = Zone(area_id=area.id, name=name)
        session.add(zone)
        session.flush()
    return zone


def preregister(session: Session, area: Area, registrations: Iterable[Registration]) -> int:
    """Register devices as active (idempotent); returns how many were new."""
    existing = set(session.scalars(select(Device.device_id).where(Device.area_id == area.id)))
    zones: dict[str, int] = {}
    added = 0
    for reg in registrations:
        if not is_ident(reg.device_id):
            raise AreaError(f"invalid device id {reg.device_id!r}")
        if reg.device_id in existing:
            continue
        zone_id = None
        if reg.zone:
            if reg.zone not in zones:
                zones[reg.zone] = ensure_zone(session, area, reg.zone).id
            zone_id = zones[reg.zone]
        session.add(
            Device(
                area_id=area.id,
                device_id=reg.device_id,
                kind=reg.kind.value,
                name=reg.name,
                zone_id=zone_id,
                status=DeviceStatus.ACTIVE.value,
                capabilities=[],
            )
        )
        added += 1
    session.flush()
    return added
