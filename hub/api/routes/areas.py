"""Areas and their zones."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from hub.api.deps import AreaDep, CurrentUser, PagingDep, SessionDep
from hub.api.schemas import AreaPublic, AreaSummary, DeviceCounts, Page
from hub.models import Area, Device, DeviceStatus, Role

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


@router.get("")
def list_areas(session: SessionDep, user: CurrentUser, paging: PagingDep) -> Page[AreaPublic]:
    """Every area for the commune admin; one's own area for everyone else."""
    query = select(Area)
    if user.role != Role.ADMIN:
        query = query.where(Area.id == user.area_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Area.zones)).order_by(Area.code).limit(paging.limit).offset(paging.offset)
    ).all()
    return Page(
        items=[AreaPublic.model_validate(a) for a in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{code}")
def get_area(area: AreaDep, session: SessionDep) -> AreaSummary:
    """One area with its zones and device counts by kind."""
    counts: dict[str, DeviceCounts] = {}
    rows = session.execute(
        select(Device.kind, Device.status, Device.online, func.count())
        .where(Device.area_id == area.id)
        .group_by(Device.kind, Device.status, Device.online)
    ).all()
    for kind, dev_status, online, n in rows:
        c = counts.setdefault(kind, DeviceCounts())
        if dev_status == DeviceStatus.PENDING:
            c.pending += n
        elif dev_status == DeviceStatus.ACTIVE:
            c.total += n
            c.online += n if online else 0
    base = AreaPublic.model_validate(area)
    return AreaSummary(**base.model_dump(), devices=counts)
