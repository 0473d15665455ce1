"""Each camera's latest snapshot (a JPEG of what Frigate detected): one row per camera, replaced.

Migration 0011 creates the table. The ingest writer keeps snapshots (``keep``, called by
``RegistryStore``), the cameras routes serve them (``latest``, ``index``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, LargeBinary, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from devices.messages import Rejected, RejectReason, SnapshotReport
from devices.payloads import Kind
from hub.db import Base
from hub.models import Device, as_utc


class CameraSnapshot(Base):
    __tablename__ = "camera_snapshots"

    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(32))
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def keep(
    session: Session, device_pk: int, kind: str, msg: SnapshotReport, now: datetime
) -> dict[str, Any] | None:
    """Store ``msg`` as the camera's latest snapshot; the change's fields, or None if nothing changed."""
    if kind != Kind.CAMERA.value:
        raise Rejected(RejectReason.KIND_MISMATCH, f"a {kind} has no snapshots")
    row = session.get(CameraSnapshot, device_pk)
    if row is not None and row.jpeg == msg.jpeg:
        return None  # the broker's retained copy of what the hub already has
    if row is not None and msg.source.retained and row.label != msg.label:
        # Replayed from the broker: the latest of its label, but perhaps older than the hub's
        # snapshot of another label. Of the same label it is at least as new.
        return None
    if row is None:
        row = CameraSnapshot(device_pk=device_pk, label=msg.label, jpeg=msg.jpeg, taken_at=now)
        session.add(row)
    else:
        row.label, row.jpeg, row.taken_at = msg.label, msg.jpeg, now
    return {"snapshot": {"label": msg.label, "taken_at": now.isoformat(), "bytes": len(msg.jpeg)}}


def latest(session: Session, area_id: int, device_id: str) -> CameraSnapshot | None:
    """The camera's latest snapshot, if it has one."""
    return session.scalar(
        select(CameraSnapshot)
        .join(Device, Device.id == CameraSnapshot.device_pk)
        .where(Device.area_id == area_id, Device.device_id == device_id, Device.kind == Kind.CAMERA.value)
    )


def index(session: Session, area_id: int) -> list[dict[str, Any]]:
    """Which cameras of the area have a snapshot, of what and when (without the pictures)."""
    rows = session.execute(
        select(Device.device_id, CameraSnapshot.label, CameraSnapshot.taken_at)
        .join(Device, Device.id == CameraSnapshot.device_pk)
        .where(Device.area_id == area_id)
        .order_by(Device.device_id)
    ).all()
    return [{"device_id": d, "label": label, "taken_at": as_utc(at)} for d, label, at in rows]
