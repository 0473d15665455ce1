"""Areas, their zones and the registration status of their devices (CLI, demo and API)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from devices.payloads import Kind
from devices.topics import is_ident
from hub.models import Area, Device, DeviceStatus, Zone


class AreaError(ValueError):
    pass


class AreaExists(AreaError):
    """The code or name is taken (the API answers 409, not 422)."""


class ZoneExists(AreaError):
    pass


class DeviceStatusError(AreaError):
    pass


# Registration transitions the API offers: action -> (required status, new status).
TRANSITIONS: dict[str, tuple[DeviceStatus, DeviceStatus]] = {
    "accept": (DeviceStatus.PENDING, DeviceStatus.ACTIVE),
    "reject": (DeviceStatus.PENDING, DeviceStatus.REJECTED),
    "retire": (DeviceStatus.ACTIVE, DeviceStatus.RETIRED),
}


@dataclass(frozen=True, slots=True)
class Registration:
    """A device an installer registers before it first connects."""

    device_id: str
    kind: Kind
    name: str
    zone: str | None = None
    protocol: str = "native"
    via: str | None = None  # the bridge it is behind (Zigbee2MQTT, Frigate)


def create_area(
    session: Session, code: str, name: str, latitude: float, longitude: float, timezone: str
) -> Area:
    if not is_ident(code):
        raise AreaError(f"area code {code!r} must be lowercase letters, digits, '-' or '_' (max 48)")
    check_position(latitude, longitude)
    check_timezone(timezone)
    if session.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise AreaExists(f"area {code!r} already exists")
    area = Area(code=code, name=name, latitude=latitude, longitude=longitude, timezone=timezone)
    session.add(area)
    session.flush()
    return area


def check_position(latitude: float, longitude: float) -> None:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise AreaError("latitude must be within ±90 and longitude within ±180")


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise AreaError(f"unknown time zone {timezone!r}; use an IANA name like Asia/Ho_Chi_Minh") from None


def update_area(
    area: Area,
    name: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    timezone: str | None = None,
    tts_voice: str | None = None,
    local_changes: str | None = None,
) -> dict[str, object]:
    """Change the given fields after validating them all; returns what changed."""
    lat = area.latitude if latitude is None else latitude
    lon = area.longitude if longitude is None else longitude
    check_position(lat, lon)
    if timezone is not None:
        check_timezone(timezone)
    wanted = {
        "name": name,
        "latitude": latitude,
        "longitude": longitude,
        "timezone": timezone,
        "tts_voice": tts_voice,
        "local_changes": local_changes,
    }
    changed: dict[str, object] = {k: v for k, v in wanted.items() if v is not None and getattr(area, k) != v}
    for key, value in changed.items():
        setattr(area, key, value)
    return changed


def create_zone(session: Session, area: Area, name: str) -> Zone:
    _zone_name_free(session, area, name)
    zone = Zone(area_id=area.id, name=name)
    session.add(zone)
    session.flush()
    return zone


def rename_zone(session: Session, zone: Zone, name: str) -> None:
    if zone.name != name:
        _zone_name_free(session, zone.area, name)
        zone.name = name
        session.flush()


def delete_zone(session: Session, zone: Zone) -> int:
    """Delete a zone; its devices stay, without a zone. Returns how many were in it."""
    # Done explicitly rather than left to ON DELETE SET NULL: SQLite only honours it with
    # the foreign_keys pragma, and the count goes into the audit row.
    moved = cast(
        "CursorResult[Any]",
        session.execute(update(Device).where(Device.zone_id == zone.id).values(zone_id=None)),
    )
    session.delete(zone)
    session.flush()
    return moved.rowcount


def _zone_name_free(session: Session, area: Area, name: str) -> None:
    if session.scalar(select(Zone.id).where(Zone.area_id == area.id, Zone.name == name)) is not None:
        raise ZoneExists(f"area {area.code!r} already has a zone named {name!r}")


def change_status(device: Device, action: str) -> DeviceStatus:
    """Apply a registration transition (``TRANSITIONS``); returns the previous status."""
    required, new = TRANSITIONS[action]
    current = DeviceStatus(device.status)
    if current is not required:
        possible = [a for a, (src, _) in TRANSITIONS.items() if src is current]
        allowed = f"from {current.value} you may {' or '.join(possible)}" if possible else "that is final"
        raise DeviceStatusError(
            f"device {device.device_id!r} is {current.value}; {action} applies to {required.value} "
            f"devices only ({allowed})"
        )
    device.status = new.value
    return current


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
                codec=reg.protocol,
                via=reg.via,
            )
        )
        added += 1
    session.flush()
    return added
