"""An APScheduler trigger that fires at each step of a lighting timetable (clock or sun based)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from schedules.timetable import Timetable, next_occurrence


class TimetableTrigger(BaseTrigger):  # type: ignore[misc]
    """Pickled into the job store with the timetable it was built from.

    Fires ``lead`` before each step, so the step can be worked out ahead and sent at its
    instant (``ScheduleEngine.fire_lighting`` waits for it).
    """

    __slots__ = ("lead", "timetable")

    def __init__(self, timetable: Timetable, lead: timedelta = timedelta(0)) -> None:
        self.timetable = timetable
        self.lead = lead

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        # A step less than ``lead`` away is still ahead: its firing time is past, so
        # APScheduler runs it at once, and the engine waits for the instant.
        after = previous_fire_time + self.lead if previous_fire_time is not None else now
        occurrence = next_occurrence(self.timetable, after)
        return occurrence.at - self.lead if occurrence else None

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 2, "timetable": self.timetable, "lead_s": self.lead.total_seconds()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.timetable = state["timetable"]
        self.lead = timedelta(seconds=state.get("lead_s", 0.0))

    def __str__(self) -> str:
        return f"timetable[{self.timetable.id}]"
