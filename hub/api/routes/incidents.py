"""An area's incidents: outages that began together (a power cut, a gateway lost), with their cameras."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, status
from sqlalchemy import func, select

from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.errors import ApiError
from hub.api.notification_schemas import IncidentDetail, IncidentDevice, IncidentPublic
from hub.api.schemas import Page
from hub.models import Device, as_utc
from hub.notifications.models import CameraOutage, Incident

router = APIRouter(prefix="/api/v1/areas/{code}/incidents", tags=["cameras"])


@router.get("")
def incidents(
    area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep
) -> Page[IncidentPublic]:
    """Newest first; an ongoing incident has no end and counts its duration up to now."""
    total = session.scalar(select(func.count()).select_from(Incident).where(Incident.area_id == area.id))
    rows = session.scalars(
        select(Incident)
        .where(Incident.area_id == area.id)
        .order_by(Incident.id.desc())
        .limit(paging.limit)
        .offset(paging.offset)
    ).all()
    counts = dict(
        session.execute(
            select(CameraOutage.incident_id, func.count(func.distinct(CameraOutage.device_pk)))
            .where(CameraOutage.incident_id.in_([r.id for r in rows]))
            .group_by(CameraOutage.incident_id)
        ).all()
    )
    items = [_public(r, counts.get(r.id, 0)) for r in rows]
    return Page(items=items, total=total or 0, limit=paging.limit, offset=paging.offset)


@router.get("/{incident_id}")
def incident(
    incident_id: int, area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep
) -> IncidentDetail:
    """The incident and a page of its cameras, each once however often it flapped."""
    row = session.get(Incident, incident_id)
    if row is None or row.area_id != area.id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "incident_not_found",
            f"no incident {incident_id} in this area",
            incident_id=incident_id,
        )
    mine = CameraOutage.incident_id == row.id
    total = session.scalar(select(func.count(func.distinct(CameraOutage.device_pk))).where(mine)) or 0
    # A page of the devices, with the first start, the newest outage and the count of each
    # (a flap: its span runs to its newest outage); then the newest outages' ends.
    page = session.execute(
        select(
            Device.device_id,
            Device.name,
            Device.kind,
            Device.zone_id,
            func.min(CameraOutage.started_at),
            func.max(CameraOutage.id),
            func.count(CameraOutage.id),
        )
        .join(Device, Device.id == CameraOutage.device_pk)
        .where(mine)
        .group_by(Device.id)
        .order_by(Device.device_id)
        .limit(paging.limit)
        .offset(paging.offset)
    ).all()
    ends = dict(
        session.execute(
            select(CameraOutage.id, CameraOutage.ended_at).where(CameraOutage.id.in_([p[5] for p in page]))
        ).all()
    )
    items = [
        IncidentDevice(
            device_id=device_id,
            name=name or device_id,
            kind=kind,
            zone_id=zone_id,
            started_at=started,
            ended_at=ends.get(newest),
            ongoing=ends.get(newest) is None,
            outages=count,
        )
        for device_id, name, kind, zone_id, started, newest, count in page
    ]
    public = _public(row, total)
    devices = Page[IncidentDevice](items=items, total=total, limit=paging.limit, offset=paging.offset)
    return IncidentDetail(**public.model_dump(), devices=devices)


def _public(row: Incident, cameras: int) -> IncidentPublic:
    end = as_utc(row.ended_at) if row.ended_at is not None else datetime.now(UTC)
    summary = row.summary or {}
    return IncidentPublic(
        id=row.id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration_s=round((end - as_utc(row.started_at)).total_seconds(), 3),
        ongoing=row.ended_at is None,
        alerted=row.alerted,
        cameras=cameras,
        kinds=dict(summary.get("kinds", {})),
        gateways=list(summary.get("gateways", [])),
        zones=list(summary.get("zones", [])),
    )
