"""The camera-alerts thread's lookups: accepted cameras, their open outages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.bulk_sql import IN_CHUNK
from hub.models import Area, Device, DeviceStatus, as_utc
from hub.notifications.models import CameraOutage


@dataclass(frozen=True, slots=True)
class Camera:
    pk: int
    area_id: int
    device_id: str
    name: str
    tz: str

    @property
    def title_name(self) -> str:
        """ "Camera Cổng 1" whether the installer named it "Cổng 1" or "Camera Cổng 1"."""
        return self.name if self.name.lower().startswith("camera") else f"Camera {self.name}"


def cameras(sessions: sessionmaker[Session], keys: set[tuple[str, str]]) -> dict[tuple[str, str], Camera]:
    """The accepted cameras among these (area, device): one nobody accepted is nobody's concern."""
    by_area: dict[str, list[str]] = {}
    for area, device in keys:
        by_area.setdefault(area, []).append(device)
    found: dict[tuple[str, str], Camera] = {}
    with sessions() as session:
        for area, devices in by_area.items():
            for i in range(0, len(devices), IN_CHUNK):
                rows = session.execute(
                    select(Device.id, Device.area_id, Device.device_id, Device.name, Area.timezone)
                    .join(Area, Area.id == Device.area_id)
                    .where(
                        Area.code == area,
                        Device.device_id.in_(devices[i : i + IN_CHUNK]),
                        Device.status == DeviceStatus.ACTIVE.value,
                    )
                )
                for row in rows:
                    found[(area, row.device_id)] = Camera(
                        row.id, row.area_id, row.device_id, row.name or row.device_id, row.timezone
                    )
    return found


def open_outages(session: Session, pks: list[int]) -> list[tuple[int, int, datetime]]:
    """(outage id, camera pk, start) of every outage of these cameras still open."""
    out: list[tuple[int, int, datetime]] = []
    for i in range(0, len(pks), IN_CHUNK):
        rows = session.execute(
            select(CameraOutage.id, CameraOutage.device_pk, CameraOutage.started_at).where(
                CameraOutage.device_pk.in_(pks[i : i + IN_CHUNK]), CameraOutage.ended_at.is_(None)
            )
        )
        out += [(oid, pk, as_utc(started)) for oid, pk, started in rows]
    return out


def open_outage_pks(sessions: sessionmaker[Session], pks: list[int]) -> set[int]:
    """Which of these cameras have an outage still open."""
    out: set[int] = set()
    with sessions() as session:
        for i in range(0, len(pks), IN_CHUNK):
            out.update(
                session.scalars(
                    select(CameraOutage.device_pk).where(
                        CameraOutage.device_pk.in_(pks[i : i + IN_CHUNK]), CameraOutage.ended_at.is_(None)
                    )
                )
            )
    return out


def camera_by_pk(session: Session, pk: int) -> Camera | None:
    row = session.execute(
        select(Device.id, Device.area_id, Device.device_id, Device.name, Area.timezone)
        .join(Area, Area.id == Device.area_id)
        .where(Device.id == pk)
    ).first()
    return (
        Camera(row.id, row.area_id, row.device_id, row.name or row.device_id, row.timezone) if row else None
    )
