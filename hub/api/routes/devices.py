"""Devices of an area with their live state, and their event history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import func, select

from devices.payloads import Kind
from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.schemas import DeviceEventPublic, DevicePublic, Page
from hub.models import Area, Device, DeviceEventRow, DeviceStatus

router = APIRouter(prefix="/api/v1/areas/{code}/devices", tags=["devices"])


@router.get("")
def list_devices(
    area: AreaDep,
    session: SessionDep,
    user: Controller,
    paging: PagingDep,
    kind: Kind | None = None,
    device_status: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    zone_id: int | None = None,
    online: bool | None = None,
) -> Page[DevicePublic]:
    query = select(Device).where(Device.area_id == area.id)
    if kind is not None:
        query = query.where(Device.kind == kind.value)
    if device_status is not None:
        query = query.where(Device.status == device_status.value)
    if zone_id is not None:
        query = query.where(Device.zone_id == zone_id)
    if online is not None:
        query = query.where(Device.online == online)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Device.kind, Device.device_id).limit(paging.limit).offset(paging.offset)
    )
    return Page(
        items=[DevicePublic.model_validate(d) for d in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


def _device(session: SessionDep, area: Area, device_id: str) -> Device:
    device = session.scalar(select(Device).where(Device.area_id == area.id, Device.device_id == device_id))
    if device is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device_id!r} in area {area.code!r}")
    return device


@router.get("/{device_id}")
def get_device(area: AreaDep, session: SessionDep, user: Controller, device_id: str) -> DevicePublic:
    return DevicePublic.model_validate(_device(session, area, device_id))


@router.get("/{device_id}/events")
def list_device_events(
    area: AreaDep, session: SessionDep, user: Controller, paging: PagingDep, device_id: str
) -> Page[DeviceEventPublic]:
    """Newest first."""
    device = _device(session, area, device_id)
    query = select(DeviceEventRow).where(DeviceEventRow.device_pk == device.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(DeviceEventRow.id.desc()).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[DeviceEventPublic.model_validate(e) for e in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )
