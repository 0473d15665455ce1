"""Broadcast programmes as APScheduler jobs (``programme-<id>``), derived from their table."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcasts.models import BroadcastProgramme
from hub.models import Area, ScheduleRun, as_utc
from schedules import jobs
from schedules.programmes import ProgrammeError, planned_time, trigger_for

log = logging.getLogger(__name__)


def _version(p: BroadcastProgramme, area: Area) -> str:
    return f"programme {p.id} v{as_utc(p.updated_at).isoformat()} {area.timezone}"


def reconcile_programmes(scheduler: Any, sessions: sessionmaker[Session]) -> set[str]:
    """Add or replace the job of every enabled programme; returns the job ids that should exist."""
    with sessions() as session:
        rows = session.execute(
            select(BroadcastProgramme, Area)
            .join(Area, Area.id == BroadcastProgramme.area_id)
            .where(BroadcastProgramme.enabled.is_(True))
        ).all()
    wanted: set[str] = set()
    now = datetime.now(UTC)
    for p, area in rows:
        jid = f"programme-{p.id}"
        existing = scheduler.get_job(jid)
        if existing is not None and existing.name == _version(p, area):
            wanted.add(jid)
            continue
        try:
            trigger = trigger_for(p, area.timezone)
        except ProgrammeError as exc:
            log.error("programme %s cannot be scheduled: %s", p.id, exc)
            continue
        grace = p.grace_s if p.misfire == "run_late" else 1
        if isinstance(trigger, DateTrigger) and (
            trigger.run_date + timedelta(seconds=grace) < now or _ran(sessions, p.id, trigger.run_date)
        ):
            # A one-off that is over (its grace window passed, or its firing was recorded):
            # the scheduler dropped its job after running it or finding it missed. Added again
            # it would be submitted on every pass, and run or found missed each time; a job
            # still stored (the hub was down at its time) is left for the scheduler to record.
            if existing is not None:
                wanted.add(jid)
            continue
        wanted.add(jid)
        scheduler.add_job(
            jobs.fire_programme,
            trigger=trigger,
            args=[p.id],
            id=jid,
            name=_version(p, area),
            replace_existing=True,
            misfire_grace_time=grace,
        )
    return wanted


def _ran(sessions: sessionmaker[Session], programme_id: int, planned: datetime) -> bool:
    """Whether this firing of the programme is recorded (run, late, or missed)."""
    if planned > datetime.now(UTC):
        return False  # still to come: nothing to look up on every pass
    with sessions() as session:
        found = session.scalar(
            select(ScheduleRun.id).where(
                ScheduleRun.schedule_kind == "programme",
                ScheduleRun.schedule_id == programme_id,
                # Bound as it was stored (SQLite keeps the wall time of the zone it was given).
                ScheduleRun.planned_at == planned,
            )
        )
    return found is not None


def programme_due(
    sessions: sessionmaker[Session], programme_id: int, now: datetime
) -> tuple[BroadcastProgramme, Area, datetime] | None:
    """The programme, its area and the planned time of the firing due now."""
    with sessions() as session:
        found = session.execute(
            select(BroadcastProgramme, Area)
            .join(Area, Area.id == BroadcastProgramme.area_id)
            .where(BroadcastProgramme.id == programme_id)
        ).first()
    if found is None:
        return None
    p, area = found
    lookback = timedelta(seconds=p.grace_s + 60)
    planned = planned_time(trigger_for(p, area.timezone), now, lookback) or now
    return p, area, planned
