"""Cameras of an area: online, recording, motion, tampering and storage, with their last events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session, aliased

from devices.payloads import Kind
from hub.api.camera_schemas import CameraPublic, CameraStatePublic
from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.schemas import DeviceEventPublic, Page
from hub.models import Device, DeviceEventRow

router = APIRouter(prefix="/api/v1/areas/{code}/cameras", tags=["cameras"])


def _recent_events_query(dialect: str, pks: Sequence[int], n: int) -> Select[DeviceEventRow]:
    """The newest ``n`` events of each device in one statement, each device read by its index.

    A window function (ROW_NUMBER per device) would read every event those cameras ever
    reported; these forms stop after ``n`` index entries per camera.
    """
    if dialect == "postgresql":
        newest = (
            select(DeviceEventRow)
            .where(DeviceEventRow.device_pk == Device.id)
            .order_by(DeviceEventRow.id.desc())
            .limit(n)
            .lateral()
        )
        ev = aliased(DeviceEventRow, newest)
        return select(ev).select_from(Device).join(ev, true()).where(Device.id.in_(pks))
    # SQLite has no LATERAL; it runs a correlated IN list once per camera, by primary key.
    inner = aliased(DeviceEventRow)
    newest_ids = (
        select(inner.id)
        .where(inner.device_pk == Device.id)
        .order_by(inner.id.desc())
        .limit(n)
        .correlate(Device)
    )
    return (
        select(DeviceEventRow)
        .select_from(Device)
        .join(DeviceEventRow, DeviceEventRow.id.in_(newest_ids))
        .where(Device.id.in_(pks))
    )


def _recent_events(session: Session, pks: Sequence[int], n: int) -> dict[int, list[DeviceEventPublic]]:
    if not pks or n == 0:
        return {}
    query = _recent_events_query(session.get_bind().dialect.name, pks, n)
    found: dict[int, list[DeviceEventRow]] = {}
    for row in session.scalars(query):
        found.setdefault(row.device_pk, []).append(row)
    return {
        pk: [DeviceEventPublic.model_validate(r) for r in sorted(rows, key=lambda r: r.id, reverse=True)]
        for pk, rows in found.items()
    }


def _state(state: dict[str, object] | None) -> CameraStatePublic | None:
    # Until a camera reports, it has no state; the hub never invents one.
    return CameraStatePublic.model_validate(state) if state else None


@router.get("")
def list_cameras(
    area: AreaDep,
    session: SessionDep,
    user: Controller,
    paging: PagingDep,
    events: Annotated[int, Query(ge=0, le=20, description="last events per camera, newest first")] = 5,
    online: bool | None = None,
) -> Page[CameraPublic]:
    """Cameras by device id, each with its last ``events`` events (one query for all of them)."""
    query = select(Device).where(Device.area_id == area.id, Device.kind == Kind.CAMERA.value)
    if online is not None:
        query = query.where(Device.online == online)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    cameras = list(
        session.scalars(query.order_by(Device.device_id).limit(paging.limit).offset(paging.offset))
    )
    recent = _recent_events(session, [c.id for c in cameras], events)
    return Page(
        items=[
            CameraPublic(
                device_id=c.device_id,
                name=c.name,
                zone_id=c.zone_id,
                status=c.status,
                model=c.model,
                firmware=c.firmware,
                online=c.online,
                availability_at=c.availability_at,
                last_seen=c.last_seen,
                state=_state(c.state),
                events=recent.get(c.id, []),
            )
            for c in cameras
        ],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )
