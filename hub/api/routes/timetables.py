"""Lighting timetables: create, edit, pause and delete; the scheduler follows at once."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.api.deps import AreaDep, Controller, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schedule_edits import save_schedule_edit
from hub.api.schedule_schemas import TimetableCreate, TimetablePublic, TimetableUpdate
from hub.api.schemas import Page
from hub.models import Area, LightingTimetableRow, Zone
from hub.runtime import HubRuntime
from schedules.convert import StepSpec, mask_from_weekdays, weekdays_from_mask

router = APIRouter(prefix="/api/v1/areas/{code}/timetables", tags=["schedules"])


def _public(row: LightingTimetableRow, runtime: HubRuntime) -> TimetablePublic:
    return TimetablePublic(
        id=row.id,
        name=row.name,
        zone_id=row.zone_id,
        steps=[StepSpec.model_validate(s) for s in row.steps],
        weekdays=sorted(weekdays_from_mask(row.weekdays)),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        exceptions={
            date.fromisoformat(d): [StepSpec.model_validate(s) for s in v] for d, v in row.exceptions.items()
        },
        misfire=row.misfire,
        grace_s=row.grace_s,
        enabled=row.enabled,
        next_run=runtime.schedules.next_run(row.id),
        updated_at=row.updated_at,
    )


def _get(session: Session, area: Area, timetable_id: int) -> LightingTimetableRow:
    row = session.scalar(
        select(LightingTimetableRow).where(
            LightingTimetableRow.id == timetable_id, LightingTimetableRow.area_id == area.id
        )
    )
    if row is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "timetable_not_found",
            f"no timetable {timetable_id} in area {area.code!r}",
            timetable_id=timetable_id,
        )
    return row


def _check(
    session: Session, area: Area, zone_id: int | None, valid_from: date | None, until: date | None
) -> None:
    if (
        zone_id is not None
        and session.scalar(select(Zone.id).where(Zone.id == zone_id, Zone.area_id == area.id)) is None
    ):
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "zone_not_found",
            f"zone_id {zone_id}: no such zone in this area",
            zone_id=zone_id,
        )
    if valid_from and until and until < valid_from:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "valid_range", "valid_until is before valid_from"
        )


def _stored(body: TimetableCreate | TimetableUpdate) -> dict[str, Any]:
    data = body.model_dump(exclude_unset=True, mode="json")
    if "weekdays" in data:
        data["weekdays"] = mask_from_weekdays(data["weekdays"])
    for key in ("valid_from", "valid_until"):
        if data.get(key) is not None:
            data[key] = date.fromisoformat(data[key])
    return data


@router.get("")
def list_timetables(
    area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep, runtime: RuntimeDep
) -> Page[TimetablePublic]:
    query = select(LightingTimetableRow).where(LightingTimetableRow.area_id == area.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(LightingTimetableRow.id).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[_public(r, runtime) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_timetable(
    body: TimetableCreate, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> TimetablePublic:
    """Steps at clock times or at sunrise/sunset ± minutes; e.g. sunset − 15 → 100 %, 23:00 → 50 %."""
    _check(session, area, body.zone_id, body.valid_from, body.valid_until)
    row = LightingTimetableRow(area_id=area.id, created_by=user.id, **_stored(body))
    session.add(row)
    session.flush()
    save_schedule_edit(
        session, runtime, user, area, "timetable.create", f"timetable:{row.id}", body.model_dump(mode="json")
    )
    return _public(row, runtime)


@router.get("/{timetable_id}")
def get_timetable(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, timetable_id: int
) -> TimetablePublic:
    return _public(_get(session, area, timetable_id), runtime)


@router.patch("/{timetable_id}")
def update_timetable(
    body: TimetableUpdate,
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    runtime: RuntimeDep,
    timetable_id: int,
) -> TimetablePublic:
    """Edit or pause (``enabled: false``); the job is replaced, never duplicated."""
    row = _get(session, area, timetable_id)
    changes = _stored(body)
    _check(
        session,
        area,
        row.zone_id,
        changes.get("valid_from", row.valid_from),
        changes.get("valid_until", row.valid_until),
    )
    for key, value in changes.items():
        setattr(row, key, value)
    save_schedule_edit(
        session,
        runtime,
        user,
        area,
        "timetable.update",
        f"timetable:{row.id}",
        body.model_dump(mode="json", exclude_unset=True),
    )
    return _public(row, runtime)


@router.delete("/{timetable_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_timetable(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, timetable_id: int
) -> Response:
    row = _get(session, area, timetable_id)
    session.delete(row)
    save_schedule_edit(
        session, runtime, user, area, "timetable.delete", f"timetable:{timetable_id}", {"name": row.name}
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
