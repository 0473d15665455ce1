"""Triggers of broadcast programmes (APScheduler's own Date and Cron triggers in the area's zone)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from hub.broadcasts.models import BroadcastProgramme

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ProgrammeError(ValueError):
    pass


def trigger_for(p: BroadcastProgramme, timezone: str) -> Any:
    """The trigger of a programme; raises ``ProgrammeError`` with what is wrong."""
    tz = ZoneInfo(timezone)
    hour = minute = second = 0
    if p.recurrence != "cron":
        if not p.at:
            raise ProgrammeError("'at' (HH:MM) is required unless recurrence is cron")
        t = time.fromisoformat(p.at)
        hour, minute, second = t.hour, t.minute, t.second
    if p.recurrence == "once":
        if p.on_date is None:
            raise ProgrammeError("a one-off programme needs 'on_date'")
        return DateTrigger(run_date=datetime.combine(p.on_date, time(hour, minute, second), tz))
    if p.recurrence == "daily":
        return CronTrigger(hour=hour, minute=minute, second=second, timezone=tz)
    if p.recurrence == "weekly":
        days = ",".join(DAY_NAMES[d] for d in range(7) if p.weekdays & (1 << d))
        if not days:
            raise ProgrammeError("a weekly programme needs at least one weekday")
        return CronTrigger(day_of_week=days, hour=hour, minute=minute, second=second, timezone=tz)
    if p.recurrence == "monthly":
        if not p.day_of_month:
            raise ProgrammeError("a monthly programme needs 'day_of_month'")
        return CronTrigger(day=p.day_of_month, hour=hour, minute=minute, second=second, timezone=tz)
    if p.recurrence == "cron":
        try:
            return CronTrigger.from_crontab(p.cron or "", timezone=tz)
        except ValueError as exc:
            raise ProgrammeError(f"invalid cron expression {p.cron!r}: {exc}") from None
    raise ProgrammeError(f"unknown recurrence {p.recurrence!r}")


def fire_times(trigger: Any, start: datetime, end: datetime, limit: int = 500) -> list[datetime]:
    """Fire times with ``start < t <= end``."""
    out: list[datetime] = []
    prev = None
    nxt = trigger.get_next_fire_time(None, start)
    while nxt is not None and nxt <= end and len(out) < limit:
        if nxt > start:
            out.append(nxt)
        prev = nxt
        nxt = trigger.get_next_fire_time(prev, prev + timedelta(microseconds=1))
    return out


def planned_time(trigger: Any, now: datetime, lookback: timedelta) -> datetime | None:
    """The firing that is due now: the latest fire time at or before ``now``."""
    times = fire_times(trigger, now - lookback, now)
    return times[-1] if times else None
