"""What the schedules will do next (with real sunset times), what they did, and desired light states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.api.deps import AreaDep, Controller, PagingDep, SessionDep
from hub.api.schedule_schemas import DesiredLightPublic, PreviewItem, ScheduleRunPublic
from hub.api.schemas import Page
from hub.broadcasts.models import Announcement, AnnouncementStatus, BroadcastProgramme
from hub.models import Area, LightingTimetableRow, ScheduleRun, as_utc
from schedules.desired import desired_lights, timetable_of
from schedules.programmes import ProgrammeError, fire_times, trigger_for
from schedules.timetable import occurrences

router = APIRouter(prefix="/api/v1/areas/{code}", tags=["schedules"])


@router.get("/schedule/preview")
def preview(
    area: AreaDep,
    user: Controller,
    session: SessionDep,
    hours: Annotated[int, Query(ge=1, le=24 * 14)] = 24,
    zone_id: int | None = None,
) -> list[PreviewItem]:
    """Every lighting step, programme and one-off announcement due in the next ``hours``, local time."""
    now = datetime.now(UTC)
    query = select(LightingTimetableRow).where(
        LightingTimetableRow.area_id == area.id, LightingTimetableRow.enabled.is_(True)
    )
    if zone_id is not None:
        # A zone is lit by its own timetables and by the area-wide ones.
        query = query.where(
            (LightingTimetableRow.zone_id == zone_id) | LightingTimetableRow.zone_id.is_(None)
        )
    items: list[PreviewItem] = []
    for row in session.scalars(query):
        tt = timetable_of(row, area)
        for occ in occurrences(tt, now, now + timedelta(hours=hours)):
            act = occ.step.action
            items.append(
                PreviewItem(
                    at=occ.at,
                    local_time=occ.at.astimezone(tt.place.tz).isoformat(timespec="minutes"),
                    kind="lighting",
                    schedule_id=row.id,
                    schedule_name=row.name,
                    zone_id=row.zone_id,
                    step=occ.step.describe(),
                    action=("on" + (f" {act.level}%" if act.level is not None else "")) if act.on else "off",
                    sun_event_at=occ.sun_at.isoformat(timespec="minutes") if occ.sun_at else None,
                )
            )
    programmes = session.scalars(
        select(BroadcastProgramme).where(
            BroadcastProgramme.area_id == area.id, BroadcastProgramme.enabled.is_(True)
        )
    )
    for p in programmes:
        if zone_id is not None and p.zone_ids is not None and zone_id not in p.zone_ids:
            continue
        try:
            trigger = trigger_for(p, area.timezone)
        except ProgrammeError:
            continue  # shown as not schedulable by the programmes API
        for at in fire_times(trigger, now, now + timedelta(hours=hours)):
            items.append(
                PreviewItem(
                    at=at,
                    local_time=at.astimezone(ZoneInfo(area.timezone)).isoformat(timespec="minutes"),
                    kind="broadcast",
                    schedule_id=p.id,
                    schedule_name=p.name,
                    zone_id=None,
                    step=p.recurrence if p.recurrence != "cron" else f"cron {p.cron}",
                    action=f"broadcast {p.title!r} ({p.priority})",
                )
            )
    items += _announcements(session, area, now, now + timedelta(hours=hours), zone_id)
    items.sort(key=lambda i: i.at)
    return items


def _announcements(
    session: Session, area: Area, since: datetime, until: datetime, zone_id: int | None
) -> list[PreviewItem]:
    """One-off announcements set for later: the head reads them beside the schedules' steps."""
    rows = session.scalars(
        select(Announcement)
        .where(
            Announcement.area_id == area.id,
            Announcement.status == AnnouncementStatus.SCHEDULED.value,
            Announcement.not_before >= since,
            Announcement.not_before < until,
        )
        .order_by(Announcement.not_before)
    )
    tz = ZoneInfo(area.timezone)
    items = []
    for ann in rows:
        if zone_id is not None and ann.zone_ids is not None and zone_id not in ann.zone_ids:
            continue
        at = as_utc(ann.not_before)
        items.append(
            PreviewItem(
                at=at,
                local_time=at.astimezone(tz).isoformat(timespec="minutes"),
                kind="announcement",
                schedule_id=None,
                schedule_name=ann.title,
                zone_id=None,
                zone_ids=ann.zone_ids,
                step="once",
                action=f"broadcast {ann.title!r} ({ann.priority})",
                announcement_id=ann.id,
            )
        )
    return items


@router.get("/schedule/runs")
def runs(
    area: AreaDep, user: Controller, session: SessionDep, paging: PagingDep, outcome: str | None = None
) -> Page[ScheduleRunPublic]:
    """Schedule firings, newest first; ``outcome=missed`` lists what the hub missed while down."""
    query = select(ScheduleRun).where(ScheduleRun.area_id == area.id)
    if outcome:
        query = query.where(ScheduleRun.outcome == outcome)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(ScheduleRun.planned_at.desc()).limit(paging.limit).offset(paging.offset)
    )
    return Page(
        items=[ScheduleRunPublic.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/lights/desired")
def desired(area: AreaDep, user: Controller, session: SessionDep) -> list[DesiredLightPublic]:
    """What each light should be doing now: the latest timetable step, or a manual order made since."""
    wanted = desired_lights(session, area, datetime.now(UTC))
    return [
        DesiredLightPublic(
            device_id=d.device_id,
            on=d.on,
            level=d.level,
            source=d.source,
            since=d.since,
            timetable_id=d.timetable_id,
        )
        for d in sorted(wanted.values(), key=lambda d: d.device_id)
    ]
