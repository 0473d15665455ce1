"""What every light should be doing now: its timetable's latest step, unless a person changed it since."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.broadcasts.models import EmergencyState
from hub.models import (
    Area,
    CommandRow,
    CommandStatus,
    Device,
    DeviceStatus,
    LightingTimetableRow,
    as_utc,
)
from schedules.convert import to_timetable
from schedules.sun import Place
from schedules.timetable import LightAction, Occurrence, Timetable, last_occurrence

# A manual order sets the desired state when it is issued, not when it is confirmed: one lost
# in a broker crash (timed out) still stands, and is carried out when the light comes back. It
# stops counting only when the light refused it (failed) or its time to live passed before the
# light came back (expired). A superseded one was overtaken by a later order, which is newer
# anyway, or re-applied by a restore of this very state.
_LIVE = (
    CommandStatus.CONFIRMED.value,
    CommandStatus.SENT.value,
    CommandStatus.QUEUED.value,
    CommandStatus.TIMED_OUT.value,
    CommandStatus.SUPERSEDED.value,
)


MANUAL, LOCAL = "manual", "local"
ADOPT, HUB_WINS = "adopt", "hub_wins"  # values of ``Area.local_changes``


@dataclass(frozen=True, slots=True)
class Desired:
    device_id: str
    on: bool
    level: int | None
    source: str  # "timetable", "manual", "local" (changed at the light) or "emergency"
    since: datetime
    timetable_id: int | None = None


def place_of(area: Area) -> Place:
    return Place(area.latitude, area.longitude, area.timezone)


def timetable_of(row: LightingTimetableRow, area: Area) -> Timetable:
    return to_timetable(
        row.id, place_of(area), row.steps, row.weekdays, row.valid_from, row.valid_until, row.exceptions or {}
    )


def desired_lights(session: Session, area: Area, now: datetime) -> dict[str, Desired]:
    """Desired state of each active light that some timetable or manual order covers."""
    emergency = session.scalar(
        select(EmergencyState.started_at).where(
            EmergencyState.area_id == area.id, EmergencyState.ended_at.is_(None)
        )
    )
    rows = session.scalars(
        select(LightingTimetableRow)
        .where(LightingTimetableRow.area_id == area.id, LightingTimetableRow.enabled.is_(True))
        .order_by(LightingTimetableRow.id)
    ).all()
    latest: dict[int | None, tuple[Occurrence, int]] = {}  # zone (None = area) -> latest step
    for row in rows:
        occ = last_occurrence(timetable_of(row, area), now)
        if occ is not None and (row.zone_id not in latest or occ.at > latest[row.zone_id][0].at):
            latest[row.zone_id] = (occ, row.id)
    lights = session.execute(
        select(Device.id, Device.device_id, Device.zone_id).where(
            Device.area_id == area.id, Device.kind == "light", Device.status == DeviceStatus.ACTIVE.value
        )
    ).all()
    manual = _latest_manual(session, area)
    out: dict[str, Desired] = {}
    for pk, device_id, zone_id in lights:
        if emergency is not None:  # emergency mode: every light at full until it ends
            out[device_id] = Desired(device_id, True, 100, "emergency", as_utc(emergency))
            continue
        step = latest.get(zone_id) or latest.get(None)  # a zone's own timetable comes first
        order = manual.get(pk)
        if order is not None and (step is None or as_utc(order.created_at) > step[0].at):
            # A manual order, or a change made at the light, holds until the next timetable step.
            action = _action_of(order)
            out[device_id] = Desired(
                device_id, action.on, action.level, order.source, as_utc(order.created_at)
            )
        elif step is not None:
            act = step[0].step.action
            out[device_id] = Desired(device_id, act.on, act.level, "timetable", step[0].at, step[1])
    return out


def corrections(
    session: Session, area: Area, desired: dict[str, Desired]
) -> list[tuple[list[Device], dict[str, object]]]:
    """The online lights of ``area`` whose reported state differs from ``desired``, grouped by
    the ``light.set`` parameters that put them right.

    A command still on its way does not count: a light that lost its state to a power cut
    ignores a command id it has already carried out when that command is sent again, so
    only a new command is sure to put it right. A manual order not yet confirmed is sent
    once more then (harmless: the same state, source ``restore``).
    """
    lights = session.scalars(
        select(Device).where(
            Device.area_id == area.id, Device.device_id.in_(list(desired)), Device.online.is_(True)
        )
    ).all()
    groups: dict[tuple[bool, int | None], list[Device]] = {}
    for light in lights:
        want = desired[light.device_id]
        state = light.state or {}
        if state.get("on") == want.on and (want.level is None or state.get("level") == want.level):
            continue
        groups.setdefault((want.on, want.level), []).append(light)
    out: list[tuple[list[Device], dict[str, object]]] = []
    for (on, level), devs in groups.items():
        params: dict[str, object] = {"on": on}
        if level is not None:
            params["level"] = level
        out.append((devs, params))
    return out


def _latest_manual(session: Session, area: Area) -> dict[int, CommandRow]:
    """Each light's most recent manual light command that may still be in force.

    A change made at the light itself is recorded as a ``local`` command (already confirmed);
    it counts as a manual order unless the area lets the hub win.
    """
    sources = [MANUAL] + ([LOCAL] if area.local_changes != HUB_WINS else [])
    mine = (
        CommandRow.area_id == area.id,
        CommandRow.action == "light.set",
        CommandRow.source.in_(sources),
        CommandRow.status.in_(_LIVE),
    )
    newest = (
        select(CommandRow.device_pk, func.max(CommandRow.created_at).label("at"))
        .where(*mine)
        .group_by(CommandRow.device_pk)
        .subquery()
    )
    rows = session.scalars(
        select(CommandRow)
        .join(newest, (newest.c.device_pk == CommandRow.device_pk) & (newest.c.at == CommandRow.created_at))
        .where(*mine)
    ).all()
    return {r.device_pk: r for r in rows}


def _action_of(order: CommandRow) -> LightAction:
    state = order.result_state or {}
    on = state.get("on", order.params.get("on", True))
    level = state.get("level", order.params.get("level"))
    return LightAction(bool(on), level if isinstance(level, int) else None)
