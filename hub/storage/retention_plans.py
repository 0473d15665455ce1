"""Which tables are purged, by which time column, and which of their rows are never purged.

The order matters: children before their parents, so a parent's delete cascades to (almost)
nothing, and incidents and outages before the notifications they point at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import ColumnElement, Table, exists, select

from hub.broadcasts.models import OPEN_ANNOUNCEMENT, Announcement, SpeakerDelivery
from hub.models import OPEN_COMMAND_STATUSES, AuditEntry, CommandRow, DeviceEventRow, ScheduleRun
from hub.notifications.models import (
    OPEN_DELIVERY_STATUSES,
    CameraOutage,
    Delivery,
    Incident,
    Notification,
)

Keep = Callable[[Table], ColumnElement[bool]]


def table_of(model: type[object]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Plan:
    """One table's purge.

    ``walk``: "id" when the integer id grows with ``time`` (rows are written as they happen):
    the purge walks the primary key from the start and stops at the first newer row, so it
    never scans the rows it keeps. "area" when the id says nothing of time (text ids) or the
    time is planned rather than written: the purge walks the (area_id, time) index of each area.
    """

    table: Table
    setting: str  # the Settings field holding the days
    time: str
    walk: Literal["id", "area"]
    keep: Keep | None = None  # rows kept whatever their age
    child: tuple[Table, str] | None = None  # (table, column pointing here), deleted first


def _open_command(t: Table) -> ColumnElement[bool]:
    return t.c.status.in_(OPEN_COMMAND_STATUSES)


def _open_delivery(t: Table) -> ColumnElement[bool]:
    return t.c.status.in_(OPEN_DELIVERY_STATUSES)


def _not_ended(t: Table) -> ColumnElement[bool]:
    return t.c.ended_at.is_(None)


def _open_announcement(t: Table) -> ColumnElement[bool]:
    return t.c.status.in_([s.value for s in OPEN_ANNOUNCEMENT])


def _undelivered(t: Table) -> ColumnElement[bool]:
    # A notification whose delivery is still due stays until that delivery is done.
    d = table_of(Delivery)
    return exists(select(d.c.id).where(d.c.notification_id == t.c.id, d.c.status.in_(OPEN_DELIVERY_STATUSES)))


def _outage_of_open_incident(t: Table) -> ColumnElement[bool]:
    # An ended outage of a still open incident stays: the incident's recovery counts it.
    i = table_of(Incident)
    return exists(select(i.c.id).where(i.c.id == t.c.incident_id, i.c.ended_at.is_(None)))


def _outage_keep(t: Table) -> ColumnElement[bool]:
    return _not_ended(t) | _outage_of_open_incident(t)


PLANS: tuple[Plan, ...] = (
    Plan(table_of(DeviceEventRow), "retention_events_days", "received_at", "id"),
    Plan(table_of(CommandRow), "retention_commands_days", "created_at", "area", _open_command),
    Plan(table_of(ScheduleRun), "retention_schedule_runs_days", "planned_at", "area"),
    Plan(table_of(Delivery), "retention_notifications_days", "created_at", "id", _open_delivery),
    Plan(table_of(CameraOutage), "retention_outages_days", "started_at", "id", _outage_keep),
    Plan(table_of(Incident), "retention_outages_days", "started_at", "id", _not_ended),
    Plan(table_of(Notification), "retention_notifications_days", "created_at", "id", _undelivered),
    Plan(
        table_of(Announcement),
        "retention_broadcasts_days",
        "created_at",
        "area",
        _open_announcement,
        child=(table_of(SpeakerDelivery), "announcement_id"),
    ),
    Plan(table_of(AuditEntry), "retention_audit_days", "at", "id"),
)
