"""A camera's outage history: when it went dark, for how long, and whether the head was told."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy import func, select

from devices.payloads import Kind
from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.errors import ApiError
from hub.api.notification_schemas import OutagePublic
from hub.api.schemas import Page
from hub.models import Device, as_utc
from hub.notifications.models import CameraOutage

router = APIRouter(prefix="/api/v1/areas/{code}/cameras", tags=["cameras"])


@router.get("/{device_id}/outages")
def outages(
    device_id: str, area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep
) -> Page[OutagePublic]:
    """Newest first; an ongoing outage has no end and counts its duration up to now."""
    pk = session.scalar(
        select(Device.id).where(
            Device.area_id == area.id, Device.device_id == device_id, Device.kind == Kind.CAMERA.value
        )
    )
    if pk is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "device_not_found",
            f"no camera {device_id!r} in this area",
            device_id=device_id,
        )
    total = session.scalar(select(func.count()).select_from(CameraOutage).where(CameraOutage.device_pk == pk))
    rows = session.scalars(
        select(CameraOutage)
        .where(CameraOutage.device_pk == pk)
        .order_by(CameraOutage.id.desc())
        .limit(paging.limit)
        .offset(paging.offset)
    )
    now = datetime.now(UTC)
    items = [
        OutagePublic(
            id=o.id,
            started_at=o.started_at,
            ended_at=o.ended_at,
            duration_s=o.duration_s
            if o.duration_s is not None
            else round((now - as_utc(o.started_at)).total_seconds(), 3),
            ongoing=o.ended_at is None,
            alerted=o.alerted,
        )
        for o in rows
    ]
    return Page(items=items, total=total or 0, limit=paging.limit, offset=paging.offset)
