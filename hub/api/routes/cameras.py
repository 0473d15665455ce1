"""Cameras of an area: online, recording, motion, tampering and storage, with their last events;
their latest snapshots (Frigate)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status
from pydantic import BaseModel
from sqlalchemy import Select, func, select, true
from sqlalchemy.orm import Session, aliased

from devices.payloads import Kind
from hub.api.camera_schemas import CameraPublic, CameraStatePublic
from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schemas import DeviceEventPublic, Page
from hub.models import Device, DeviceEventRow, as_utc
from hub.registry.snapshots import index, latest

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


class SnapshotPublic(BaseModel):
    """A camera's latest snapshot: what it shows and when the hub received it."""

    device_id: str
    label: str
    taken_at: datetime


@router.get("/snapshots")
def list_snapshots(area: AreaDep, session: SessionDep, user: Controller) -> list[SnapshotPublic]:
    """The cameras that have a snapshot (pictures at ``/cameras/{device_id}/snapshot``)."""
    return [SnapshotPublic.model_validate(row) for row in index(session, area.id)]


_JPEG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "the caller's copy (If-None-Match) is still the latest"},
    404: {"description": "no such camera, or no snapshot of it yet"},
}


@router.get("/{device_id}/snapshot", response_class=Response, responses=_JPEG)
def get_snapshot(
    area: AreaDep,
    device_id: str,
    session: SessionDep,
    user: Controller,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """The camera's latest snapshot (JPEG); its label and time in ``X-Snapshot-Label``/``-At``."""
    shot = latest(session, area.id, device_id)
    if shot is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "snapshot_not_found",
            f"no snapshot of camera {device_id[:60]!r} yet",
            device_id=device_id[:60],
        )
    at = as_utc(shot.taken_at)
    headers = {
        # A phone keeps it, but asks each time whether a newer one came (answered by a 304).
        "Cache-Control": "private, no-cache",
        "ETag": f'"{int(at.timestamp() * 1000)}"',
        "X-Snapshot-Label": shot.label,
        "X-Snapshot-At": at.isoformat(),
    }
    if if_none_match == headers["ETag"]:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(shot.jpeg, media_type="image/jpeg", headers=headers)
