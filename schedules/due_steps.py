"""The lighting steps due now, worked out for many timetables at once, and their run records.

Timetables of every zone often share their step times ("on at 18:00"): APScheduler then
fires their jobs together, and firing each alone (its own reads, its own transaction, its
own publishes, all in parallel threads) made them queue on SQLite's one writer and on the
GIL, so the last zone switched hundreds of milliseconds after the first. The engine fires
every step due at that instant in one pass: one read here, one transaction for the run
records and the commands, one publishing loop.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.broadcasts.models import EmergencyState
from hub.commands.service import Target
from hub.models import Area, Device, DeviceStatus, LightingTimetableRow, ScheduleRun, as_utc
from schedules.desired import timetable_of
from schedules.timetable import Occurrence, last_occurrence

_runs = cast(Table, ScheduleRun.__table__)


@dataclass(frozen=True, slots=True)
class DueStep:
    """One timetable's step due now, with the lights it switches (id, device_id, online)."""

    row: LightingTimetableRow
    area: Area
    occ: Occurrence
    targets: Sequence[Target]  # rows of (id, device_id, online, area_id, zone_id)
    outcome: str  # done, late or suppressed (emergency mode holds the lights at full)
    detail: str

    @property
    def params(self) -> dict[str, object]:
        params: dict[str, object] = {"on": self.occ.step.action.on}
        if self.occ.step.action.level is not None:
            params["level"] = self.occ.step.action.level
        return params


# Steps of other timetables fired along with a job's own: only those due this recently
# (within the tightest misfire grace, 1 s), so no skip-policy step is ever run late.
ALONG_WINDOW = timedelta(seconds=1)


def due_steps(
    session: Session,
    timetable_ids: Collection[int],
    now: datetime,
    late_after: timedelta,
    swept: Collection[datetime] = (),
) -> tuple[list[DueStep], set[datetime]]:
    """What the timetables say should happen now, and the instants swept for others.

    Besides the given timetables (whose jobs fired), every other enabled timetable with a
    step at the same instant, due within ``ALONG_WINDOW``, is included unless that instant
    is in ``swept`` already: APScheduler submits simultaneous jobs one by one, updating
    each in its job store in between, so waiting for their own jobs added tens of
    milliseconds per zone. Their own jobs then find the step recorded and do nothing.
    Timetables gone, or with no step yet, are left out.
    """
    own = _with_steps(session, LightingTimetableRow.id.in_(timetable_ids), now)
    instants = {occ.at for _, _, occ in own if now - occ.at <= ALONG_WINDOW} - set(swept)
    along = []
    if instants:
        others = _with_steps(
            session,
            and_(LightingTimetableRow.enabled.is_(True), LightingTimetableRow.id.not_in(timetable_ids)),
            now,
        )
        # A timetable created or changed after the instant never had that step scheduled.
        along = [p for p in others if p[2].at in instants and as_utc(p[0].updated_at) <= p[2].at]
    due = own + along
    if not due:
        return [], instants
    area_ids = {area.id for _, area, _ in due}
    lights = session.execute(
        select(Device.id, Device.device_id, Device.online, Device.area_id, Device.zone_id).where(
            Device.area_id.in_(area_ids), Device.kind == "light", Device.status == DeviceStatus.ACTIVE.value
        )
    ).all()
    in_emergency = set(
        session.scalars(
            select(EmergencyState.area_id).where(
                EmergencyState.area_id.in_(area_ids), EmergencyState.ended_at.is_(None)
            )
        )
    )
    out = []
    for row, area, occ in due:
        targets = [
            light
            for light in lights
            if light.area_id == area.id and (row.zone_id is None or light.zone_id == row.zone_id)
        ]
        suppressed = area.id in in_emergency
        outcome = "suppressed" if suppressed else "late" if now - occ.at > late_after else "done"
        detail = f"{occ.step.describe()}: {'on' if occ.step.action.on else 'off'}"
        if occ.step.action.level is not None:
            detail += f" {occ.step.action.level}%"
        out.append(DueStep(row, area, occ, targets, outcome, f"{detail} to {len(targets)} light(s)"))
    return out, instants


def _with_steps(
    session: Session, where: ColumnElement[bool], now: datetime
) -> list[tuple[LightingTimetableRow, Area, Occurrence]]:
    """Timetables (with their area) and their latest step at or before now."""
    found = session.execute(
        select(LightingTimetableRow, Area)
        .join(Area, Area.id == LightingTimetableRow.area_id)
        .where(where)
        .order_by(LightingTimetableRow.id)
    ).all()
    # APScheduler never fires early, so a job's due step is the latest one at or before now.
    plans = [(row, area, last_occurrence(timetable_of(row, area), now)) for row, area in found]
    return [(row, area, occ) for row, area, occ in plans if occ is not None]


def record_runs(session: Session, steps: Sequence[DueStep], ran: datetime) -> set[int]:
    """Insert a run record per step; the ids of the timetables whose record is new.

    The unique key (kind, timetable, planned instant) keeps a firing from running twice; a
    step already recorded (a retry, another hub before a lease change) is skipped here
    without aborting the others' transaction.
    """
    if not steps:
        return set()
    values = [
        {
            "schedule_kind": "lighting",
            "schedule_id": s.row.id,
            "area_id": s.area.id,
            "planned_at": s.occ.at,
            "ran_at": ran,
            "outcome": s.outcome,
            "detail": s.detail[:400],
        }
        for s in steps
    ]
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(_runs).on_conflict_do_nothing()
    elif dialect == "postgresql":
        stmt = postgresql.insert(_runs).on_conflict_do_nothing()
    else:  # no portable "skip duplicates": a duplicate fails the whole batch, as it should
        stmt = insert(_runs)
    return set(session.scalars(stmt.values(values).returning(_runs.c.schedule_id)))
