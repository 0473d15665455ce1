"""Broadcast programmes: one-off, daily, weekly, monthly or cron announcements on the speakers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.api.deps import AreaDep, Controller, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schedule_edits import save_schedule_edit
from hub.api.schedule_schemas import ProgrammeCreate, ProgrammePublic, ProgrammeUpdate
from hub.api.schemas import Page
from hub.broadcasts.models import AudioAsset, BroadcastProgramme
from hub.models import Area, Zone
from hub.runtime import HubRuntime
from schedules.convert import mask_from_weekdays, weekdays_from_mask
from schedules.programmes import ProgrammeError, trigger_for

router = APIRouter(prefix="/api/v1/areas/{code}/programmes", tags=["schedules"])


def _public(p: BroadcastProgramme, runtime: HubRuntime) -> ProgrammePublic:
    return ProgrammePublic(
        id=p.id,
        name=p.name,
        title=p.title,
        text=p.text,
        audio_id=p.audio_id,
        zone_ids=p.zone_ids,
        priority=p.priority,
        recurrence=p.recurrence,
        at=p.at,
        on_date=p.on_date,
        weekdays=sorted(weekdays_from_mask(p.weekdays)),
        day_of_month=p.day_of_month,
        cron=p.cron,
        misfire=p.misfire,
        grace_s=p.grace_s,
        enabled=p.enabled,
        next_run=runtime.schedules.next_run(p.id, "programme"),
        updated_at=p.updated_at,
    )


def _get(session: Session, area: Area, programme_id: int) -> BroadcastProgramme:
    p = session.get(BroadcastProgramme, programme_id)
    if p is None or p.area_id != area.id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "programme_not_found",
            f"no programme {programme_id} in area {area.code!r}",
            programme_id=programme_id,
        )
    return p


def _apply(session: Session, area: Area, p: BroadcastProgramme, data: dict[str, Any]) -> None:
    """Set fields and check the result is a programme that can be scheduled and played."""
    if "weekdays" in data:
        data["weekdays"] = mask_from_weekdays(data["weekdays"])
    for key, value in data.items():
        setattr(p, key, value)
    if (p.text is None) == (p.audio_id is None):
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "text_or_audio", "give either 'text' or 'audio_id'"
        )
    if p.audio_id is not None:
        asset = session.get(AudioAsset, p.audio_id)
        if asset is None or asset.area_id != area.id:
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "audio_not_found",
                f"no audio {p.audio_id!r} in this area",
            )
    if p.zone_ids:
        found = set(session.scalars(select(Zone.id).where(Zone.area_id == area.id, Zone.id.in_(p.zone_ids))))
        if missing := sorted(set(p.zone_ids) - found):
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "zone_not_found",
                f"no zone {missing} in this area",
                zone_id=", ".join(map(str, missing)),
            )
    try:
        trigger_for(p, area.timezone)
    except ProgrammeError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "programme_invalid", str(exc)) from None


@router.get("")
def list_programmes(
    area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep, runtime: RuntimeDep
) -> Page[ProgrammePublic]:
    query = select(BroadcastProgramme).where(BroadcastProgramme.area_id == area.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(BroadcastProgramme.id).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[_public(p, runtime) for p in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_programme(
    body: ProgrammeCreate, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> ProgrammePublic:
    """E.g. every morning at 6:00: ``{"recurrence": "daily", "at": "06:00", "text": …}``."""
    p = BroadcastProgramme(area_id=area.id, created_by=user.id)
    _apply(session, area, p, body.model_dump(mode="python"))
    session.add(p)
    session.flush()
    save_schedule_edit(
        session,
        runtime,
        user,
        area,
        "programme.create",
        f"programme:{p.id}",
        body.model_dump(mode="json", exclude={"text"}),
    )
    return _public(p, runtime)


@router.get("/{programme_id}")
def get_programme(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, programme_id: int
) -> ProgrammePublic:
    return _public(_get(session, area, programme_id), runtime)


@router.patch("/{programme_id}")
def update_programme(
    body: ProgrammeUpdate,
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    runtime: RuntimeDep,
    programme_id: int,
) -> ProgrammePublic:
    """Edit or pause (``enabled: false``); the job is replaced at once, never duplicated."""
    p = _get(session, area, programme_id)
    _apply(session, area, p, body.model_dump(mode="python", exclude_unset=True))
    save_schedule_edit(
        session,
        runtime,
        user,
        area,
        "programme.update",
        f"programme:{p.id}",
        body.model_dump(mode="json", exclude_unset=True, exclude={"text"}),
    )
    return _public(p, runtime)


@router.delete("/{programme_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_programme(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep, programme_id: int
) -> Response:
    p = _get(session, area, programme_id)
    session.delete(p)
    save_schedule_edit(
        session, runtime, user, area, "programme.delete", f"programme:{programme_id}", {"name": p.name}
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
